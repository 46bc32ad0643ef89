package layering

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// testGraph makes a closure from "A>B" edges and lone vertices, every NAR
// size 0 unless sizes says otherwise (so vertices are in name order).
func testGraph(edges []string, lone []string, sizes map[string]uint64) []*store.PathInfo {
	infos := map[string]*store.PathInfo{}
	get := func(n string) *store.PathInfo {
		if infos[n] == nil {
			infos[n] = &store.PathInfo{Path: n, NarSize: sizes[n], References: []string{n}}
		}
		return infos[n]
	}
	for _, e := range edges {
		from, to, _ := strings.Cut(e, ">")
		get(from).References = append(get(from).References, to)
		get(to)
	}
	for _, n := range lone {
		get(n)
	}
	var out []*store.PathInfo
	for _, info := range infos {
		out = append(out, info)
	}
	return out
}

// show renders a value: a graph as its vertices in order and its edges
// sorted ("[B D E](B>D B>E)"), a list as [...], a dictionary as {k: ...}.
func show(r *runner, v value) string {
	switch v := v.(type) {
	case *graph:
		var names, edges []string
		for _, x := range v.vs {
			names = append(names, r.paths[x])
			for _, y := range v.out[x] {
				edges = append(edges, r.paths[x]+">"+r.paths[y])
			}
		}
		sort.Strings(edges)
		s := "[" + strings.Join(names, " ") + "]"
		if len(edges) > 0 {
			s += "(" + strings.Join(edges, " ") + ")"
		}
		return s
	case list:
		var parts []string
		for _, x := range v {
			parts = append(parts, show(r, x))
		}
		return "<" + strings.Join(parts, " ") + ">"
	case *dict:
		var parts []string
		for _, k := range v.keys {
			parts = append(parts, k+": "+show(r, v.vals[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf("%T", v)
}

// runValue applies a pipeline to a closure and shows the value it gives,
// before the final flattening.
func runValue(t *testing.T, pipeline string, closure []*store.PathInfo) string {
	t.Helper()
	p, err := Parse([]byte(pipeline))
	if err != nil {
		t.Fatalf("Parse(%s): %v", pipeline, err)
	}
	r, full, err := newRunner(closure)
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.pipe(p.steps, full)
	if err != nil {
		t.Fatalf("%s: %v", pipeline, err)
	}
	return show(r, v)
}

// nixpkgs' subcomponent_test.py graph.
var subcomponentGraph = []string{"Root1>A", "A>B", "A>C", "B>D", "B>E", "Root2>B", "Root3>C"}

// nixpkgs' split_paths_test.py and popularity_contest_test.py graph.
var splitGraph = []string{"Root1>A", "A>B", "A>D", "D>E", "B>D", "B>F", "Root2>B", "Root3>C"}

// Ported from nixpkgs' subcomponent_test.py, split_paths_test.py and
// popularity_contest_test.py: one step's result, edges included.
func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pipeline string
		edges    []string
		lone     []string
		want     string
	}{
		{"subcomponent_out empty paths", `[["subcomponent_out", []]]`, subcomponentGraph, []string{"X"},
			"{main: [], rest: [A B C D E Root1 Root2 Root3 X](A>B A>C B>D B>E Root1>A Root2>B Root3>C)}"},
		{"subcomponent_in empty paths", `[["subcomponent_in", []]]`, subcomponentGraph, []string{"X"},
			"{main: [], rest: [A B C D E Root1 Root2 Root3 X](A>B A>C B>D B>E Root1>A Root2>B Root3>C)}"},
		{"subcomponent_out empty graph", `[["subcomponent_out", ["B"]]]`, nil, nil, "{main: [], rest: []}"},
		{"subcomponent_in empty graph", `[["subcomponent_in", ["B"]]]`, nil, nil, "{main: [], rest: []}"},
		{"subcomponent_out", `[["subcomponent_out", ["B"]]]`, subcomponentGraph, []string{"X"},
			"{main: [B D E](B>D B>E), rest: [A C Root1 Root2 Root3 X](A>C Root1>A Root3>C)}"},
		{"subcomponent_out multi", `[["subcomponent_out", ["B", "Root3"]]]`, subcomponentGraph, []string{"X"},
			"{main: [B C D E Root3](B>D B>E Root3>C), rest: [A Root1 Root2 X](Root1>A)}"},
		{"subcomponent_in", `[["subcomponent_in", ["B"]]]`, subcomponentGraph, []string{"X"},
			"{main: [A B Root1 Root2](A>B Root1>A Root2>B), rest: [C D E Root3 X](Root3>C)}"},
		{"subcomponent_in multi", `[["subcomponent_in", ["B", "Root3"]]]`, subcomponentGraph, []string{"X"},
			"{main: [A B Root1 Root2 Root3](A>B Root1>A Root2>B), rest: [C D E X]}"},
		{"split_paths empty paths", `[["split_paths", []]]`, splitGraph, []string{"X"},
			"{rest: [A B C D E F Root1 Root2 Root3 X](A>B A>D B>D B>F D>E Root1>A Root2>B Root3>C)}"},
		{"split_paths empty graph", `[["split_paths", ["B"]]]`, nil, nil, "{rest: []}"},
		{"split_paths single", `[["split_paths", ["B"]]]`, splitGraph, []string{"X"},
			"{main: [B F](B>F), common: [D E](D>E), rest: [A C Root1 Root2 Root3 X](Root1>A Root3>C)}"},
		{"split_paths multi", `[["split_paths", ["B", "Root3"]]]`, splitGraph, []string{"X"},
			"{main: [B C F Root3](B>F Root3>C), common: [D E](D>E), rest: [A Root1 Root2 X](Root1>A)}"},
		{"split_paths no common", `[["split_paths", ["D"]]]`, splitGraph, []string{"X"},
			"{main: [D E](D>E), rest: [A B C F Root1 Root2 Root3 X](A>B B>F Root1>A Root2>B Root3>C)}"},
		// Not in nixpkgs' tests, from its code: the edges pointing at the
		// split paths are gone from the results.
		{"split_paths cuts edges between split paths", `[["split_paths", ["B", "D"]]]`, splitGraph, nil,
			"{main: [B D E F](B>F D>E), rest: [A C Root1 Root2 Root3](Root1>A Root3>C)}"},
		{"split_paths children_of", `[["split_paths", [{"children_of": "B"}]]]`, splitGraph, nil,
			"{main: [D E F](D>E), rest: [A B C Root1 Root2 Root3](A>B Root1>A Root2>B Root3>C)}"},
		{"split_paths of the only root", `[["split_paths", ["Root"]]]`, []string{"Root>A", "A>B"}, nil,
			"{main: [A B Root](A>B Root>A)}"},
		{"split_paths of a root among several", `[["split_paths", ["R1"]]]`, []string{"R1>A", "R2>A", "R1>B"}, nil,
			"{main: [B R1](R1>B), common: [A], rest: [R2]}"},
		{"popularity_contest", `[["popularity_contest"]]`, splitGraph, []string{"X"},
			"<[E] [D] [F] [B] [A] [C] [Root1] [Root2] [Root3] [X]>"},
		{"popularity_contest empty graph", `[["popularity_contest"]]`, nil, nil, "<>"},
		{"remove_paths", `[["remove_paths", "B"]]`, subcomponentGraph, nil,
			"[A C D E Root1 Root2 Root3](A>C Root1>A Root3>C)"},
		{"remove_paths list, unknown ignored", `[["remove_paths", ["B", "C", "nope"]]]`, subcomponentGraph, nil,
			"[A D E Root1 Root2 Root3](Root1>A)"},
		{"split_every", `[["split_every", 4]]`, subcomponentGraph, nil,
			"<[A B C D](A>B A>C B>D) [E Root1 Root2 Root3]>"},
		{"limit_layers of fewer adds an empty graph", `[["popularity_contest"], ["limit_layers", 5]]`, []string{"A>B"}, nil,
			"<[B] [A] []>"},
		{"limit_layers 1 merges all", `[["popularity_contest"], ["limit_layers", 1]]`, []string{"A>B"}, []string{"C"},
			"<[B A C]>"},
		{"over keeps the keys' order", `[["split_paths", ["B"]], ["over", "main", ["popularity_contest"]]]`, splitGraph, nil,
			"{main: <[F] [B]>, common: [D E](D>E), rest: [A C Root1 Root2 Root3](Root1>A Root3>C)}"},
		{"map and reverse", `[["popularity_contest"], ["reverse"], ["map", ["split_every", 1]]]`, []string{"A>B"}, nil,
			"<<[A]> <[B]>>"},
		{"flatten of nested", `[["split_paths", ["B"]], ["over", "main", ["popularity_contest"]], ["flatten"]]`, splitGraph, nil,
			"<[F] [B] [D E](D>E) [A C Root1 Root2 Root3](Root1>A Root3>C)>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runValue(t, tc.pipeline, testGraph(tc.edges, tc.lone, nil)); got != tc.want {
				t.Errorf("%s:\n got %s\nwant %s", tc.pipeline, got, tc.want)
			}
		})
	}
}

// Ported from nixpkgs' pipe_test.py, flatten_references_graph_test.py and
// __main___test.py: whole pipelines' layers.
func TestRun(t *testing.T) {
	pipeGraph := []string{"Root1>A", "A>B", "A>C", "B>D", "B>E", "E>F", "B>G", "Root2>B", "Root3>C"}
	// flatten_references_graph_test.py's: A -> C, B -> C, D; NAR sizes 2, 4, 6, 8.
	sized := []string{"A>C", "B>C", "B>D"}
	sizes := map[string]uint64{"A": 2, "B": 4, "C": 6, "D": 8}
	for _, tc := range []struct {
		name     string
		pipeline string
		edges    []string
		lone     []string
		sizes    map[string]uint64
		want     [][]string
	}{
		{"pipe_test test_1", `[
			["split_paths", ["B"]],
			["over", "main", ["pipe", [["subcomponent_in", ["B"]], ["over", "rest", ["popularity_contest"]]]]],
			["flatten"],
			["map", ["remove_paths", "Root3"]],
			["limit_layers", 5]]`,
			pipeGraph, nil, nil,
			[][]string{{"B"}, {"F"}, {"D"}, {"E"}, {"G", "A", "C", "Root1", "Root2"}}},
		{"pipe_test test_2 popularity", `[["popularity_contest"]]`, []string{"Root1>A", "A>B"}, []string{"Root2"}, nil,
			[][]string{{"B"}, {"A"}, {"Root1"}, {"Root2"}}},
		{"pipe_test test_2 limit", `[["popularity_contest"], ["limit_layers", 3]]`, []string{"Root1>A", "A>B"}, []string{"Root2"}, nil,
			[][]string{{"B"}, {"A"}, {"Root1", "Root2"}}},
		{"pipe_test test_2 reverse", `[["popularity_contest"], ["reverse"], ["limit_layers", 3]]`, []string{"Root1>A", "A>B"}, []string{"Root2"}, nil,
			[][]string{{"Root2"}, {"Root1"}, {"A", "B"}}},
		{"flatten_references_graph split_paths", `[["split_paths", ["B"]]]`, sized, nil, sizes,
			[][]string{{"B", "D"}, {"C"}, {"A"}}},
		{"flatten_references_graph over subcomponent_in", `[["split_paths", ["B"]], ["over", "main", ["subcomponent_in", ["B"]]]]`, sized, nil, sizes,
			[][]string{{"B"}, {"D"}, {"C"}, {"A"}}},
		{"__main__ test", `[["split_paths", ["B"]]]`, []string{"A>B", "A>C", "B>C"}, nil, map[string]uint64{"A": 2, "B": 4, "C": 6},
			[][]string{{"B"}, {"C"}, {"A"}}},
		{"__main__ no paths", `[["popularity_contest"], ["limit_layers", 99]]`, nil, nil, nil, nil},
		{"vertices by NAR size, then path", `[["split_every", 2]]`, nil, []string{"d", "c", "b", "a"}, map[string]uint64{"a": 9, "d": 1},
			[][]string{{"b", "c"}, {"d", "a"}}},
		{"empty layers dropped", `[["subcomponent_out", ["nope"]]]`, []string{"A>B"}, nil, nil,
			[][]string{{"A", "B"}}},
		{"README example", `[["subcomponent_out", ["perl"]], ["over", "rest", ["pipe", [["popularity_contest"], ["limit_layers", 2]]]]]`,
			[]string{"app>perl", "perl>glibc", "app>bash", "bash>glibc", "env>app"}, nil, nil,
			[][]string{{"glibc", "perl"}, {"bash"}, {"app", "env"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.pipeline))
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Run(testGraph(tc.edges, tc.lone, tc.sizes))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Layers, tc.want) {
				t.Errorf("layers %q, want %q", res.Layers, tc.want)
			}
		})
	}
}

