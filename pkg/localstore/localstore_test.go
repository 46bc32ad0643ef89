package localstore_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/localstore"
)

func TestMentions(t *testing.T) {
	dir := t.TempDir()
	a := dir + "/" + strings.Repeat("a", 32) + "-foo.sh"
	b := dir + "/" + strings.Repeat("b", 32) + "-bar"
	os.WriteFile(a, nil, 0o444)
	os.Mkdir(b, 0o755)
	missing := dir + "/" + strings.Repeat("c", 32) + "-gone"
	tests := []struct {
		s             string
		found, absent []string
	}{
		{a, []string{a}, nil},
		{"exec " + b + "/bin/x " + a + ". " + b, []string{b, a}, nil},
		{"ls " + dir + " " + dir + "/.links", nil, nil},
		{missing + "/bin/x", nil, []string{missing}},
	}
	for _, tc := range tests {
		found, absent := localstore.Mentions(tc.s, dir)
		if !reflect.DeepEqual(found, tc.found) || !reflect.DeepEqual(absent, tc.absent) {
			t.Errorf("Mentions(%q) = %v, %v; want %v, %v", tc.s, found, absent, tc.found, tc.absent)
		}
	}
}

func TestParsePathInfo(t *testing.T) {
	p1 := "/nix/store/" + strings.Repeat("a", 32) + "-one"
	p2 := "/nix/store/" + strings.Repeat("b", 32) + "-two"
	tests := []struct {
		name, json, err string
	}{
		// Nix 2.8 (and up to 2.18): an array, SRI hashes.
		{"array", `[{"path":"` + p1 + `","narHash":"sha256-MGiGF0F1lVEdxu1OzyZwSk8jACYK69DfZA4kbxN3YQA=","narSize":1,"references":["` + p2 + `"],"registrationTime":1},
		  {"path":"` + p2 + `","narHash":"sha256-oYpx7olqIL6TpLxkXGgfZEX1j+jiKutzcb1w4gEsD0Q=","narSize":2,"references":[]}]`, ""},
		// Nix 2.19 and later: an object keyed by path.
		{"object", `{"` + p1 + `":{"narHash":"sha256-x","narSize":1,"references":["` + p2 + `"]},"` + p2 + `":{"narHash":"sha256-y","narSize":2,"references":[]}}`, ""},
		{"invalid path", `{"` + p1 + `":null}`, p1 + " is not valid in the local store"},
		{"garbage", `{"x":`, "nix path-info output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := localstore.ParsePathInfo([]byte(tc.json), "/nix/store")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			closure, err := g.Closure([]string{p1})
			if err != nil || len(closure) != 2 || closure[0].NarSize != 1 {
				t.Fatalf("closure %+v, %v", closure, err)
			}
		})
	}
}

func TestStoreDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "/nix/store"},
		{map[string]string{"NIX_STORE": "/gnu/store/"}, "/gnu/store"},
		{map[string]string{"NIX_STORE_DIR": "/a", "NIX_STORE": "/b"}, "/a"},
	} {
		if got := localstore.StoreDir(env(tc.env)); got != tc.want {
			t.Errorf("StoreDir(%v) = %q", tc.env, got)
		}
	}
}
