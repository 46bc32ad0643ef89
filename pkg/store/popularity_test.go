package store_test

import (
	"reflect"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// closureOf builds the entries of a graph from "name -> references" pairs;
// each name n gets the hash of its first letter.
func closureOf(t *testing.T, refs map[string][]string) []*store.PathInfo {
	t.Helper()
	path := func(n string) string { return sp("/nix/store", n[0], n) }
	var infos []store.PathInfo
	for n, rs := range refs {
		info := store.PathInfo{Path: path(n), References: []string{}}
		for _, r := range rs {
			info.References = append(info.References, path(r))
		}
		infos = append(infos, info)
	}
	g, err := store.NewGraph(infos, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.PathInfo
	for _, p := range g.Paths() {
		info, _ := g.Lookup(p)
		out = append(out, info)
	}
	return out
}

func TestPopularity(t *testing.T) {
	tests := []struct {
		name string
		refs map[string][]string
		want map[string]int
	}{
		{"chain with self-references", map[string][]string{"app": {"app", "lib"}, "lib": {"lib", "c"}, "c": {"c"}},
			map[string]int{"app": 0, "lib": 1, "c": 2}},
		{"diamond", map[string][]string{"app": {"left", "right"}, "left": {"glibc"}, "right": {"glibc"}, "glibc": nil},
			map[string]int{"app": 0, "left": 1, "right": 1, "glibc": 3}},
		{"two roots", map[string][]string{"app": {"glibc"}, "script": nil, "glibc": nil},
			map[string]int{"app": 0, "script": 0, "glibc": 1}},
		{"cycle", map[string][]string{"app": {"x"}, "x": {"y"}, "y": {"x", "z"}, "z": nil},
			map[string]int{"app": 0, "x": 2, "y": 2, "z": 3}},
		{"reference outside", map[string][]string{"app": {"app"}}, map[string]int{"app": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]int{}
			for p, n := range store.Popularity(closureOf(t, tc.refs)) {
				got[p[44:]] = n
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("popularity %v, want %v", got, tc.want)
			}
		})
	}
}
