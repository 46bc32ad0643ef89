package image_test

import (
	"reflect"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// A dockerTools-style layered image without layeringPipeline splits its
// closure by auto-layer, in maxLayers - 1 layers (a layer's paths sorted
// by path), then the customisation layer; the customisation layer the
// shell arguments made takes part in the split but is no store layer.
func TestCompatAutoLayer(t *testing.T) {
	// app -> python, bash; python -> pylib, libc; bash -> libc.
	infos := []store.PathInfo{
		{Path: sp('a', "app"), References: []string{sp('p', "python"), sp('b', "bash")}, NarSize: 10},
		{Path: sp('p', "python"), References: []string{sp('y', "pylib"), sp('l', "libc")}, NarSize: 1000},
		{Path: sp('y', "pylib"), NarSize: 50},
		{Path: sp('b', "bash"), References: []string{sp('l', "libc")}, NarSize: 100},
		{Path: sp('l', "libc"), NarSize: 300},
		{Path: sp('s', "shell-layer"), References: []string{sp('a', "app")}, NarSize: 5},
	}
	g, err := store.NewGraph(infos, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		maxLayers int
		shell     bool
		want      []string
	}{
		// python, then libc become layer roots; bash would make a 4th.
		{"maxLayers 4", 4, false, []string{"libc", "python+pylib", "app+bash", "custom"}},
		// python's layer holds its dependencies, libc too (no root has
		// taken it yet).
		{"maxLayers 3", 3, false, []string{"libc+python+pylib", "app+bash", "custom"}},
		{"maxLayers 2", 2, false, []string{"app+bash+libc+python+pylib", "custom"}},
		{"every path a layer", 100, false, []string{"pylib", "libc", "bash", "python", "app", "custom"}},
		{"shell layer", 4, true, []string{"libc", "python+pylib", "app+bash", "shell-layer.tar"}},
		{"shell layer, every path a layer", 100, true, []string{"pylib", "libc", "bash", "python", "app", "shell-layer.tar"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &image.Compat{}
			roots := []string{sp('a', "app")}
			if tc.shell {
				c.ShellLayer = sp('s', "shell-layer")
				roots = append(roots, c.ShellLayer)
			}
			p, err := image.NewPlan(g, container.Options{Args: []string{"/bin/sh"}, Roots: roots}, image.Options{MaxLayers: tc.maxLayers, Compat: c}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range p.Layers {
				switch {
				case l.Custom != nil:
					got = append(got, "custom")
				case l.Tar != "":
					got = append(got, (&store.PathInfo{Path: l.Tar}).Name()+".tar")
				default:
					got = append(got, names(l.Paths))
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("layers %q, want %q", got, tc.want)
			}
		})
	}
}
