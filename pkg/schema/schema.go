// Package schema validates OCI runtime configurations (config.json) against
// the JSON schema published with the runtime-spec, embedded here so that
// validation works offline, inside a Nix build sandbox included.
package schema

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Version is the newest runtime-spec version whose schema is embedded, the
// one oci-builder writes.
const Version = "1.3.0"

// files holds the runtime-spec schemas, copied verbatim from
// github.com/opencontainers/runtime-spec at the tags v1.0.2, v1.1.0, v1.2.1
// and v1.3.0 (Apache-2.0: see NOTICE and LICENSE-Apache-2.0 here).
//
//go:embed runtime-spec-v*/*.json
var files embed.FS

const baseURL = "file:///runtime-spec/"

// Validator checks configs against one embedded schema.
type Validator struct {
	version string
	schema  *jsonschema.Schema
}

// New compiles the schema of Version.
func New() (*Validator, error) {
	return compile(Version)
}

// ForVersion compiles the schema for the ociVersion a config declares: the
// embedded schema of the same major and minor version (1.0.x configs are
// checked against 1.0.2, 1.2.x against 1.2.1). A version without one is an
// error.
func ForVersion(ociVersion string) (*Validator, error) {
	v := strings.TrimPrefix(ociVersion, "v")
	v, _, _ = strings.Cut(v, "-")
	v, _, _ = strings.Cut(v, "+")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("ociVersion %q is not a version like 1.3.0", ociVersion)
	}
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded schemas: %w", err)
	}
	var known []string
	for _, e := range entries {
		ev := strings.TrimPrefix(e.Name(), "runtime-spec-v")
		known = append(known, ev)
		if strings.HasPrefix(ev, parts[0]+"."+parts[1]+".") {
			return compile(ev)
		}
	}
	return nil, fmt.Errorf("no schema for ociVersion %q (schemas: %s)", ociVersion, strings.Join(known, ", "))
}

// Version returns the runtime-spec version of the schema.
func (v *Validator) Version() string { return v.version }

func compile(version string) (*Validator, error) {
	dir := "runtime-spec-v" + version
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, fmt.Errorf("read embedded schema: %w", err)
	}
	for _, e := range entries {
		data, err := files.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read embedded schema %s: %w", e.Name(), err)
		}
		// defs.json at v1.3.0 has one malformed JSON pointer,
		// "#definitions/uint32"; gojsonschema (used upstream) accepts it,
		// stricter validators do not. Mend it rather than edit the copy.
		data = bytes.ReplaceAll(data, []byte(`"#definitions/`), []byte(`"#/definitions/`))
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("parse embedded schema %s: %w", e.Name(), err)
		}
		if err := c.AddResource(baseURL+e.Name(), doc); err != nil {
			return nil, fmt.Errorf("add embedded schema %s: %w", e.Name(), err)
		}
	}
	s, err := c.Compile(baseURL + "config-schema.json")
	if err != nil {
		return nil, fmt.Errorf("compile runtime-spec %s schema: %w", version, err)
	}
	return &Validator{version: version, schema: s}, nil
}

// Problems validates the JSON document config and returns every violation
// found, one line each ("/mounts/4/options: got null, want array"), sorted.
// A document that is not JSON gives a single problem.
func (v *Validator) Problems(config []byte) []string {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(config))
	if err != nil {
		return []string{fmt.Sprintf("not valid JSON: %v", err)}
	}
	err = v.schema.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	printer := message.NewPrinter(language.English)
	seen := map[string]bool{}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		line := "/" + strings.Join(e.InstanceLocation, "/") + ": " + e.ErrorKind.LocalizedString(printer)
		if !seen[line] {
			seen[line] = true
			out = append(out, line)
		}
	}
	walk(ve)
	sort.Strings(out)
	return out
}

// Validate returns an error listing every violation of the schema in config,
// or nil when it is valid.
func (v *Validator) Validate(config []byte) error {
	problems := v.Problems(config)
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("config does not match the runtime-spec %s schema: %s", v.version, strings.Join(problems, "; "))
}
