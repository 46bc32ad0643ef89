// Package nixstore asks the local Nix store about closures, for the
// standalone command line (outside a derivation, where Nix does not hand
// the graph over).
package nixstore

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

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// hashLen is the length of a store path's hash part.
const hashLen = 32

// Mentions returns the store paths under storeDir that s mentions, each
// once, in order: "<storeDir>/<32 nix-base32 characters>-<name>" where the
// name is the longest that exists on disk (names may contain dots, so
// "${p}." could be read either way). Mentions of paths that do not exist are
// returned apart, as written.
func Mentions(s, storeDir string) (found, missing []string) {
	prefix := storeDir + "/"
	seen := map[string]bool{}
	for i := 0; ; {
		j := strings.Index(s[i:], prefix)
		if j < 0 {
			return found, missing
		}
		start := i + j + len(prefix)
		i = start
		if len(s) < start+hashLen+2 || s[start+hashLen] != '-' || !isHash(s[start:start+hashLen]) {
			continue
		}
		end := start + hashLen + 1
		for end < len(s) && isNameChar(s[end]) {
			end++
		}
		exists := false
		for k := end; k > start+hashLen+1 && !exists; k-- {
			p := s[i-len(prefix) : k]
			if _, err := os.Lstat(p); err == nil {
				exists = true
				if !seen[p] {
					seen[p] = true
					found = append(found, p)
				}
			}
		}
		if !exists {
			missing = append(missing, s[i-len(prefix):end])
		}
	}
}

func isHash(s string) bool {
	for k := 0; k < len(s); k++ {
		if !nixbase32.Is(s[k]) {
			return false
		}
	}
	return true
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("+-._?=", c) >= 0
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
	return ParsePathInfo(stdout.Bytes(), storeDir)
}

// ParsePathInfo reads `nix path-info --json` output: an array of entries
// with "path" (Nix 2.4 to 2.18) or an object keyed by path (Nix 2.19 and
// later). narHash may be SRI ("sha256-...") or "sha256:<nix-base32>".
func ParsePathInfo(data []byte, storeDir string) (*store.Graph, error) {
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
	g, err := store.ParseJSON(trimmed, storeDir)
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
