// Package localstore asks the local Nix store about closures, for the
// standalone command line (outside a derivation, where Nix does not hand
// the graph over).
package localstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/graph"
)

// Mentions returns the store paths under storeDir that s mentions, each
// once, in order, with the longest name that exists on disk (names may
// contain dots, so "${p}." could be read either way). Mentions of paths
// that do not exist are returned apart, as written.
func Mentions(s, storeDir string) (found, missing []string) {
	seen := map[string]bool{}
	for _, m := range graph.Mentions(s, storeDir) {
		exists := false
		// The shortest candidate is "<storeDir>/<hash>-" plus one character.
		for end := m.End; end > m.Start+len(storeDir)+35 && !exists; end-- {
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

// Closure asks `nix path-info --json --recursive` for the closure of roots
// and returns it as a graph in storeDir. nixCmd is the nix executable
// ("nix" when empty).
func Closure(ctx context.Context, nixCmd, storeDir string, roots []string) (*graph.Graph, error) {
	if len(roots) == 0 {
		return graph.NewGraph(nil, storeDir)
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
	return ParsePathInfo(stdout.Bytes(), storeDir)
}

// ParsePathInfo reads `nix path-info --json` output: an array of entries
// with "path" (Nix 2.4 to 2.18) or an object keyed by path (Nix 2.19 and
// later). narHash may be SRI ("sha256-...") or "sha256:<nix-base32>".
func ParsePathInfo(data []byte, storeDir string) (*graph.Graph, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var byPath map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &byPath); err != nil {
			return nil, fmt.Errorf("nix path-info output: %w", err)
		}
		keys := make([]string, 0, len(byPath))
		for k := range byPath {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var entries []json.RawMessage
		for _, k := range keys {
			if bytes.Equal(bytes.TrimSpace(byPath[k]), []byte("null")) {
				return nil, fmt.Errorf("%s is not valid in the local store", k)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(byPath[k], &fields); err != nil {
				return nil, fmt.Errorf("nix path-info output for %s: %w", k, err)
			}
			fields["path"], _ = json.Marshal(k)
			entry, _ := json.Marshal(fields)
			entries = append(entries, entry)
		}
		trimmed, _ = json.Marshal(entries)
	}
	g, err := graph.ParseJSON(trimmed, storeDir)
	if err != nil {
		return nil, fmt.Errorf("nix path-info output: %w", err)
	}
	return g, nil
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
