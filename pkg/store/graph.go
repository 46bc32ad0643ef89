// Package store models Nix store paths and their closure graphs: the graphs
// Nix exports to builders through exportReferencesGraph and the ones
// `nix path-info --json --recursive` prints.
//
// A Graph holds one entry per store path (its references and, when Nix
// provided them, its NAR hash and size). Graphs come from every format Nix
// writes: the JSON array placed in .attrs.json under structured attributes
// (ParseJSON), the text registration format written for non-structured
// derivations (ParseRegistration) and `nix path-info --json` output, an
// array or an object keyed by path (ParsePathInfo); Parse tells them apart.
// Merge joins graphs. The store directory is taken from the data itself,
// never assumed.
//
// On a graph, Closure gives what a set of roots needs and FindReferences
// which of its paths a string mentions (Mentions scans a string for store
// paths, without looking them up). Popularity ranks the paths of a closure
// by how many others depend on them.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/storepath"
)

// ErrNotInGraph is wrapped by the errors for a store path that a string, a
// root or a reference names but the graph does not hold.
var ErrNotInGraph = errors.New("is not in the closure graph")

// ErrNotClosed is wrapped by the error for a graph whose closure refers to
// a store path it does not hold.
var ErrNotClosed = errors.New("closure is not closed")

// maxNameLen is the longest store path name Nix accepts.
const maxNameLen = 211

// hashLen is the length of the nix-base32 hash part of a store path's base name.
const hashLen = 32

// PathInfo is one entry of a closure graph: a store path and what Nix knows
// about it. Only Path and References are always present; the text format
// carries nothing else.
type PathInfo struct {
	// Path is the absolute store path, e.g. /nix/store/<hash>-hello-2.12.
	Path string `json:"path"`
	// NarHash is the SHA-256 of the path's NAR serialisation as Nix writes it
	// ("sha256:" followed by nix-base32), or empty when unknown.
	NarHash string `json:"narHash,omitempty"`
	// NarSize is the size of the NAR serialisation in bytes, or 0 when unknown.
	NarSize uint64 `json:"narSize,omitempty"`
	// References are the absolute store paths this path refers to; they may
	// include Path itself.
	References []string `json:"references"`
	// ClosureSize is the sum of the NAR sizes of this path's closure.
	ClosureSize uint64 `json:"closureSize,omitempty"`
	// CA is the content address of content-addressed paths.
	CA string `json:"ca,omitempty"`
	// Valid is written by Nix 2.15 and later; it is always true there.
	Valid *bool `json:"valid,omitempty"`
}

// Name returns the name part of the store path (after "<hash>-").
func (p *PathInfo) Name() string {
	return path.Base(p.Path)[hashLen+1:]
}

// Graph is a set of store paths and their references, all in one store
// directory. It is immutable once built.
type Graph struct {
	storeDir string
	infos    map[string]*PathInfo
	byHash   map[string]*PathInfo
}

// NewGraph checks infos and indexes them. storeDir may be empty, in which case
// it is taken from the entries; every entry and reference must lie directly in
// the same store directory. Duplicate entries, entries sharing a hash part and
// invalid store paths are errors. References to paths missing from the graph
// are allowed here and reported by Closure, which is where they matter.
func NewGraph(infos []PathInfo, storeDir string) (*Graph, error) {
	if storeDir != "" {
		if err := checkStoreDir(storeDir); err != nil {
			return nil, err
		}
	}
	g := &Graph{
		storeDir: storeDir,
		infos:    make(map[string]*PathInfo, len(infos)),
		byHash:   make(map[string]*PathInfo, len(infos)),
	}
	checked := make(map[string]bool, len(infos))
	for i := range infos {
		info := infos[i]
		dir, err := g.checkPath(info.Path)
		if err != nil {
			return nil, fmt.Errorf("graph entry %d: %w", i, err)
		}
		if g.storeDir == "" {
			if err := checkStoreDir(dir); err != nil {
				return nil, fmt.Errorf("graph entry %d: %w", i, err)
			}
			g.storeDir = dir
		}
		if info.Valid != nil && !*info.Valid {
			return nil, fmt.Errorf("graph entry %s: marked as not valid", info.Path)
		}
		if _, dup := g.infos[info.Path]; dup {
			return nil, fmt.Errorf("graph entry %s: appears twice", info.Path)
		}
		// Nix finds paths (and references) by hash part: two paths
		// sharing one cannot both be valid.
		if same, dup := g.byHash[hashPart(info.Path)]; dup {
			return nil, fmt.Errorf("graph entries %s and %s have the same hash", same.Path, info.Path)
		}
		checked[info.Path] = true
		refs := make([]string, 0, len(info.References))
		seen := make(map[string]bool, len(info.References))
		for _, r := range info.References {
			// A reference is usually an entry too, or the reference of
			// others: each string is validated once.
			if !checked[r] {
				if _, err := g.checkPath(r); err != nil {
					return nil, fmt.Errorf("graph entry %s: reference: %w", info.Path, err)
				}
				checked[r] = true
			}
			if !seen[r] {
				seen[r] = true
				refs = append(refs, r)
			}
		}
		sort.Strings(refs)
		info.References = refs
		g.infos[info.Path] = &info
		g.byHash[hashPart(info.Path)] = &info
	}
	return g, nil
}

// checkPath validates an absolute store path and returns its directory. When
// the graph's store directory is known, the path must lie in it.
func (g *Graph) checkPath(p string) (string, error) {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if g.storeDir != "" && dir != g.storeDir {
		return "", fmt.Errorf("store path %q is not in the store directory %s", p, g.storeDir)
	}
	if err := ValidateBaseName(base); err != nil {
		return "", fmt.Errorf("store path %q: %w", p, err)
	}
	return dir, nil
}

