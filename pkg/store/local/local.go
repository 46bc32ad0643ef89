// Package local asks the local Nix store about store paths, for the
// standalone command line (outside a derivation, where Nix does not hand
// the closure graph over): which of the paths a string mentions exist
// (FindPaths), the closure graph of some paths (Closure, from `nix
// path-info`, parsed by store.ParsePathInfo) and the store directory the
// environment names (StoreDir).
package local

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// FindPaths returns the store paths under storeDir that s mentions (see
// store.Mentions) and that exist in the local store, each once, in order,
// with the longest name that exists on disk (names may contain dots, so
// "${p}." could be read either way). Mentions of paths that do not exist are
// returned apart, as written. It is the local store's counterpart of
// store.Graph.FindReferences, which looks the mentions up in a graph.
func FindPaths(s, storeDir string) (found, missing []string) {
	seen := map[string]bool{}
	for _, m := range store.Mentions(s, storeDir) {
		exists := false
		// The shortest candidate is "<storeDir>/<hash>-" plus one character.
		for end := m.End; end >= m.Start+len(storeDir)+35 && !exists; end-- {
			p := s[m.Start:end]
			if _, err := os.Lstat(p); err == nil {
				exists = true
				if !seen[p] {
					seen[p] = true
					found = append(found, p)
				}
			}
		}
		if !exists {
			missing = append(missing, s[m.Start:m.End])
		}
	}
	return found, missing
}

// Named is a string and what it is, for error messages (e.g. "args[0]").
type Named struct {
	Name, Value string
}

// ClosureOf is the closure, from the local store, of the store paths that
// the strings mention, in order. A mention of a store path that is not in
// the store is an error naming the string.
func ClosureOf(ctx context.Context, storeDir string, strs []Named) (*store.Graph, error) {
	var roots []string
	seen := map[string]bool{}
	for _, s := range strs {
		found, missing := FindPaths(s.Value, storeDir)
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s: %s is not in the store", s.Name, missing[0])
		}
		for _, p := range found {
			if !seen[p] {
				seen[p] = true
				roots = append(roots, p)
			}
		}
	}
	return Closure(ctx, "", storeDir, roots)
}

// Closure asks `nix path-info --json --recursive` for the closure of roots
// and returns it as a graph in storeDir. nixCmd is the nix executable
// ("nix" when empty).
func Closure(ctx context.Context, nixCmd, storeDir string, roots []string) (*store.Graph, error) {
	if len(roots) == 0 {
		return store.NewGraph(nil, storeDir)
	}
	if nixCmd == "" {
		nixCmd = "nix"
	}
	args := append([]string{"--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive"}, roots...)
	cmd := exec.CommandContext(ctx, nixCmd, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("nix path-info of %s: %v: %s", strings.Join(roots, " "), err, msg)
	}
	return store.ParsePathInfo(stdout.Bytes(), storeDir)
}

// StoreDir returns the store directory: $NIX_STORE_DIR, else $NIX_STORE,
// else /nix/store.
func StoreDir(getenv func(string) string) string {
	for _, v := range []string{"NIX_STORE_DIR", "NIX_STORE"} {
		if d := getenv(v); d != "" {
			return path.Clean(d)
		}
	}
	return "/nix/store"
}
