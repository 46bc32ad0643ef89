// Package local asks the local Nix store about store paths, for the
// standalone command line (outside a derivation, where Nix does not hand
// the closure graph over): which of the paths a string mentions exist
// (FindPaths), the closure graph of some paths (Closure: from the Nix
// daemon when one answers, else from `nix path-info`, parsed by
// store.ParsePathInfo) and the store directory the environment names
// (StoreDir).
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/store/daemon"
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

// ClosureOf is the closure, from the local store (see Closure), of the
// store paths that the strings mention, in order. A mention of a store path
// that is not in the store is an error naming the string.
func ClosureOf(ctx context.Context, getenv func(string) string, storeDir string, strs []Named) (*store.Graph, error) {
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
	return Closure(ctx, getenv, storeDir, roots)
}

// Closure returns the closure of roots as a graph in storeDir. It asks the
// Nix daemon on its socket when the store Nix would open is the daemon's
// (daemon.SocketPath, reading Nix's configuration files with os.ReadFile)
// and a daemon answers there: that costs a connection, where starting
// `nix` costs 50 to 90 ms. Otherwise (no daemon, as in single-user
// installs, or another store configured), and when the daemon fails (a
// path it does not hold, a store directory it does not serve), it asks
// `nix path-info`, which honours all of Nix's settings.
// Both read the same database. When both fail, the error tells both; the
// end of ctx is not retried. getenv chooses the daemon; `nix path-info`
// runs with the process's environment (the command line passes
// os.Getenv).
func Closure(ctx context.Context, getenv func(string) string, storeDir string, roots []string) (*store.Graph, error) {
	if len(roots) == 0 {
		return store.NewGraph(nil, storeDir)
	}
	socket, ok := daemon.SocketPath(getenv, os.ReadFile)
	if !ok {
		return pathInfoClosure(ctx, storeDir, roots)
	}
	g, daemonErr := daemonClosure(ctx, socket, storeDir, roots)
	if daemonErr == nil || ctx.Err() != nil {
		return g, daemonErr
	}
	g, err := pathInfoClosure(ctx, storeDir, roots)
	switch {
	case err == nil:
		return g, nil
	case errors.Is(daemonErr, daemon.ErrUnavailable):
		return nil, fmt.Errorf("%w (and %v)", err, daemonErr)
	default:
		return nil, fmt.Errorf("%w (and then %v)", daemonErr, err)
	}
}

// daemonClosure asks the Nix daemon listening on socket for the closure of
// roots and returns it as a graph in storeDir. Its error wraps
// daemon.ErrUnavailable when no daemon answered.
func daemonClosure(ctx context.Context, socket, storeDir string, roots []string) (*store.Graph, error) {
	c, err := daemon.Dial(ctx, socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	infos, err := c.Closure(roots)
	if err != nil {
		return nil, err
	}
	g, err := store.NewGraph(infos, storeDir)
	if err != nil {
		return nil, fmt.Errorf("closure from the nix daemon: %w", err)
	}
	return g, nil
}

// pathInfoClosure asks `nix path-info --json --recursive` for the closure
// of roots and returns it as a graph in storeDir.
func pathInfoClosure(ctx context.Context, storeDir string, roots []string) (*store.Graph, error) {
	args := append([]string{"--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive"}, roots...)
	cmd := exec.CommandContext(ctx, "nix", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			return nil, fmt.Errorf("nix path-info of %s: %w", strings.Join(roots, " "), err)
		}
		return nil, fmt.Errorf("nix path-info of %s: %w: %s", strings.Join(roots, " "), err, msg)
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
