package image_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// A dockerTools-style image with a layeringPipeline: the pipeline's
// layers, in its order, then the customisation layer, as many as
// maxLayers has room for (the Nix library passes 125: dockerTools does not
// apply maxLayers to a pipeline); paths the pipeline names outside the
// closure are warned about; the pipeline may be a file.
func TestCompatPipeline(t *testing.T) {
	app, lib, dep, sh := sp('a', "app"), sp('l', "lib"), sp('d', "dep"), sp('s', "sh")
	g, err := store.NewGraph([]store.PathInfo{
		{Path: app, References: []string{lib, sh}, NarSize: 10},
		{Path: lib, References: []string{dep}, NarSize: 20},
		{Path: dep, NarSize: 30},
		{Path: sh, NarSize: 40},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	plan := func(pipeline string, maxLayers int) (*image.Plan, error) {
		c := &image.Compat{LayeringPipeline: []byte(pipeline)}
		if err := c.LoadPipeline(); err != nil {
			return nil, err
		}
		return image.NewPlan(g, container.Options{Args: []string{"/bin/sh"}, Roots: []string{app}}, image.Options{MaxLayers: maxLayers, Compat: c}, nil)
	}
	layers := func(p *image.Plan) []string {
		var out []string
		for _, l := range p.Layers {
			if l.Custom != nil {
				out = append(out, "custom")
				continue
			}
			out = append(out, names(l.Paths))
		}
		return out
	}
	split := `[["split_paths", ["` + lib + `", "/nix/store/` + strings.Repeat("n", 32) + `-nope"]], ["over", "rest", ["pipe", [["popularity_contest"], ["limit_layers", 2]]]]]`
	p, err := plan(split, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := layers(p), []string{"dep+lib", "sh", "app", "custom"}; !reflect.DeepEqual(got, want) {
		t.Errorf("layers %q, want %q", got, want)
	}
	if w := p.Warnings; len(w) != 2 || !strings.Contains(w[1], "-nope, which is not in the image's closure: ignored") {
		t.Errorf("warnings %q", p.Warnings)
	}
	// From a file, as a derivation's output.
	file := filepath.Join(t.TempDir(), "pipeline.json")
	if err := os.WriteFile(file, []byte(`[["popularity_contest"], ["limit_layers", 2]]`), 0o444); err != nil {
		t.Fatal(err)
	}
	if p, err = plan(`"`+file+`"`, 100); err != nil {
		t.Fatal(err)
	}
	if got, want := layers(p), []string{"dep", "app+lib+sh", "custom"}; !reflect.DeepEqual(got, want) {
		t.Errorf("layers %q, want %q", got, want)
	}
	// includeStorePaths = false: no store layers, the pipeline not run (as
	// in dockerTools, where its graph is empty).
	c := &image.Compat{LayeringPipeline: []byte(`[]`), ExcludeStorePaths: true}
	if err := c.LoadPipeline(); err != nil {
		t.Fatal(err)
	}
	if p, err = image.NewPlan(g, container.Options{Args: []string{"/bin/sh"}, Roots: []string{app}}, image.Options{Compat: c}, nil); err != nil {
		t.Fatal(err)
	}
	if got := layers(p); !reflect.DeepEqual(got, []string{"custom"}) {
		t.Errorf("includeStorePaths = false: layers %q", got)
	}
	for _, tc := range []struct{ pipeline, want string }{
		{`[["popularity_contest"]]`, `layeringPipeline makes 4 layers of store paths and the image has room for 2`},
		{`[["popularity_contest"], ["limit_layers", "2"]]`, `layeringPipeline: step 2 ("limit_layers"): the count must be an integer`},
		{`[]`, `layeringPipeline: the pipeline gives one graph`},
		{`"` + file + `.missing"`, `layeringPipeline: open ` + file + `.missing`},
	} {
		if _, err := plan(tc.pipeline, 3); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.pipeline, err, tc.want)
		}
	}
}