// ValidateBaseName checks that base is a valid store path base name,
// "<32 nix-base32 characters>-<name>", using go-nix's rules plus what they
// miss (the dash and a non-empty name: go-nix accepts 33 hash characters)
// and Nix's limit on the name's length.
func ValidateBaseName(base string) error {
	if len(base) < hashLen+2 || base[hashLen] != '-' {
		return errors.New("not a valid store path name")
	}
	if _, err := storepath.FromString(base); err != nil {
		return errors.New("not a valid store path name")
	}
	if len(base)-hashLen-1 > maxNameLen {
		return fmt.Errorf("name longer than %d characters", maxNameLen)
	}
	return nil
}

func checkStoreDir(dir string) error {
	if dir == "" || dir[0] != '/' || path.Clean(dir) != dir || dir == "/" {
		return fmt.Errorf("store directory %q is not a clean absolute path", dir)
	}
	// No path holds a NUL byte, and Nix's own line-based formats could not
	// name a store directory with a newline.
	if strings.ContainsAny(dir, "\x00\n") {
		return fmt.Errorf("store directory %q contains a NUL byte or a newline", dir)
	}
	return nil
}

func hashPart(p string) string {
	return path.Base(p)[:hashLen]
}

// StoreDir returns the store directory of the graph's paths, e.g. /nix/store.
// It is empty for an empty graph built without an explicit store directory.
func (g *Graph) StoreDir() string { return g.storeDir }

// Len returns the number of entries in the graph.
func (g *Graph) Len() int { return len(g.infos) }

// Lookup returns the entry for the absolute store path p.
func (g *Graph) Lookup(p string) (*PathInfo, bool) {
	info, ok := g.infos[p]
	return info, ok
}

// Paths returns every store path in the graph, sorted.
func (g *Graph) Paths() []string {
	out := make([]string, 0, len(g.infos))
	for p := range g.infos {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Closure returns the entries reachable from roots (the roots included),
// sorted by path. It fails when a root is not in the graph or when a path in
// the closure refers to a path the graph lacks, since a rootfs built from
// such a closure would be missing files.
func (g *Graph) Closure(roots []string) ([]*PathInfo, error) {
	visited := make(map[string]*PathInfo, len(g.infos))
	stack := make([]string, 0, len(roots))
	for _, r := range roots {
		if _, ok := g.infos[r]; !ok {
			return nil, fmt.Errorf("store path %s %w", r, ErrNotInGraph)
		}
		stack = append(stack, r)
	}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, done := visited[p]; done {
			continue
		}
		info := g.infos[p]
		visited[p] = info
		for _, r := range info.References {
			if _, ok := g.infos[r]; !ok {
				return nil, fmt.Errorf("%w: %s refers to %s, which is not in the graph", ErrNotClosed, p, r)
			}
			if _, done := visited[r]; !done {
				stack = append(stack, r)
			}
		}
	}
	out := make([]*PathInfo, 0, len(visited))
	for _, info := range visited {
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// FindReferences returns the store paths of the graph that s mentions, in
// order of first appearance and without duplicates. s may embed paths
// anywhere ("exec /nix/store/<hash>-foo/bin/foo --flag"). A mention of a
// store path that the graph lacks is an error naming it, because the
// container would not contain it.
func (g *Graph) FindReferences(s string) ([]string, error) {
	if g.storeDir == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, m := range Mentions(s, g.storeDir) {
		info, ok := g.byHash[m.Hash]
		if !ok || !strings.HasPrefix(s[m.Start:m.End], info.Path) {
			return nil, fmt.Errorf("%s %w", s[m.Start:m.End], ErrNotInGraph)
		}
		if !seen[info.Path] {
			seen[info.Path] = true
			out = append(out, info.Path)
		}
	}
	return out, nil
}

// Mention is where a string names a store path: s[Start:End] is
// "<storeDir>/<hash>-<name>", the name running as far as characters that
// store path names may contain go. The path meant may be shorter (names may
// contain dots: "${p}." reads either way), never longer.
type Mention struct {
	Start, End int
	// Hash is the path's nix-base32 hash part.
	Hash string
}

// Mentions finds every mention of a store path of storeDir in s, in order.
// It only reads s: FindReferences looks the mentions up in a graph.
func Mentions(s, storeDir string) []Mention {
	prefix := storeDir + "/"
	var out []Mention
	for i := 0; ; {
		j := strings.Index(s[i:], prefix)
		if j < 0 {
			return out
		}
		start := i + j
		i = start + len(prefix)
		rest := s[i:]
		if len(rest) < hashLen+2 || rest[hashLen] != '-' || !isHash(rest[:hashLen]) || !isNameChar(rest[hashLen+1]) {
			continue
		}
		end := i + hashLen + 1
		for end < len(s) && isNameChar(s[end]) {
			end++
		}
		out = append(out, Mention{Start: start, End: end, Hash: rest[:hashLen]})
		i = end
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

// MarshalJSON writes the graph as the JSON array of exportReferencesGraph
// under structured attributes (what ParseJSON reads), entries sorted by
// path: path, narHash and narSize when known, references. The closure
// sizes and content addresses Nix adds are left out.
func (g *Graph) MarshalJSON() ([]byte, error) {
	entries := make([]PathInfo, 0, len(g.infos))
	for _, p := range g.Paths() {
		info := g.infos[p]
		entries = append(entries, PathInfo{Path: info.Path, NarHash: info.NarHash, NarSize: info.NarSize, References: info.References})
	}
	return json.Marshal(entries)
}
