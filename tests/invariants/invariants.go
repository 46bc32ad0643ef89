// Package invariants states what must hold of the values the builder
// computes from untrusted input, whatever that input was: closure graphs,
// closures, runtime configurations and bundle plans. The fuzz targets of
// several packages check every accepted input against them.
package invariants

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/schema"
	"github.com/oci-builder/oci-builder/pkg/specconv"
	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/validate"
)

// Graph checks a parsed closure graph: one clean absolute store directory
// (storeDir, when not empty), every path and reference a valid store path
// directly in it, paths listed sorted and unique, references sorted and
// without duplicates.
func Graph(g *store.Graph, storeDir string) error {
	paths := g.Paths()
	if len(paths) != g.Len() {
		return fmt.Errorf("Paths() has %d entries, Len() is %d", len(paths), g.Len())
	}
	dir := g.StoreDir()
	if storeDir != "" && dir != storeDir {
		return fmt.Errorf("store directory %q, asked for %q", dir, storeDir)
	}
	if len(paths) > 0 && (dir == "" || dir == "/" || dir[0] != '/' || path.Clean(dir) != dir) {
		return fmt.Errorf("store directory %q is not a clean absolute path", dir)
	}
	for i, p := range paths {
		if i > 0 && paths[i-1] >= p {
			return fmt.Errorf("paths not sorted and unique: %q then %q", paths[i-1], p)
		}
		if err := storePath(dir, p); err != nil {
			return err
		}
		info, ok := g.Lookup(p)
		if !ok || info.Path != p {
			return fmt.Errorf("Lookup(%q) = %v, %v", p, info, ok)
		}
		if info.Name() != path.Base(p)[33:] {
			return fmt.Errorf("Name() of %q is %q", p, info.Name())
		}
		for j, r := range info.References {
			if j > 0 && info.References[j-1] >= r {
				return fmt.Errorf("references of %s not sorted and unique: %q then %q", p, info.References[j-1], r)
			}
			if err := storePath(dir, r); err != nil {
				return fmt.Errorf("reference of %s: %w", p, err)
			}
		}
	}
	return nil
}

func storePath(dir, p string) error {
	if path.Dir(p) != dir || dir+"/"+path.Base(p) != p {
		return fmt.Errorf("store path %q is not directly in %q", p, dir)
	}
	if err := store.ValidateBaseName(path.Base(p)); err != nil {
		return fmt.Errorf("store path %q: %w", p, err)
	}
	if strings.ContainsAny(p, "\x00\n") {
		return fmt.Errorf("store path %q has a NUL or newline", p)
	}
	return nil
}

