package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/store/daemon/daemontest"
	"github.com/oci-builder/oci-builder/pkg/store/local"
)

// TestClosureRoutes: Closure gives the same closure from the Nix daemon and
// from `nix path-info`, takes the one the environment names, falls back to
// `nix path-info` when no daemon answers, tells both errors when both
// fail, and does not retry after the context ended. It runs the real
// nix-daemon and nix; PATH without nix shows which of them answered.
func TestClosureRoutes(t *testing.T) {
	socket := daemontest.Start(t)
	paths := daemontest.AddPaths(t, 3)
	want := append([]string(nil), paths...)
	sort.Strings(want)
	notValid := "/nix/store/" + strings.Repeat("0", 32) + "-not-valid"
	absent := filepath.Join(t.TempDir(), "absent")
	refusing := daemontest.Refusing(t, "database is on fire")
	withPath, noNix := os.Getenv("PATH"), "/var/empty"
	tests := []struct {
		name string
		env  map[string]string
		path string // PATH: without nix, only the daemon can answer
		root string
		err  []string // the error's parts, or none
	}{
		{name: "daemon", env: map[string]string{"NIX_DAEMON_SOCKET_PATH": socket}, path: noNix, root: paths[0]},
		{name: "NIX_REMOTE=local asks nix", env: map[string]string{"NIX_DAEMON_SOCKET_PATH": socket, "NIX_REMOTE": "local"}, path: noNix, root: paths[0],
			err: []string{"nix path-info of " + paths[0], "executable file not found"}},
		{name: "nix without a daemon", env: map[string]string{"NIX_DAEMON_SOCKET_PATH": absent}, path: withPath, root: paths[0]},
		{name: "neither", env: map[string]string{"NIX_DAEMON_SOCKET_PATH": absent}, path: noNix, root: paths[0],
			err: []string{"executable file not found", "(and no Nix daemon: dial unix " + absent}},
		{name: "not valid, then nix", env: map[string]string{"NIX_DAEMON_SOCKET_PATH": socket}, path: withPath, root: notValid,
			err: []string{notValid + " is not valid in the store (and then nix path-info of " + notValid}},
		{name: "not valid, no nix", env: map[string]string{"NIX_DAEMON_SOCKET_PATH": socket}, path: noNix, root: notValid,
			err: []string{notValid + " is not valid in the store (and then nix path-info", "executable file not found"}},
		{name: "daemon fails, nix answers", env: map[string]string{"NIX_DAEMON_SOCKET_PATH": refusing}, path: withPath, root: paths[0]},
		{name: "daemon fails, no nix", env: map[string]string{"NIX_DAEMON_SOCKET_PATH": refusing}, path: noNix, root: paths[0],
			err: []string{"nix daemon: database is on fire (and then nix path-info of " + paths[0], "executable file not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			// No binary cache to ask about paths that are not valid.
			t.Setenv("NIX_CONFIG", "substituters =")
			getenv := func(k string) string { return tc.env[k] }
			g, err := local.Closure(context.Background(), getenv, "/nix/store", []string{tc.root})
			if tc.err != nil {
				if err == nil {
					t.Fatalf("closure of %d paths, want an error", g.Len())
				}
				for _, part := range tc.err {
					if !strings.Contains(err.Error(), part) {
						t.Fatalf("error %q, want %q in it", err, part)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g.Paths(), want) {
				t.Fatalf("closure %v, want %v", g.Paths(), want)
			}
			for _, p := range g.Paths() {
				if info, _ := g.Lookup(p); !strings.HasPrefix(info.NarHash, "sha256") {
					t.Fatalf("%s: NAR hash %q", p, info.NarHash)
				}
			}
		})
	}
	t.Run("ended context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		getenv := func(k string) string { return map[string]string{"NIX_DAEMON_SOCKET_PATH": socket}[k] }
		// Not retried: nix path-info would say so in the error.
		if _, err := local.Closure(ctx, getenv, "/nix/store", paths[:1]); !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "nix path-info") {
			t.Fatalf("Closure after the context ended: %v", err)
		}
	})
}
