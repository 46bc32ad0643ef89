// Package nixbuild implements the Nix side of the builder contract: finding
// the structured attributes (.attrs.json) that Nix hands a derivation's
// builder, reading the outputs and the exportReferencesGraph closures from
// them, and the build environment's settings.
package nixbuild

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// AttrsFile is the name of the structured attributes file in the build
// directory.
const AttrsFile = ".attrs.json"

// FindAttrs returns the path of .attrs.json: $NIX_ATTRS_JSON_FILE when that
// file exists, else $NIX_BUILD_TOP/.attrs.json, else ./.attrs.json. Nix 2.4
// to 2.14 set NIX_ATTRS_JSON_FILE to a host path that does not exist inside
// the sandbox, hence the fallbacks; Nix 2.3 does not set it at all.
func FindAttrs(getenv func(string) string) (string, error) {
	var tried []string
	if p := getenv("NIX_ATTRS_JSON_FILE"); p != "" {
		tried = append(tried, p)
		if isFile(p) {
			return p, nil
		}
	}
	if top := getenv("NIX_BUILD_TOP"); top != "" {
		p := filepath.Join(top, AttrsFile)
		tried = append(tried, p)
		if isFile(p) {
			return p, nil
		}
	}
	p := "./" + AttrsFile
	tried = append(tried, p)
	if isFile(p) {
		return p, nil
	}
	return "", fmt.Errorf("no %s found (tried %v): oci-builder must be the builder of a derivation with __structuredAttrs = true", AttrsFile, tried)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Attrs are a derivation's structured attributes.
type Attrs struct {
	raw map[string]json.RawMessage
}

// ReadAttrs reads and parses the structured attributes file at p.
func ReadAttrs(p string) (*Attrs, error) {
	data, err := readlimit.File(p, "a structured attributes file", readlimit.Graph)
	if err != nil {
		return nil, fmt.Errorf("read structured attributes: %w", err)
	}
	return ParseAttrs(data)
}

// ParseAttrs parses structured attributes, which must be a JSON object.
func ParseAttrs(data []byte) (*Attrs, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		if err == nil {
			err = errors.New("not a JSON object")
		}
		return nil, fmt.Errorf("parse %s: %w", AttrsFile, err)
	}
	return &Attrs{raw: raw}, nil
}

// Raw returns the JSON of the attribute name, if present.
func (a *Attrs) Raw(name string) (json.RawMessage, bool) {
	v, ok := a.raw[name]
	if ok && bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, false
	}
	return v, ok
}

// String returns the string attribute name, or "" when it is absent.
func (a *Attrs) String(name string) (string, error) {
	v, ok := a.Raw(name)
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s attribute %q: not a string", AttrsFile, name)
	}
	return s, nil
}

// Output returns the path where the builder must write the output name.
// Under structured attributes there is no $out: outputs come from the
// "outputs" object.
func (a *Attrs) Output(name string) (string, error) {
	outputs, err := a.Outputs()
	if err != nil {
		return "", err
	}
	p, ok := outputs[name]
	if !ok || p == "" {
		return "", fmt.Errorf("%s: no output %q", AttrsFile, name)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s: output %q is not an absolute path: %q", AttrsFile, name, p)
	}
	return p, nil
}

// Outputs returns the "outputs" object: each output's path, by name.
func (a *Attrs) Outputs() (map[string]string, error) {
	v, ok := a.Raw("outputs")
	if !ok {
		return nil, fmt.Errorf("%s has no \"outputs\"", AttrsFile)
	}
	var outputs map[string]string
	if err := json.Unmarshal(v, &outputs); err != nil {
		return nil, fmt.Errorf("%s: \"outputs\" is not an object of strings", AttrsFile)
	}
	return outputs, nil
}