// Closure checks the result of g.Closure(roots): it fails exactly when a
// root is missing from g or a reachable path refers outside g, and
// otherwise holds the roots, is sorted, unique and closed under references.
func Closure(g *store.Graph, roots []string, closure []*store.PathInfo, err error) error {
	// Compute reachability independently, breadth-first.
	reach := map[string]bool{}
	var missing string
	queue := append([]string(nil), roots...)
	for _, r := range roots {
		if _, ok := g.Lookup(r); !ok && missing == "" {
			missing = r
		}
	}
	for len(queue) > 0 && missing == "" {
		p := queue[0]
		queue = queue[1:]
		if reach[p] {
			continue
		}
		reach[p] = true
		info, _ := g.Lookup(p)
		for _, r := range info.References {
			if _, ok := g.Lookup(r); !ok {
				missing = r
				break
			}
			queue = append(queue, r)
		}
	}
	if missing != "" {
		if err == nil {
			return fmt.Errorf("Closure(%q) succeeded although %s is not in the graph", roots, missing)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("Closure(%q) failed on a closed graph: %v", roots, err)
	}
	if len(closure) != len(reach) {
		return fmt.Errorf("Closure(%q) has %d paths, %d are reachable", roots, len(closure), len(reach))
	}
	for i, info := range closure {
		if i > 0 && closure[i-1].Path >= info.Path {
			return fmt.Errorf("closure not sorted and unique: %q then %q", closure[i-1].Path, info.Path)
		}
		if !reach[info.Path] {
			return fmt.Errorf("closure holds %s, which is not reachable", info.Path)
		}
	}
	return nil
}

// Config checks a runtime configuration made by specconv.Config(opts): its
// config.json is valid against the runtime-spec schema and decodes back to
// the same value, the process is opts.Args, the mount destinations are
// clean, absolute and unique, bind mounts have a source and a bind option,
// and the platform annotations are what container.Platform says.
func Config(v *schema.Validator, opts container.Options, spec *specs.Spec) error {
	data, err := specconv.MarshalConfig(spec)
	if err != nil {
		return err
	}
	if err := v.Validate(data); err != nil {
		return fmt.Errorf("%w\n%s", err, data)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config.json is not JSON: %v", err)
	}
	if where := FindNull(doc, ""); where != "" {
		return fmt.Errorf("config.json has a null at %s:\n%s", where, data)
	}
	var back specs.Spec
	if err := json.Unmarshal(data, &back); err != nil {
		return fmt.Errorf("config.json does not decode: %v", err)
	}
	if !reflect.DeepEqual(&back, spec) {
		return fmt.Errorf("config.json does not decode to the configuration written:\n%s", data)
	}
	if !reflect.DeepEqual(spec.Process.Args, opts.Args) {
		return fmt.Errorf("process args %q, options gave %q", spec.Process.Args, opts.Args)
	}
	seen := map[string]bool{}
	for _, m := range spec.Mounts {
		if clean, err := container.CheckDestination(m.Destination); err != nil || clean != m.Destination {
			return fmt.Errorf("mount destination %q: %q, %v", m.Destination, clean, err)
		}
		if seen[m.Destination] {
			return fmt.Errorf("mount destination %q twice", m.Destination)
		}
		seen[m.Destination] = true
		if m.Type == "none" || m.Type == "bind" || m.Type == "rbind" || contains(m.Options, "bind") || contains(m.Options, "rbind") {
			if m.Source == "" || !(contains(m.Options, "bind") || contains(m.Options, "rbind")) {
				return fmt.Errorf("bind mount %s without source or bind option: %+v", m.Destination, m)
			}
		}
		for _, o := range m.Options {
			if o == "" || strings.ContainsAny(o, ",\x00") {
				return fmt.Errorf("mount %s has option %q", m.Destination, o)
			}
		}
	}
	osName, arch, err := container.Platform(opts.OS, opts.Arch)
	if err != nil {
		return fmt.Errorf("Config accepted a platform Platform refuses: %v", err)
	}
	if spec.Annotations[specconv.AnnotationOS] != osName || spec.Annotations[specconv.AnnotationArch] != arch {
		return fmt.Errorf("annotations %v, platform %s/%s", spec.Annotations, osName, arch)
	}
	if spec.Root == nil || spec.Root.Path != specconv.RootfsDir || (!spec.Root.Readonly && len(opts.ExtraConfig) == 0) {
		return fmt.Errorf("root %+v", spec.Root)
	}
	return nil
}

// Plan checks a bundle plan made from g and opts: its configuration (as
// Config), its closure (closed, the closure of what the process mentions:
// container.Mentions), and its mountpoints (clean absolute destinations of
// the configuration's mounts, none inside a store path of the closure).
func Plan(v *schema.Validator, g *store.Graph, opts container.Options, plan *bundle.Plan) error {
	if err := Config(v, opts, plan.Spec); err != nil {
		return err
	}
	// The contract: a plan's configuration is one runc 1.1 accepts.
	if problems := validate.Spec(plan.Spec); len(problems) > 0 {
		return fmt.Errorf("plan made although validate.Spec refuses its config: %s", strings.Join(problems, "; "))
	}
	if !plan.Spec.Root.Readonly && len(opts.ExtraConfig) == 0 {
		return errors.New("plan with a writable root filesystem")
	}
	var roots []string
	for _, m := range container.Mentions(opts) {
		refs, err := g.FindReferences(m.Value)
		if err != nil {
			return fmt.Errorf("plan made although %s does not resolve: %v", m.Option, err)
		}
		roots = append(roots, refs...)
	}
	if err := Closure(g, roots, plan.Closure, nil); err != nil {
		return err
	}
	if plan.StoreDir != g.StoreDir() {
		return fmt.Errorf("plan store directory %q, graph's %q", plan.StoreDir, g.StoreDir())
	}
	dests := map[string]bool{}
	for _, m := range plan.Spec.Mounts {
		dests[m.Destination] = true
	}
	for _, mp := range plan.Mountpoints {
		if !dests[mp.Path] {
			return fmt.Errorf("mountpoint %s is no mount's destination", mp.Path)
		}
		for _, info := range plan.Closure {
			if mp.Path == info.Path || strings.HasPrefix(mp.Path, info.Path+"/") {
				return fmt.Errorf("mountpoint %s is inside store path %s", mp.Path, info.Path)
			}
		}
	}
	return nil
}

// FindReferences checks g.FindReferences(s): every path found is in g and
// mentioned in s, found once, in order of first mention; an error names a
// store path s mentions.
func FindReferences(g *store.Graph, s string, found []string, err error) error {
	if err != nil {
		if !strings.Contains(err.Error(), "is not in the closure graph") {
			return fmt.Errorf("FindReferences error %q", err)
		}
		return nil
	}
	last := -1
	seen := map[string]bool{}
	for _, p := range found {
		if _, ok := g.Lookup(p); !ok {
			return fmt.Errorf("FindReferences found %s, not in the graph", p)
		}
		if seen[p] {
			return fmt.Errorf("FindReferences found %s twice", p)
		}
		seen[p] = true
		i := strings.Index(s, p)
		if i < 0 {
			return fmt.Errorf("FindReferences found %s, not in %q", p, s)
		}
		if i < last {
			return fmt.Errorf("FindReferences out of order at %s", p)
		}
		last = i
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FindNull returns the JSON pointer of a null in the decoded document v
// (under the pointer at), or "" when there is none. The runtime-spec schema
// has no nullable field: runc and validators reject them.
func FindNull(v any, at string) string {
	switch v := v.(type) {
	case nil:
		if at == "" {
			return "/"
		}
		return at
	case map[string]any:
		for k, x := range v {
			if w := FindNull(x, at+"/"+k); w != "" {
				return w
			}
		}
	case []any:
		for i, x := range v {
			if w := FindNull(x, fmt.Sprintf("%s/%d", at, i)); w != "" {
				return w
			}
		}
	}
	return ""
}
