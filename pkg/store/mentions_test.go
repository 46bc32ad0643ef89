package store_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/store"
)

func TestMentions(t *testing.T) {
	tests := []struct {
		name, s, storeDir string
		want              []string
	}{
		{"program", hello + "/bin/hello", "/nix/store", []string{hello}},
		{"embedded, twice, in order", "exec " + glibc + "/lib/x " + hello + " " + glibc, "/nix/store", []string{glibc, hello}},
		{"whole path", hello, "/nix/store", []string{hello}},
		{"stops at a quote", `"` + hello + `";`, "/nix/store", []string{hello}},
		{"not a hash", "/nix/store/notahash-x /nix/store/" + strings.Repeat("e", 32) + "-x", "/nix/store", nil},
		{"other store", hello, "/opt/store", nil},
		{"nothing", "/bin/sh", "/nix/store", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := store.Mentions(tc.s, tc.storeDir); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("mentions %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParsePathInfo(t *testing.T) {
	tests := []struct {
		name, data string
		err        string
	}{
		{"array (Nix 2.4 to 2.18)", `[{"path":"` + hello + `","narHash":"sha256:x","narSize":10,"references":["` + glibc + `","` + hello + `"]},{"path":"` + glibc + `","narSize":5,"references":[]}]`, ""},
		{"object (later Nix)", `{"` + hello + `":{"narHash":"sha256:x","narSize":10,"references":["` + glibc + `"]},"` + glibc + `":{"narSize":5,"references":[]}}`, ""},
		{"object with base names", `{"` + hello + `":{"narSize":10,"references":["` + glibc[len("/nix/store/"):] + `"]},"` + glibc + `":{"narSize":5}}`, ""},
		{"invalid path", `{"` + hello + `":null}`, hello + " is not a valid store path in this store"},
		{"not JSON", `{`, "path info: invalid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := store.ParsePathInfo([]byte(tc.data), "")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			closure, err := g.Closure([]string{hello})
			if err != nil {
				t.Fatal(err)
			}
			if len(closure) != 2 || closure[1].Path != hello || closure[1].NarSize != 10 || closure[0].NarSize != 5 {
				t.Fatalf("closure %+v %+v", closure[0], closure[1])
			}
		})
	}
}
