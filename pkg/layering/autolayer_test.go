package layering

import (
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// Auto-layer on hand-made graphs, each answer worked out by hand as
// nixpkgs' auto-layer.py computes it. Paths are "HASH-NAME" (auto-layer
// orders a layer's paths by name, then hash); testGraph gives each a
// reference to itself, which auto-layer ignores.
func TestAutoLayers(t *testing.T) {
	chain := []string{"c-app>b-lib", "b-lib>a-libc"}
	chainSizes := map[string]uint64{"c-app": 10, "b-lib": 20, "a-libc": 30}
	diamond := []string{"t-top>l-left", "t-top>r-right", "l-left>b-base", "r-right>b-base"}
	diamondSizes := map[string]uint64{"t-top": 5, "l-left": 10, "r-right": 20, "b-base": 40}
	// Two large roots, alpha and beta, each with a private dependency and
	// one they share, under an application.
	shared := []string{"r-app>a-alpha", "r-app>b-beta", "a-alpha>c-alpha-lib", "a-alpha>s-shared",
		"b-beta>d-beta-lib", "b-beta>s-shared"}
	sharedSizes := map[string]uint64{"a-alpha": 100, "b-beta": 90, "c-alpha-lib": 5, "d-beta-lib": 4, "s-shared": 3, "r-app": 1}
	// nixpkgs' graph: the configuration and customisation layer
	// derivations above the image's closure, both ignored.
	custom := []string{"u-custom>p-app", "f-conf>p-app", "p-app>l-lib"}
	customSizes := map[string]uint64{"u-custom": 12, "f-conf": 2, "p-app": 50, "l-lib": 100}
	ignored := map[string]bool{"u-custom": true, "f-conf": true}
	for _, tc := range []struct {
		name   string
		edges  []string
		lone   []string
		sizes  map[string]uint64
		ignore map[string]bool
		limit  int
		want   [][]string
	}{
		// Every path a root: one layer each, dependencies first.
		{"chain", chain, nil, chainSizes, nil, 100, [][]string{{"a-libc"}, {"b-lib"}, {"c-app"}}},
		// libc, then lib as roots would make 3 layers: the split with
		// libc's kept, the rest together.
		{"chain, limit 2", chain, nil, chainSizes, nil, 2, [][]string{{"a-libc"}, {"c-app", "b-lib"}}},
		{"chain, limit 1", chain, nil, chainSizes, nil, 1, [][]string{{"c-app", "b-lib", "a-libc"}}},
		// Closure sizes 40, 50, 60, 75.
		{"diamond", diamond, nil, diamondSizes, nil, 100, [][]string{{"b-base"}, {"l-left"}, {"r-right"}, {"t-top"}}},
		// base, right; then left would make 4.
		{"diamond, limit 3", diamond, nil, diamondSizes, nil, 3, [][]string{{"b-base"}, {"r-right"}, {"l-left", "t-top"}}},
		// alpha takes its dependencies; beta then takes its own, and the
		// one both use gets the layer of {alpha, beta}. Closure sizes:
		// shared 3, beta's 97, alpha's 108, the rest 203.
		{"two large roots sharing a dependency", shared, nil, sharedSizes, nil, 4,
			[][]string{{"s-shared"}, {"b-beta", "d-beta-lib"}, {"a-alpha", "c-alpha-lib"}, {"r-app"}}},
		// Room for alpha's layer and the rest only.
		{"two large roots, limit 3", shared, nil, sharedSizes, nil, 3,
			[][]string{{"a-alpha", "c-alpha-lib", "s-shared"}, {"r-app", "b-beta", "d-beta-lib"}}},
		{"two large roots, no limit reached", shared, nil, sharedSizes, nil, 100,
			[][]string{{"s-shared"}, {"d-beta-lib"}, {"c-alpha-lib"}, {"b-beta"}, {"a-alpha"}, {"r-app"}}},
		// lib, app; custom would make 4 layers. The layer of the paths no
		// root took holds only ignored paths: dropped.
		{"ignored paths", custom, nil, customSizes, ignored, 3, [][]string{{"l-lib"}, {"p-app"}}},
		{"ignored paths, limit 2", custom, nil, customSizes, ignored, 2, [][]string{{"l-lib"}, {"p-app"}}},
		{"ignored paths, limit 1", custom, nil, customSizes, ignored, 1, [][]string{{"p-app", "l-lib"}}},
		{"ignored paths as roots", custom, nil, customSizes, ignored, 100, [][]string{{"l-lib"}, {"p-app"}}},
		// Equal NAR sizes: the greatest path (d-three) becomes a root
		// first, as in nixpkgs' graph, which Nix writes in path order.
		{"ties in NAR size", nil, []string{"d-three", "c-two", "b-one"}, map[string]uint64{"b-one": 10, "c-two": 10, "d-three": 10}, nil, 2,
			[][]string{{"d-three"}, {"b-one", "c-two"}}},
		// Equal closure sizes: by name, then hash.
		{"ties in closure size", nil, []string{"d-three", "c-two", "b-one", "a-two"}, nil, nil, 100,
			[][]string{{"b-one"}, {"d-three"}, {"a-two"}, {"c-two"}}},
		// A reference outside the closure is ignored.
		{"outside reference", []string{"b-app>a-lib"}, nil, map[string]uint64{"a-lib": 2, "b-app": 1}, nil, 100,
			[][]string{{"a-lib"}, {"b-app"}}},
		{"empty closure", nil, nil, nil, nil, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closure := testGraph(tc.edges, tc.lone, tc.sizes)
			if tc.name == "outside reference" {
				closure[0].References = append(closure[0].References, "z-elsewhere")
			}
			layers, err := AutoLayers(closure, tc.ignore, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, l := range layers {
				got = append(got, l.Paths)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("layers %q, want %q", got, tc.want)
			}
			// The same closure in another order gives the same layers.
			reversed := make([]*store.PathInfo, len(closure))
			for i, info := range closure {
				reversed[len(closure)-1-i] = info
			}
			again, err := AutoLayers(reversed, tc.ignore, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again, layers) {
				t.Errorf("reversed closure: %v, want %v", again, layers)
			}
		})
	}
}

// A layer's roots and sizes, what dockerTools' debug prints.
func TestAutoLayerInfo(t *testing.T) {
	closure := testGraph([]string{"r-app>a-alpha", "r-app>b-beta", "a-alpha>s-shared", "b-beta>s-shared"}, []string{"e-extra"},
		map[string]uint64{"a-alpha": 100, "b-beta": 90, "e-extra": 50, "s-shared": 3, "r-app": 1})
	// alpha, beta; extra would make 5 layers.
	layers, err := AutoLayers(closure, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []AutoLayer{
		{Paths: []string{"s-shared"}, UsedBy: []string{"a-alpha", "b-beta"}, Size: 3, ClosureSize: 3},
		{Paths: []string{"b-beta"}, UsedBy: []string{"b-beta"}, Size: 90, ClosureSize: 93},
		{Paths: []string{"a-alpha"}, UsedBy: []string{"a-alpha"}, Size: 100, ClosureSize: 103},
		{Paths: []string{"r-app", "e-extra"}, Size: 51, ClosureSize: 244},
	}
	if !reflect.DeepEqual(layers, want) {
		t.Errorf("layers\n%+v, want\n%+v", layers, want)
	}
}

func TestAutoLayersErrors(t *testing.T) {
	for _, tc := range []struct {
		closure []*store.PathInfo
		limit   int
		want    string
	}{
		{testGraph(nil, []string{"a-x"}, nil), 0, "auto-layer: the layer limit must be at least 1, got 0"},
		{[]*store.PathInfo{{Path: "a-x"}, {Path: "a-x"}}, 3, "auto-layer: store path a-x appears twice in the closure"},
	} {
		if _, err := AutoLayers(tc.closure, nil, tc.limit); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
