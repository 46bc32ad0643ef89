package layering

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// AutoLayer is one layer auto-layer made.
type AutoLayer struct {
	// Paths are the layer's store paths, ordered by name, then hash.
	Paths []string
	// UsedBy are the layer roots (the store paths auto-layer chose by
	// size) whose layer this is, ordered as Paths; none for the layer of
	// the paths no root took.
	UsedBy []string
	// Size is the NAR size of Paths; ClosureSize that of their closure.
	Size, ClosureSize uint64
}

// AutoLayers splits a closure graph into at most limit layers as nixpkgs'
// auto-layer does (dockerTools' default layering since nixpkgs PR
// #355189, pkgs/build-support/docker/auto-layer.py), leaving the store
// paths of ignore out of the layers (but not out of the graph: nixpkgs
// gives auto-layer the graph of its image configuration and customisation
// layer derivations, and leaves those two out of its layers).
//
// Each layer is identified by a set of layer roots. At first every path is
// in the layer of no root. Then, largest NAR size first, each path in turn
// becomes a layer root: it gets a layer of its own, and each of its
// dependencies leaves the roots that depend on the new root (which now
// reach it through it) and joins the new root's layer, unless it already
// belongs to a root that the new root depends on. So a root's layer holds
// it and the dependencies only it uses, and a dependency shared by several
// roots is in the layer of that set of roots. The first root that would
// make more than limit layers stops the iteration, and the split before
// it is kept. Layers are ordered by the NAR size of their closure, so
// that a layer comes after those it depends on; within a layer, paths are
// ordered by name, then hash. Layers left empty by ignore are dropped.
//
// Ties are broken deterministically. Paths of equal NAR size become roots
// in reverse path order: nixpkgs sorts its graph by NAR size, stably, and
// takes the largest from the end; its graph is exportReferencesGraph's,
// which Nix writes in path order, and the closure here is put in path
// order before that sort, whatever order it comes in. Layers of equal
// closure size, which nixpkgs orders as a Python set happens to iterate
// them, are ordered here by their paths (name, then hash, the first path
// first). References to paths outside the closure, and to a path itself,
// are ignored.
func AutoLayers(closure []*store.PathInfo, ignore map[string]bool, limit int) ([]AutoLayer, error) {
	if limit < 1 {
		return nil, fmt.Errorf("auto-layer: the layer limit must be at least 1, got %d", limit)
	}
	infos := append([]*store.PathInfo(nil), closure...)
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	n := len(infos)
	index := make(map[string]int, n)
	for i, info := range infos {
		if _, dup := index[info.Path]; dup {
			return nil, fmt.Errorf("auto-layer: store path %s appears twice in the closure", info.Path)
		}
		index[info.Path] = i
	}
	deps := make(map[int][]int, n)
	users := make(map[int][]int, n)
	for i, info := range infos {
		for _, ref := range info.References {
			if j, ok := index[ref]; ok && j != i {
				deps[i] = append(deps[i], j)
				users[j] = append(users[j], i)
			}
		}
	}
	bySize := make([]int, n)
	for i := range bySize {
		bySize[i] = i
	}
	sort.SliceStable(bySize, func(a, b int) bool { return infos[bySize[a]].NarSize < infos[bySize[b]].NarSize })

	// split[v] is the set of roots whose layer v is in, sorted.
	split := make([][]int, n)
	for k := n - 1; k >= 0; k-- {
		root := bySize[k]
		// auto-layer's dependencies and users: the root left out.
		below := reach(deps, []int{root})
		delete(below, root)
		above := reach(users, []int{root})
		delete(above, root)
		next := append([][]int(nil), split...)
		next[root] = []int{root}
		for _, d := range keys(below) {
			s := without(next[d], above)
			if !anyIn(s, below) {
				s = with(s, root)
			}
			next[d] = s
		}
		if countLayers(next) > limit {
			break
		}
		split = next
	}

	byKey := map[string]*AutoLayer{}
	var layers []*AutoLayer
	members := map[*AutoLayer][]int{}
	for v := range infos {
		key := setKey(split[v])
		l := byKey[key]
		if l == nil {
			l = &AutoLayer{}
			for _, r := range split[v] {
				l.UsedBy = append(l.UsedBy, infos[r].Path)
			}
			sortByName(l.UsedBy)
			byKey[key] = l
			layers = append(layers, l)
		}
		members[l] = append(members[l], v)
		l.Paths = append(l.Paths, infos[v].Path)
		l.Size += infos[v].NarSize
	}
	for _, l := range layers {
		sortByName(l.Paths)
		for v := range reach(deps, members[l]) {
			l.ClosureSize += infos[v].NarSize
		}
	}
	sort.Slice(layers, func(i, j int) bool {
		a, b := layers[i], layers[j]
		if a.ClosureSize != b.ClosureSize {
			return a.ClosureSize < b.ClosureSize
		}
		// Layers are disjoint: their first paths differ.
		return nameLess(a.Paths[0], b.Paths[0])
	})
	var out []AutoLayer
	for _, l := range layers {
		kept := l.Paths[:0:0]
		for _, p := range l.Paths {
			if !ignore[p] {
				kept = append(kept, p)
			}
		}
		if len(kept) > 0 {
			l.Paths = kept
			out = append(out, *l)
		}
	}
	return out, nil
}

// without is s less the members of drop, as a new slice.
func without(s []int, drop map[int]bool) []int {
	out := make([]int, 0, len(s)+1)
	for _, v := range s {
		if !drop[v] {
			out = append(out, v)
		}
	}
	return out
}

// with adds v to the sorted s (which has room for it, see without).
func with(s []int, v int) []int {
	i := sort.SearchInts(s, v)
	if i < len(s) && s[i] == v {
		return s
	}
	s = append(s, 0)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func anyIn(s []int, set map[int]bool) bool {
	for _, v := range s {
		if set[v] {
			return true
		}
	}
	return false
}

// setKey identifies a sorted set of vertices.
func setKey(s []int) string {
	var b strings.Builder
	for _, v := range s {
		b.WriteString(strconv.Itoa(v))
		b.WriteByte(',')
	}
	return b.String()
}

// countLayers is the number of distinct sets in split.
func countLayers(split [][]int) int {
	keys := map[string]bool{}
	for _, s := range split {
		keys[setKey(s)] = true
	}
	return len(keys)
}

// nameLess orders store paths by name, then hash, as auto-layer's
// path_key: a path's text after its first "-" (its name), then the text
// before it.
func nameLess(a, b string) bool {
	ah, an, _ := strings.Cut(a, "-")
	bh, bn, _ := strings.Cut(b, "-")
	if an != bn {
		return an < bn
	}
	return ah < bh
}

func sortByName(paths []string) {
	sort.Slice(paths, func(i, j int) bool { return nameLess(paths[i], paths[j]) })
}