// nixpkgs' popularity_contest_test.py's counts (graph_popularity_contest)
// and order (order_by_popularity, package_name).
func TestPopularity(t *testing.T) {
	closure := testGraph([]string{"foo>bar", "foo>baz", "bar>baz", "baz>tux"}, nil, nil)
	p, _ := Parse([]byte(`[["popularity_contest"]]`))
	res, err := p.Run(closure)
	if err != nil {
		t.Fatal(err)
	}
	// foo 1, bar 2, baz 4, tux 6.
	if want := [][]string{{"tux"}, {"baz"}, {"bar"}, {"foo"}}; !reflect.DeepEqual(res.Layers, want) {
		t.Errorf("order %q, want %q", res.Layers, want)
	}
	// Equal popularity: by name, then hash.
	for _, tc := range []struct{ a, b string }{
		{"/nix/store/bbbb-baz", "/nix/store/aaaa-tux"},
		{"/nix/store/zzzz-bar", "/nix/store/aaaa-foo"},
		{"/nix/store/aaaa-foo", "/nix/store/bbbb-foo"},
	} {
		if !(packageName(tc.a) < packageName(tc.b)) {
			t.Errorf("packageName(%s) sorts after packageName(%s)", tc.a, tc.b)
		}
	}
	// A deep diamond chain: 2^80 paths from the root to the last vertex,
	// past uint64.
	var edges []string
	for i := range 80 {
		edges = append(edges, fmt.Sprintf("v%02d>l%02d", i, i), fmt.Sprintf("v%02d>r%02d", i, i),
			fmt.Sprintf("l%02d>v%02d", i, i+1), fmt.Sprintf("r%02d>v%02d", i, i+1))
	}
	r, g, err := newRunner(testGraph(edges, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	order, err := popularityOrder(g, r.paths)
	if err != nil {
		t.Fatal(err)
	}
	if r.paths[order[0]] != "v80" || r.paths[order[len(order)-1]] != "v00" {
		t.Errorf("first %s, last %s; want v80 and v00", r.paths[order[0]], r.paths[order[len(order)-1]])
	}
}

func TestCycle(t *testing.T) {
	p, _ := Parse([]byte(`[["popularity_contest"]]`))
	_, err := p.Run(testGraph([]string{"R>A", "A>B", "B>A"}, nil, nil))
	if err == nil || !strings.Contains(err.Error(), `step 1 ("popularity_contest"): the references of A form a cycle`) {
		t.Errorf("error %v", err)
	}
}

// Bad pipelines: one error naming the step.
func TestErrors(t *testing.T) {
	closure := testGraph(splitGraph, nil, nil)
	for _, tc := range []struct {
		pipeline string
		want     string
	}{
		{`{}`, "the pipeline must be a list of steps"},
		{`[["popularity_contest"]] x`, "not JSON"},
		{`["popularity_contest"]`, `step 1 must be a list whose first element names an operation`},
		{`[[]]`, `step 1 must be a list whose first element names an operation`},
		{`[[1]]`, `step 1: its first element must name an operation`},
		{`[["popularity_contest"], ["split_everything", 2]]`, `step 2: unknown operation "split_everything" (known: flatten, limit_layers, map`},
		{`[["limit_layers", 0]]`, `step 1 ("limit_layers"): the count must be at least 1, got 0`},
		{`[["limit_layers", "3"]]`, `step 1 ("limit_layers"): the count must be an integer, got the string "3"`},
		{`[["limit_layers", 1.5]]`, `step 1 ("limit_layers"): the count must be an integer, got the number 1.5`},
		{`[["split_every"]]`, `step 1 ("split_every"): takes one argument, a count, got 0 arguments`},
		{`[["popularity_contest", 3]]`, `step 1 ("popularity_contest"): takes no argument, got 1 arguments`},
		{`[["split_paths", "B"]]`, `step 1 ("split_paths"): the argument must be a list of store paths or { children_of = ...; }, got the string "B"`},
		{`[["split_paths", [{"child": "B"}]]]`, `step 1 ("split_paths"): an element that is an attribute set must be { children_of`},
		{`[["subcomponent_out", "B"]]`, `step 1 ("subcomponent_out"): the argument must be a list of store paths, got the string "B"`},
		{`[["subcomponent_in", [1]]]`, `step 1 ("subcomponent_in"): the argument must be a list of store paths, got an element that is the number 1`},
		{`[["over", "main"]]`, `step 1 ("over"): takes two arguments, a key and a step`},
		{`[["over", 1, ["flatten"]]]`, `step 1 ("over"): the key must be a string`},
		{`[["split_paths", ["B"]], ["over", "main", ["pipe", [["popularity_contest"], ["limit_layer", 2]]]]]`, `step 2.1.2: unknown operation "limit_layer"`},
		{`[["map", "flatten"]]`, `step 1.1 must be a list whose first element names an operation`},
		{`[["pipe", "x"]]`, `step 1's argument must be a list of steps`},
		// Errors running.
		{`[]`, "the pipeline gives one graph, not a list of layers"},
		{`[["split_paths", ["D"]], ["over", "common", ["popularity_contest"]]]`, `step 2 ("over" "common"): the value has no "common" (it has main, rest)`},
		{`[["over", "main", ["flatten"]]]`, `step 1 ("over" "main"): takes the result of split_paths or subcomponent (main, common, rest), got a graph`},
		{`[["flatten"]]`, `step 1 ("flatten"): takes a list or the result of split_paths or subcomponent, got a graph`},
		{`[["limit_layers", 2]]`, `step 1 ("limit_layers"): takes a list, got a graph`},
		{`[["popularity_contest"], ["popularity_contest"]]`, `step 2 ("popularity_contest"): takes a graph, got a list of 9`},
		{`[["subcomponent_out", ["B"]], ["limit_layers", 1]]`, `step 2 ("limit_layers"): takes a list, got a result of split_paths or subcomponent (main, rest)`},
		{`[["popularity_contest"], ["map", ["subcomponent_out", ["B"]]], ["limit_layers", 1]]`, `step 3 ("limit_layers"): can only merge graphs, got a result of split_paths or subcomponent (main, rest) (flatten first)`},
	} {
		p, err := Parse([]byte(tc.pipeline))
		if err == nil {
			_, err = p.Run(closure)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.pipeline, err, tc.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	p, err := Parse([]byte(`[["split_paths", ["B", {"children_of": ["nope", "B"]}]], ["over", "rest", ["remove_paths", "gone"]], ["flatten"]]`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Paths(), []string{"B", "nope", "B", "gone"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Paths() %q, want %q", got, want)
	}
	res, err := p.Run(testGraph(splitGraph, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "nope, which is not in the image's closure") || !strings.Contains(res.Warnings[1], "gone") {
		t.Errorf("warnings %q", res.Warnings)
	}
}
