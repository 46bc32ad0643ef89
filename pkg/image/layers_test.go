package image_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// sp returns a store path whose hash is c repeated.
func sp(c byte, name string) string {
	return "/nix/store/" + strings.Repeat(string(c), 32) + "-" + name
}

// closure builds path infos from "name -> references" pairs; each name n
// gets the hash of its first letter.
func closure(t *testing.T, refs map[string][]string, sizes map[string]uint64) []*store.PathInfo {
	t.Helper()
	path := func(n string) string { return sp(n[0], n) }
	var infos []store.PathInfo
	for n, rs := range refs {
		info := store.PathInfo{Path: path(n), NarSize: sizes[n], References: []string{}}
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

func names(paths []*store.PathInfo) string {
	var out []string
	for _, p := range paths {
		out = append(out, p.Name())
	}
	return strings.Join(out, "+")
}

func TestGroupLayers(t *testing.T) {
	// app -> {libfoo, bash}; libfoo -> {zlib, glibc}; bash -> glibc; zlib -> glibc
	// popularity: glibc 4, zlib 2, bash 1, libfoo 1, app 0; plus a second root.
	refs := map[string][]string{
		"app":    {"app", "libfoo", "bash"},
		"libfoo": {"zlib", "glibc"},
		"bash":   {"glibc"},
		"zlib":   {"glibc"},
		"glibc":  {"glibc"},
		"script": nil,
	}
	tests := []struct {
		maxLayers int
		want      []string
	}{
		{100, []string{"glibc", "zlib", "bash", "libfoo", "app", "script"}},
		{6, []string{"glibc", "zlib", "bash", "libfoo", "app", "script"}},
		// The roots share the top layer; the dependencies fit in the rest.
		{5, []string{"glibc", "zlib", "bash", "libfoo", "app+script"}},
		// The least popular dependencies are grouped.
		{4, []string{"glibc", "zlib", "bash+libfoo", "app+script"}},
		{3, []string{"glibc", "bash+libfoo+zlib", "app+script"}},
		{2, []string{"bash+glibc+libfoo+zlib", "app+script"}},
		{1, []string{"app+bash+glibc+libfoo+script+zlib"}},
	}
	for _, tc := range tests {
		layers := image.GroupLayers(closure(t, refs, nil), tc.maxLayers)
		var got []string
		for _, l := range layers {
			got = append(got, names(l.Paths))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("maxLayers %d: layers %v, want %v", tc.maxLayers, got, tc.want)
		}
	}
}

// TestGroupLayersStable: a new version of the application (another hash, the
// same dependencies) leaves every other layer as it was.
func TestGroupLayersStable(t *testing.T) {
	deps := map[string][]string{"libfoo": {"zlib", "glibc"}, "bash": {"glibc"}, "zlib": {"glibc"}, "glibc": nil, "perl": {"glibc"}}
	with := func(app string) []*store.PathInfo {
		refs := map[string][]string{app: {"libfoo", "bash", "perl"}}
		for k, v := range deps {
			refs[k] = v
		}
		return closure(t, refs, nil)
	}
	for _, maxLayers := range []int{100, 4, 3, 2} {
		a := image.GroupLayers(with("app-1.0"), maxLayers)
		b := image.GroupLayers(with("xapp-1.0"), maxLayers)
		if len(a) != len(b) {
			t.Fatalf("maxLayers %d: %d layers, then %d", maxLayers, len(a), len(b))
		}
		for i := 0; i < len(a)-1; i++ {
			if names(a[i].Paths) != names(b[i].Paths) {
				t.Errorf("maxLayers %d: layer %d changed from %s to %s", maxLayers, i, names(a[i].Paths), names(b[i].Paths))
			}
		}
		if top := names(b[len(b)-1].Paths); top != "xapp-1.0" {
			t.Errorf("maxLayers %d: top layer %s", maxLayers, top)
		}
	}
}
