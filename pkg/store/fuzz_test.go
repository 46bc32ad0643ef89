package store_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/tests/invariants"
)

// addFixtures seeds f with the graph fixtures whose name matches glob,
// under each store directory argument.
func addFixtures(f *testing.F, glob string) {
	files, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures %s: %v", glob, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "")
		f.Add(data, "/nix/store")
	}
}

// FuzzParseJSON parses arbitrary bytes as a structured-attributes closure
// graph. Whatever is accepted must satisfy the graph invariants, give
// closures that are closed, survive a round trip through JSON and parse the
// same through Parse.
func FuzzParseJSON(f *testing.F) {
	addFixtures(f, "*.json")
	f.Fuzz(func(t *testing.T, data []byte, storeDir string) {
		g, err := store.ParseJSON(data, storeDir)
		if err != nil {
			if g != nil {
				t.Fatal("graph and error both returned")
			}
			return
		}
		checkParsed(t, g, storeDir, string(data))
		again, err := store.Parse(data, storeDir)
		if err != nil || !sameGraph(g, again) {
			t.Fatalf("Parse disagrees with ParseJSON: %v", err)
		}
		enc, err := json.Marshal(infos(g))
		if err != nil {
			t.Fatal(err)
		}
		back, err := store.ParseJSON(enc, storeDir)
		if err != nil || !sameGraph(g, back) {
			t.Fatalf("JSON round trip: %v\n%s", err, enc)
		}
	})
}

// FuzzParseRegistration parses arbitrary bytes as the text registration
// format, with the same properties as FuzzParseJSON and a round trip
// through the text format.
func FuzzParseRegistration(f *testing.F) {
	addFixtures(f, "*.txt")
	f.Fuzz(func(t *testing.T, data []byte, storeDir string) {
		g, err := store.ParseRegistration(bytes.NewReader(data), storeDir)
		if err != nil {
			if g != nil {
				t.Fatal("graph and error both returned")
			}
			return
		}
		checkParsed(t, g, storeDir, string(data))
		if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) == 0 || (trimmed[0] != '[' && trimmed[0] != '{') {
			again, err := store.Parse(data, storeDir)
			if err != nil || !sameGraph(g, again) {
				t.Fatalf("Parse disagrees with ParseRegistration: %v", err)
			}
		}
		var text strings.Builder
		for _, info := range infos(g) {
			fmt.Fprintf(&text, "%s\n\n%d\n", info.Path, len(info.References))
			for _, r := range info.References {
				text.WriteString(r + "\n")
			}
		}
		back, err := store.ParseRegistration(strings.NewReader(text.String()), storeDir)
		if err != nil || !sameGraph(g, back) {
			t.Fatalf("text round trip: %v\n%s", err, text.String())
		}
	})
}

// FuzzParsePathInfo parses arbitrary bytes as `nix path-info --json`
// output, in either form, with the same properties as FuzzParseJSON and a
// round trip through the object form (Nix 2.19 and later). It is seeded
// with the JSON fixtures (the array form) and the same graphs keyed by path.
func FuzzParsePathInfo(f *testing.F) {
	addFixtures(f, "*.json")
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		g, err := store.ParseJSON(data, "")
		if err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		f.Add(objectForm(f, g), "")
	}
	f.Fuzz(func(t *testing.T, data []byte, storeDir string) {
		g, err := store.ParsePathInfo(data, storeDir)
		if err != nil {
			if g != nil {
				t.Fatal("graph and error both returned")
			}
			return
		}
		checkParsed(t, g, storeDir, string(data))
		if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
			again, err := store.Parse(data, storeDir)
			if err != nil || !sameGraph(g, again) {
				t.Fatalf("Parse disagrees with ParsePathInfo: %v", err)
			}
		}
		enc := objectForm(t, g)
		back, err := store.ParsePathInfo(enc, storeDir)
		if err != nil || !sameGraph(g, back) {
			t.Fatalf("object form round trip: %v\n%s", err, enc)
		}
	})
}

// objectForm writes g as `nix path-info --json` does from Nix 2.19 on: an
// object keyed by path.
func objectForm(t testing.TB, g *store.Graph) []byte {
	byPath := map[string]store.PathInfo{}
	for _, info := range infos(g) {
		byPath[info.Path] = info
	}
	enc, err := json.Marshal(byPath)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// checkParsed checks the invariants of a parsed graph, of the closures of
// each path and of all paths, and of FindReferences on the input itself and
// on the paths joined.
func checkParsed(t *testing.T, g *store.Graph, storeDir, input string) {
	t.Helper()
	if err := invariants.Graph(g, storeDir); err != nil {
		t.Fatal(err)
	}
	paths := g.Paths()
	for i, p := range paths {
		if i >= 8 {
			break
		}
		c, err := g.Closure([]string{p})
		if err := invariants.Closure(g, []string{p}, c, err); err != nil {
			t.Fatal(err)
		}
	}
	c, err := g.Closure(paths)
	if err := invariants.Closure(g, paths, c, err); err != nil {
		t.Fatal(err)
	}
	if len(paths) > 0 {
		missing := g.StoreDir() + "/00000000000000000000000000000000-not-there"
		if _, ok := g.Lookup(missing); !ok {
			if _, err := g.Closure([]string{missing}); err == nil {
				t.Fatalf("closure of %s, which is not in the graph, succeeded", missing)
			}
		}
	}
	found, err := g.FindReferences(input)
	if err := invariants.FindReferences(g, input, found, err); err != nil {
		t.Fatal(err)
	}
	joined := "exec " + strings.Join(paths, "/bin/x --flag=") + " end"
	found, err = g.FindReferences(joined)
	if err != nil || (len(paths) > 0 && !reflect.DeepEqual(found, paths)) {
		t.Fatalf("FindReferences(%q) = %q, %v; want every path", joined, found, err)
	}
}

func infos(g *store.Graph) []store.PathInfo {
	var out []store.PathInfo
	for _, p := range g.Paths() {
		info, _ := g.Lookup(p)
		out = append(out, *info)
	}
	return out
}

func sameGraph(a, b *store.Graph) bool {
	return a != nil && b != nil && a.StoreDir() == b.StoreDir() && reflect.DeepEqual(infos(a), infos(b))
}
