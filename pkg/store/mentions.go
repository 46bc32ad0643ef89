package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Mentions returns the store paths that s mentions, "<storeDir>/<hash>-<name>"
// followed by anything that cannot be part of a name ("/bin/x", a space, the
// end), in order of first appearance and without duplicates. Without a graph
// to check them against, a mention is as long as the characters a store path
// name may hold allow.
func Mentions(s, storeDir string) []string {
	prefix := storeDir + "/"
	var out []string
	seen := map[string]bool{}
	for i := 0; ; {
		j := strings.Index(s[i:], prefix)
		if j < 0 {
			return out
		}
		start := i + j + len(prefix)
		i = start
		if !looksLikeHash(s[start:]) {
			continue
		}
		base := mentionedBaseName(s[start:])
		if ValidateBaseName(base) != nil {
			continue
		}
		p := prefix + base
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
}

// ParsePathInfo parses what `nix path-info --json` prints: a JSON array of
// objects with "path" (Nix 2.4 to 2.18, the shape of ParseJSON), or an
// object keyed by store path (later versions, where a path that is not
// valid maps to null). References given as base names are taken to be in
// storeDir, which must then be known.
func ParsePathInfo(data []byte, storeDir string) (*Graph, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return ParseJSON(data, storeDir)
	}
	var byPath map[string]*PathInfo
	if err := json.Unmarshal(data, &byPath); err != nil {
		return nil, fmt.Errorf("path info: %w", jsonError(data, err))
	}
	keys := make([]string, 0, len(byPath))
	for k := range byPath {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	infos := make([]PathInfo, 0, len(keys))
	for _, k := range keys {
		info := byPath[k]
		if info == nil {
			return nil, fmt.Errorf("path info: %s is not a valid store path in this store", k)
		}
		info.Path = k
		if storeDir == "" {
			storeDir = path.Dir(k)
		}
		for i, r := range info.References {
			if !strings.HasPrefix(r, "/") {
				info.References[i] = storeDir + "/" + r
			}
		}
		if info.References == nil {
			info.References = []string{}
		}
		infos = append(infos, *info)
	}
	return NewGraph(infos, storeDir)
}
