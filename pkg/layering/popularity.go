package layering

import (
	"fmt"
	"math/big"
	"math/bits"
	"sort"
	"strings"
)

// popularityOrder is popularity_contest's order of g's vertices: most
// popular first, then by packageName. A vertex's popularity, as nixpkgs'
// popularity_contest counts it over the tree of every path from the
// graph's roots, is the sum, over the vertex and each vertex that depends
// on it, of the number of paths from a root to that vertex. Those counts
// grow exponentially with the depth of the graph, hence big integers.
// References that form a cycle, which nixpkgs recurses on forever, are an
// error.
func popularityOrder(g *graph, paths []string) ([]int, error) {
	n := len(g.vs)
	local := make(map[int]int, n)
	for i, v := range g.vs {
		local[v] = i
	}
	preds := make([][]int, n)
	indegree := make([]int, n)
	for i, v := range g.vs {
		for _, w := range g.out[v] {
			j := local[w]
			preds[j] = append(preds[j], i)
			indegree[j]++
		}
	}
	// Topological order (Kahn's), roots first.
	order := make([]int, 0, n)
	for i := range n {
		if indegree[i] == 0 {
			order = append(order, i)
		}
	}
	for k := 0; k < len(order); k++ {
		for _, w := range g.out[g.vs[order[k]]] {
			j := local[w]
			if indegree[j]--; indegree[j] == 0 {
				order = append(order, j)
			}
		}
	}
	if len(order) < n {
		for i := range n {
			if indegree[i] > 0 {
				return nil, fmt.Errorf("the references of %s form a cycle (Nix closures have none)", paths[g.vs[i]])
			}
		}
	}
	// walks[i]: the number of paths from a root to i; above[i]: i and the
	// vertices that depend on it.
	words := (n + 63) / 64
	walks := make([]*big.Int, n)
	above := make([][]uint64, n)
	for _, i := range order {
		above[i] = make([]uint64, words)
		above[i][i/64] |= 1 << (uint(i) % 64)
		walks[i] = new(big.Int)
		if len(preds[i]) == 0 {
			walks[i].SetInt64(1)
		}
		for _, p := range preds[i] {
			walks[i].Add(walks[i], walks[p])
			for w := range above[i] {
				above[i][w] |= above[p][w]
			}
		}
	}
	pop := make([]*big.Int, n)
	for i := range n {
		pop[i] = new(big.Int)
		for w, word := range above[i] {
			for word != 0 {
				b := bits.TrailingZeros64(word)
				word &= word - 1
				pop[i].Add(pop[i], walks[w*64+b])
			}
		}
	}
	ranked := make([]int, n)
	for i := range ranked {
		ranked[i] = i
	}
	sort.Slice(ranked, func(a, b int) bool {
		i, j := ranked[a], ranked[b]
		if c := pop[i].Cmp(pop[j]); c != 0 {
			return c > 0
		}
		return packageName(paths[g.vs[i]]) < packageName(paths[g.vs[j]])
	})
	out := make([]int, n)
	for k, i := range ranked {
		out[k] = g.vs[i]
	}
	return out, nil
}

// packageName is popularity_contest's tie-break key: the path with its
// part up to the first '-' (the store directory and hash) moved to the
// end, so that equally popular paths are ordered by name, then hash.
func packageName(path string) string {
	first, rest, ok := strings.Cut(path, "-")
	if !ok {
		return path
	}
	return rest + "-" + first
}
