package store_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/store"
)

func TestMerge(t *testing.T) {
	newGraph := func(infos ...store.PathInfo) *store.Graph {
		t.Helper()
		g, err := store.NewGraph(infos, "")
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	a := newGraph(store.PathInfo{Path: hello, References: []string{glibc}, NarSize: 1}, store.PathInfo{Path: glibc})
	b := newGraph(store.PathInfo{Path: extra, References: []string{glibc}}, store.PathInfo{Path: glibc, NarSize: 7})

	g, err := store.Merge([]*store.Graph{a, b}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{hello: {glibc}, glibc: {}, extra: {glibc}}
	if got := refsOf(g); !reflect.DeepEqual(got, want) {
		t.Fatalf("merged %v, want %v", got, want)
	}
	// The first graph's entry wins.
	if info, _ := g.Lookup(glibc); info.NarSize != 0 {
		t.Fatalf("glibc entry %+v comes from the second graph", info)
	}
	if c, err := g.Closure([]string{hello, extra}); err != nil || len(c) != 3 {
		t.Fatalf("closure %v, %v", c, err)
	}

	if g, err := store.Merge([]*store.Graph{a}, "/nix/store"); err != nil || g != a {
		t.Fatalf("one graph: %v, %v", g, err)
	}
	if _, err := store.Merge([]*store.Graph{a}, "/opt/store"); err == nil || !strings.Contains(err.Error(), "not in the store directory /opt/store") {
		t.Fatalf("one graph in another store directory: %v", err)
	}
	if g, err := store.Merge(nil, "/nix/store"); err != nil || g.Len() != 0 || g.StoreDir() != "/nix/store" {
		t.Fatalf("no graphs: %v, %v", g, err)
	}
	elsewhere := newGraph(store.PathInfo{Path: sp("/opt/store", 'a', "x")})
	if _, err := store.Merge([]*store.Graph{a, elsewhere}, ""); err == nil || !strings.Contains(err.Error(), "not in the store directory /nix/store") {
		t.Fatalf("two store directories: %v", err)
	}
	sameHash := newGraph(store.PathInfo{Path: strings.Replace(hello, "hello-2.12", "evil", 1)})
	if _, err := store.Merge([]*store.Graph{a, sameHash}, ""); err == nil || !strings.Contains(err.Error(), "have the same hash") {
		t.Fatalf("paths sharing a hash: %v", err)
	}
}
