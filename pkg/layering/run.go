package layering

import (
	"fmt"
	"sort"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// Result is what a pipeline made of a closure.
type Result struct {
	// Layers are the groups of store paths, each non-empty, in the order
	// the pipeline gave them; within a layer, paths are in their graph's
	// order (NAR size, then path, for a graph no step reordered).
	Layers [][]string
	// Warnings name the store paths the pipeline names that are not in
	// the closure (ignored, as nixpkgs ignores them).
	Warnings []string
}

// value is what a step takes and gives: *graph, list or *dict.
type value any

// list is a list of values (popularity_contest's, split_every's,
// flatten's).
type list []value

// dict is split_paths' and subcomponent's result: graphs by key, in order.
type dict struct {
	keys []string
	vals map[string]value
}

// graph is a directed graph on the closure's vertices (indices into
// runner.paths): its vertices in order, and its edges, a vertex's
// references within the graph.
type graph struct {
	vs  []int
	out map[int][]int
}

// runner holds the closure graph a pipeline runs on.
type runner struct {
	// paths are the closure's store paths, ordered by NAR size then path:
	// vertex i is paths[i].
	paths []string
	index map[string]int
}

// Run applies the pipeline to the closure (whose references outside it
// are ignored, as those to itself) and returns its layers.
func (p *Pipeline) Run(closure []*store.PathInfo) (*Result, error) {
	r, full, err := newRunner(closure)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	seen := map[string]bool{}
	for _, path := range p.Paths() {
		if _, ok := r.index[path]; !ok && !seen[path] {
			seen[path] = true
			res.Warnings = append(res.Warnings, fmt.Sprintf("layeringPipeline names %s, which is not in the image's closure: ignored", path))
		}
	}
	v, err := r.pipe(p.steps, full)
	if err != nil {
		return nil, err
	}
	if _, ok := v.(*graph); ok {
		return nil, fmt.Errorf("the pipeline gives one graph, not a list of layers: end it with a step that makes several (popularity_contest, split_every, split_paths, subcomponent_out, flatten, ...)")
	}
	graphs, err := flatten(v)
	if err != nil {
		return nil, fmt.Errorf("the pipeline's result: %w", err)
	}
	for _, g := range graphs {
		if len(g.vs) == 0 {
			continue
		}
		l := make([]string, len(g.vs))
		for i, v := range g.vs {
			l[i] = r.paths[v]
		}
		res.Layers = append(res.Layers, l)
	}
	return res, nil
}

// newRunner indexes the closure and makes its graph.
func newRunner(closure []*store.PathInfo) (*runner, *graph, error) {
	infos := append([]*store.PathInfo(nil), closure...)
	// nixpkgs sorts exportReferencesGraph's entries (which Nix writes
	// sorted by path) by NAR size, stably, and igraph keeps that order.
	sort.SliceStable(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	sort.SliceStable(infos, func(i, j int) bool { return infos[i].NarSize < infos[j].NarSize })
	r := &runner{paths: make([]string, len(infos)), index: make(map[string]int, len(infos))}
	for i, info := range infos {
		if _, dup := r.index[info.Path]; dup {
			return nil, nil, fmt.Errorf("store path %s appears twice in the closure", info.Path)
		}
		r.paths[i] = info.Path
		r.index[info.Path] = i
	}
	full := &graph{vs: make([]int, len(infos)), out: map[int][]int{}}
	for i, info := range infos {
		full.vs[i] = i
		for _, ref := range info.References {
			if j, ok := r.index[ref]; ok && j != i {
				full.out[i] = append(full.out[i], j)
			}
		}
	}
	return r, full, nil
}

func (r *runner) pipe(steps []*step, v value) (value, error) {
	for _, s := range steps {
		var err error
		if v, err = r.apply(s, v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// apply applies one step to v.
func (r *runner) apply(s *step, v value) (value, error) {
	fail := func(format string, a ...any) (value, error) {
		return nil, fmt.Errorf("%s: %s", s.name(), fmt.Sprintf(format, a...))
	}
	needGraph := func() (*graph, error) {
		g, ok := v.(*graph)
		if !ok {
			return nil, fmt.Errorf("%s: takes a graph, got %s (use \"over\" or \"map\" to reach the graphs in it)", s.name(), kind(v))
		}
		return g, nil
	}
	needList := func() (list, error) {
		l, ok := v.(list)
		if !ok {
			return nil, fmt.Errorf("%s: takes a list, got %s", s.name(), kind(v))
		}
		return l, nil
	}
	switch s.op {
	case "pipe":
		return r.pipe(s.steps, v)
	case "over":
		d, ok := v.(*dict)
		if !ok {
			return fail("takes the result of split_paths or subcomponent (main, common, rest), got %s", kind(v))
		}
		x, ok := d.vals[s.key]
		if !ok {
			return fail("the value has no %q (it has %s)", s.key, strings.Join(d.keys, ", "))
		}
		y, err := r.apply(s.fn, x)
		if err != nil {
			return nil, err
		}
		out := &dict{keys: d.keys, vals: map[string]value{}}
		for k, val := range d.vals {
			out.vals[k] = val
		}
		out.vals[s.key] = y
		return out, nil
	case "map":
		l, err := needList()
		if err != nil {
			return nil, err
		}
		out := make(list, len(l))
		for i, x := range l {
			if out[i], err = r.apply(s.fn, x); err != nil {
				return nil, err
			}
		}
		return out, nil
	case "flatten":
		if _, ok := v.(*graph); ok {
			return fail("takes a list or the result of split_paths or subcomponent, got a graph")
		}
		graphs, err := flatten(v)
		if err != nil {
			return fail("%v", err)
		}
		out := make(list, len(graphs))
		for i, g := range graphs {
			out[i] = g
		}
		return out, nil
	case "reverse":
		l, err := needList()
		if err != nil {
			return nil, err
		}
		out := make(list, len(l))
		for i, x := range l {
			out[len(l)-1-i] = x
		}
		return out, nil
	case "limit_layers":
		l, err := needList()
		if err != nil {
			return nil, err
		}
		if len(l) < s.n {
			// nixpkgs merges the (none) remaining into an empty graph.
			return append(append(list(nil), l...), &graph{out: map[int][]int{}}), nil
		}
		out := append(list(nil), l[:s.n-1]...)
		merged := &graph{out: map[int][]int{}}
		for _, x := range l[s.n-1:] {
			g, ok := x.(*graph)
			if !ok {
				return fail("can only merge graphs, got %s (flatten first)", kind(x))
			}
			merged = merged.union(g)
		}
		return append(out, merged), nil
	case "split_every":
		g, err := needGraph()
		if err != nil {
			return nil, err
		}
		var out list
		for i := 0; i < len(g.vs); i += s.n {
			end := min(i+s.n, len(g.vs))
			out = append(out, g.induced(setOf(g.vs[i:end])))
		}
		return out, nil
	case "remove_paths":
		g, err := needGraph()
		if err != nil {
			return nil, err
		}
		drop := r.vertices(g, s.paths)
		return g.induced(func(v int) bool { return !drop[v] }), nil
	case "subcomponent_out", "subcomponent_in":
		g, err := needGraph()
		if err != nil {
			return nil, err
		}
		adj := g.out
		if s.op == "subcomponent_in" {
			adj = g.preds()
		}
		main := reach(adj, keys(r.vertices(g, s.paths)))
		return &dict{keys: []string{"main", "rest"}, vals: map[string]value{
			"main": g.induced(func(v int) bool { return main[v] }),
			"rest": g.induced(func(v int) bool { return !main[v] }),
		}}, nil
	case "split_paths":
		g, err := needGraph()
		if err != nil {
			return nil, err
		}
		return r.splitPaths(s.specs, g), nil
	case "popularity_contest":
		g, err := needGraph()
		if err != nil {
			return nil, err
		}
		order, err := popularityOrder(g, r.paths)
		if err != nil {
			return fail("%v", err)
		}
		out := make(list, len(order))
		for i, v := range order {
			out[i] = &graph{vs: []int{v}, out: map[int][]int{}}
		}
		return out, nil
	}
	return fail("unknown operation")
}

// splitPaths is split_paths: the named paths with the dependencies only
// they reach ("main"), the dependencies they share with the rest of the
// graph ("common") and the rest ("rest"), the empty ones left out; all
// three without the edges that pointed at the named paths.
func (r *runner) splitPaths(specs []splitSpec, g *graph) value {
	var split []int
	for _, sp := range specs {
		if sp.path != "" {
			split = append(split, keys(r.vertices(g, []string{sp.path}))...)
			continue
		}
		for _, p := range sp.childrenOf {
			if v, ok := r.index[p]; ok && contains(g.vs, v) {
				split = append(split, g.out[v]...)
			}
		}
	}
	if len(split) == 0 {
		return &dict{keys: []string{"rest"}, vals: map[string]value{"rest": g}}
	}
	preds := g.preds()
	var roots []int
	for _, v := range g.vs {
		if len(preds[v]) == 0 {
			roots = append(roots, v)
		}
	}
	isSplit := setOf(split)
	if len(roots) == 1 && isSplit(roots[0]) {
		// The only root is split off: the whole graph is "main".
		return &dict{keys: []string{"main"}, vals: map[string]value{"main": g}}
	}
	splitOff := reach(g.out, split)
	cut := &graph{vs: g.vs, out: map[int][]int{}}
	for v, ws := range g.out {
		for _, w := range ws {
			if !isSplit(w) {
				cut.out[v] = append(cut.out[v], w)
			}
		}
	}
	// From the root, or from every root (nixpkgs adds a root above them,
	// whose edges to split paths are cut too).
	var start []int
	for _, v := range roots {
		if !isSplit(v) {
			start = append(start, v)
		}
	}
	restWith := reach(cut.out, start)
	d := &dict{vals: map[string]value{}}
	for _, part := range []struct {
		key string
		in  func(int) bool
	}{
		{"main", func(v int) bool { return splitOff[v] && !restWith[v] }},
		{"common", func(v int) bool { return splitOff[v] && restWith[v] }},
		{"rest", func(v int) bool { return restWith[v] && !splitOff[v] }},
	} {
		sub := cut.induced(part.in)
		if len(sub.vs) > 0 {
			d.keys = append(d.keys, part.key)
			d.vals[part.key] = sub
		}
	}
	return d
}

// vertices are the graph's vertices of the given store paths (those it
// lacks ignored).
func (r *runner) vertices(g *graph, paths []string) map[int]bool {
	in := setOf(g.vs)
	out := map[int]bool{}
	for _, p := range paths {
		if v, ok := r.index[p]; ok && in(v) {
			out[v] = true
		}
	}
	return out
}

// induced is the subgraph of the vertices keep accepts, in g's order,
// with g's edges between them.
func (g *graph) induced(keep func(int) bool) *graph {
	sub := &graph{out: map[int][]int{}}
	for _, v := range g.vs {
		if !keep(v) {
			continue
		}
		sub.vs = append(sub.vs, v)
		for _, w := range g.out[v] {
			if keep(w) {
				sub.out[v] = append(sub.out[v], w)
			}
		}
	}
	return sub
}

// union is g's vertices then h's (those g has left out), with both
// graphs' edges and none between them (igraph's disjoint union).
func (g *graph) union(h *graph) *graph {
	u := &graph{vs: append([]int(nil), g.vs...), out: map[int][]int{}}
	in := setOf(g.vs)
	for v, ws := range g.out {
		u.out[v] = append(u.out[v], ws...)
	}
	for _, v := range h.vs {
		if in(v) {
			continue
		}
		u.vs = append(u.vs, v)
		u.out[v] = append(u.out[v], h.out[v]...)
	}
	return u
}

// preds are the graph's reversed edges.
func (g *graph) preds() map[int][]int {
	in := map[int][]int{}
	for _, v := range g.vs {
		for _, w := range g.out[v] {
			in[w] = append(in[w], v)
		}
	}
	return in
}

// reach is the set of vertices reachable from start along adj, start
// included.
func reach(adj map[int][]int, start []int) map[int]bool {
	seen := map[int]bool{}
	stack := append([]int(nil), start...)
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[v] {
			continue
		}
		seen[v] = true
		stack = append(stack, adj[v]...)
	}
	return seen
}

// flatten is nixpkgs' flatten: the graphs of a list or dictionary, its
// lists and dictionaries flattened, in order.
func flatten(v value) ([]*graph, error) {
	var out []*graph
	var walk func(v value) error
	walk = func(v value) error {
		switch v := v.(type) {
		case *graph:
			out = append(out, v)
		case list:
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		case *dict:
			for _, k := range v.keys {
				if err := walk(v.vals[k]); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("holds %s, not graphs", kind(v))
		}
		return nil
	}
	return out, walk(v)
}

// kind names a value's type in messages.
func kind(v value) string {
	switch v := v.(type) {
	case *graph:
		return "a graph"
	case list:
		return fmt.Sprintf("a list of %d", len(v))
	case *dict:
		return "a result of split_paths or subcomponent (" + strings.Join(v.keys, ", ") + ")"
	}
	return fmt.Sprintf("%T", v)
}

func setOf(vs []int) func(int) bool {
	set := make(map[int]bool, len(vs))
	for _, v := range vs {
		set[v] = true
	}
	return func(v int) bool { return set[v] }
}

func contains(vs []int, v int) bool {
	for _, w := range vs {
		if w == v {
			return true
		}
	}
	return false
}

// keys are a set's members, in increasing order.
func keys(set map[int]bool) []int {
	out := make([]int, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Ints(out)
	return out
}
