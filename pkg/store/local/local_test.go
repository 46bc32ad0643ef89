package local_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/store/local"
)

func TestFindPaths(t *testing.T) {
	dir := t.TempDir()
	a := dir + "/" + strings.Repeat("a", 32) + "-foo.sh"
	b := dir + "/" + strings.Repeat("b", 32) + "-bar"
	os.WriteFile(a, nil, 0o444)
	os.Mkdir(b, 0o755)
	missing := dir + "/" + strings.Repeat("c", 32) + "-gone"
	// A name of one character is the shortest a store path can have.
	short := dir + "/" + strings.Repeat("d", 32) + "-x"
	os.Mkdir(short, 0o755)
	tests := []struct {
		s             string
		found, absent []string
	}{
		{a, []string{a}, nil},
		{"exec " + b + "/bin/x " + a + ". " + b, []string{b, a}, nil},
		{"ls " + dir + " " + dir + "/.links", nil, nil},
		{missing + "/bin/x", nil, []string{missing}},
		{short + "/bin/x", []string{short}, nil},
	}
	for _, tc := range tests {
		found, absent := local.FindPaths(tc.s, dir)
		if !reflect.DeepEqual(found, tc.found) || !reflect.DeepEqual(absent, tc.absent) {
			t.Errorf("FindPaths(%q) = %v, %v; want %v, %v", tc.s, found, absent, tc.found, tc.absent)
		}
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
		if got := local.StoreDir(env(tc.env)); got != tc.want {
			t.Errorf("StoreDir(%v) = %q", tc.env, got)
		}
	}
}