// exportKeys reads exportReferencesGraph: its keys' values and the keys,
// sorted.
func (a *Attrs) exportKeys() (map[string]json.RawMessage, []string, error) {
	v, ok := a.Raw("exportReferencesGraph")
	if !ok {
		return nil, nil, fmt.Errorf("%s has no \"exportReferencesGraph\"", AttrsFile)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(v, &keys); err != nil {
		return nil, nil, fmt.Errorf("%s: \"exportReferencesGraph\" is not an object", AttrsFile)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	return keys, names, nil
}

// GraphAttr is the attribute that gives a derivation its closure graph
// as a file instead of exportReferencesGraph: {"file": F, "roots": [...]},
// F a store path holding the graph in any format store.Parse reads (the
// JSON output of a graph helper derivation given Nix's text export, which
// is much cheaper than the structured one), roots the store paths it is
// the closure of.
const GraphAttr = "closureGraph"

// graphFile is what GraphAttr holds.
type graphFile struct {
	File  string   `json:"file"`
	Roots []string `json:"roots"`
}

// graphFile reads GraphAttr, if there is no exportReferencesGraph; ok is
// false when there is one.
func (a *Attrs) graphFile() (f graphFile, ok bool, err error) {
	if _, export := a.Raw("exportReferencesGraph"); export {
		return f, false, nil
	}
	raw, has := a.Raw(GraphAttr)
	if !has {
		return f, false, fmt.Errorf("%s has neither \"exportReferencesGraph\" nor %q: use nix/oci-tools.nix to make the derivation", AttrsFile, GraphAttr)
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.File == "" || f.Roots == nil {
		return f, false, fmt.Errorf("%s: %q is not an object with \"file\" (a store path) and \"roots\" (a list of store paths)", AttrsFile, GraphAttr)
	}
	return f, true, nil
}

// Graph returns the closure graph of the derivation: the union of the
// graphs that exportReferencesGraph asked for or, without it, the graph
// file GraphAttr names, with storeDir as the store directory (inferred from
// the graph when empty).
func (a *Attrs) Graph(storeDir string) (*store.Graph, error) {
	if f, ok, err := a.graphFile(); err != nil {
		return nil, err
	} else if ok {
		return store.ReadFile(f.File, storeDir)
	}
	_, names, err := a.exportKeys()
	if err != nil {
		return nil, err
	}
	graphs := make([]*store.Graph, 0, len(names))
	for _, k := range names {
		data, ok := a.Raw(k)
		if !ok {
			return nil, fmt.Errorf("%s: no closure graph under %q", AttrsFile, k)
		}
		g, err := store.ParseJSON(data, storeDir)
		if err != nil {
			return nil, fmt.Errorf("%s key %q: %w", AttrsFile, k, err)
		}
		graphs = append(graphs, g)
	}
	// One graph (what the Nix library exports) is the closure graph
	// already, checked; Merge returns it as it is.
	return store.Merge(graphs, storeDir)
}

// GraphRoots returns the store paths exportReferencesGraph asked Nix to
// export the closures of (a list of paths or one path under each key), in
// the order of the keys and without duplicates, or those GraphAttr names:
// the closure graph is theirs. A sub-path (which Nix 2.22 and later accept)
// stands for its store path.
func (a *Attrs) GraphRoots(storeDir string) ([]string, error) {
	f, ok, err := a.graphFile()
	if err != nil {
		return nil, err
	}
	if ok {
		return storePaths(f.Roots, storeDir, map[string]bool{}, nil), nil
	}
	keys, names, err := a.exportKeys()
	if err != nil {
		return nil, err
	}
	var roots []string
	seen := map[string]bool{}
	for _, k := range names {
		var paths []string
		if err := json.Unmarshal(keys[k], &paths); err != nil {
			var one string
			if json.Unmarshal(keys[k], &one) != nil {
				return nil, fmt.Errorf("%s: exportReferencesGraph.%s is not a list of store paths", AttrsFile, k)
			}
			paths = []string{one}
		}
		roots = storePaths(paths, storeDir, seen, roots)
	}
	return roots, nil
}

// storePaths appends to roots the store paths of paths (a sub-path stands
// for its store path) not yet seen.
func storePaths(paths []string, storeDir string, seen map[string]bool, roots []string) []string {
	for _, p := range paths {
		if rest, ok := strings.CutPrefix(p, storeDir+"/"); ok && storeDir != "" {
			if name, _, sub := strings.Cut(rest, "/"); sub {
				p = storeDir + "/" + name
			}
		}
		if !seen[p] {
			seen[p] = true
			roots = append(roots, p)
		}
	}
	return roots
}

// TextGraph reads the closure graphs that Nix exports to a derivation
// without structured attributes: exportReferencesGraph (from getenv) lists
// pairs of a file name and a store path, and Nix wrote the closure of each
// path to the file of that name in the build directory dir, in the text
// registration format. It returns their union.
func TextGraph(getenv func(string) string, dir string) (*store.Graph, error) {
	fields := strings.Fields(getenv("exportReferencesGraph"))
	if len(fields)%2 != 0 {
		return nil, fmt.Errorf("exportReferencesGraph=%q is not pairs of a file name and a store path", getenv("exportReferencesGraph"))
	}
	graphs := make([]*store.Graph, 0, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		name := fields[i]
		if name != filepath.Base(name) || strings.HasPrefix(name, ".") {
			return nil, fmt.Errorf("exportReferencesGraph: %q is not a file name", name)
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("closure graph of %s: %w", fields[i+1], err)
		}
		g, err := store.ParseRegistration(f, "")
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("closure graph of %s (%s): %w", fields[i+1], name, err)
		}
		graphs = append(graphs, g)
	}
	if len(graphs) == 0 {
		return store.NewGraph(nil, "")
	}
	return store.Merge(graphs, "")
}

// Cores returns the number of parallel jobs the build may use: the value of
// NIX_BUILD_CORES, where 0 (or nothing) means every CPU.
func Cores(getenv func(string) string) (int, error) {
	v := getenv("NIX_BUILD_CORES")
	if v == "" {
		return runtime.NumCPU(), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("NIX_BUILD_CORES=%q is not a non-negative number", v)
	}
	if n == 0 {
		return runtime.NumCPU(), nil
	}
	return n, nil
}
