package store

import "math/bits"

// Popularity returns, for each path of the closure, how many other paths of
// the closure depend on it, directly or through other paths. References to
// paths outside the closure and self-references are ignored; paths that
// refer to each other (which Nix does not allow, but a graph file may hold)
// count each other.
func Popularity(closure []*PathInfo) map[string]int {
	n := len(closure)
	index := make(map[string]int, n)
	for i, info := range closure {
		index[info.Path] = i
	}
	succ := make([][]int, n)
	for i, info := range closure {
		for _, r := range info.References {
			if j, ok := index[r]; ok && j != i {
				succ[i] = append(succ[i], j)
			}
		}
	}
	comp, order := components(succ)
	// anc[c] has a bit for every path that can reach component c (the
	// component's own paths included). Tarjan's algorithm finishes a
	// component after every component it reaches, so walking the order
	// backwards visits a component after all of its predecessors.
	words := (n + 63) / 64
	anc := make([][]uint64, len(order))
	members := make([][]int, len(order))
	for i := 0; i < n; i++ {
		members[comp[i]] = append(members[comp[i]], i)
	}
	for k := len(order) - 1; k >= 0; k-- {
		c := order[k]
		if anc[c] == nil {
			anc[c] = make([]uint64, words)
		}
		for _, i := range members[c] {
			anc[c][i/64] |= 1 << (uint(i) % 64)
		}
		for _, i := range members[c] {
			for _, j := range succ[i] {
				d := comp[j]
				if d == c {
					continue
				}
				if anc[d] == nil {
					anc[d] = make([]uint64, words)
				}
				for w := range anc[c] {
					anc[d][w] |= anc[c][w]
				}
			}
		}
	}
	out := make(map[string]int, n)
	for i, info := range closure {
		count := 0
		for _, w := range anc[comp[i]] {
			count += bits.OnesCount64(w)
		}
		out[info.Path] = count - 1
	}
	return out
}

// components finds the strongly connected components of the graph succ
// (Tarjan's algorithm, iteratively). It returns each node's component and
// the components in the order they were completed: a component comes after
// every component it reaches.
func components(succ [][]int) ([]int, []int) {
	n := len(succ)
	const unvisited = -1
	idx := make([]int, n)
	low := make([]int, n)
	comp := make([]int, n)
	onStack := make([]bool, n)
	for i := range idx {
		idx[i] = unvisited
	}
	var stack, order []int
	next := 0
	type frame struct{ node, edge int }
	for root := 0; root < n; root++ {
		if idx[root] != unvisited {
			continue
		}
		calls := []frame{{root, 0}}
		idx[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			v := f.node
			if f.edge < len(succ[v]) {
				w := succ[v][f.edge]
				f.edge++
				if idx[w] == unvisited {
					idx[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					calls = append(calls, frame{w, 0})
				} else if onStack[w] && idx[w] < low[v] {
					low[v] = idx[w]
				}
				continue
			}
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				parent := calls[len(calls)-1].node
				if low[v] < low[parent] {
					low[parent] = low[v]
				}
			}
			if low[v] == idx[v] {
				c := len(order)
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = c
					if w == v {
						break
					}
				}
				order = append(order, c)
			}
		}
	}
	return comp, order
}
