package nixbuild_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
	"github.com/oci-builder/oci-builder/pkg/schema"
	"github.com/oci-builder/oci-builder/tests/invariants"
)

// FuzzAttrs decodes arbitrary bytes as .attrs.json the way the nix-builder
// command does: the output, the closure graphs of exportReferencesGraph,
// storeDir and the container options, then the bundle plan. Whatever is
// accepted must satisfy the invariants of graphs, configurations and plans.
func FuzzAttrs(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	v, err := schema.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		attrs, err := nixbuild.ParseAttrs(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parse .attrs.json: ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if out, err := attrs.Output("out"); err == nil && !filepath.IsAbs(out) {
			t.Fatalf("output %q is not absolute", out)
		}
		storeDir, err := attrs.String("storeDir")
		if err != nil {
			return
		}
		g, err := attrs.Graph(storeDir)
		if err != nil {
			return
		}
		if err := invariants.Graph(g, storeDir); err != nil {
			t.Fatal(err)
		}
		// Inferring the store directory from the data gives the same graph.
		if inferred, err := attrs.Graph(""); err != nil || inferred.Len() != g.Len() {
			t.Fatalf("graph with inferred store directory: %v", err)
		}
		raw, ok := attrs.Raw("container")
		if !ok {
			return
		}
		opts, err := container.DecodeOptions(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "container options: ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		plan, err := bundle.NewPlan(g, opts, nil)
		if err != nil {
			return
		}
		if err := invariants.Plan(v, g, opts, plan); err != nil {
			t.Fatal(err)
		}
	})
}
