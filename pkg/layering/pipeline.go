// Package layering runs dockerTools' layeringPipeline: a list of steps,
// written in Nix, that splits an image's closure graph into the groups of
// store paths that become its layers (nixpkgs' flatten_references_graph,
// which buildLayeredImage and streamLayeredImage run when given
// layeringPipeline).
//
// A pipeline is a list of steps, each a list whose first element names an
// operation and whose others are its arguments:
//
//	[ [ "subcomponent_out" [ pkgs.perl ] ]
//	  [ "over" "rest" [ "pipe" [ [ "popularity_contest" ] [ "limit_layers" 100 ] ] ] ] ]
//
// Each step takes the value the previous step gave (the first one the
// closure graph) and gives a new one: a graph, a list of values or a
// dictionary of them (split_paths' and subcomponent's "main", "common",
// "rest"). At the end, the result is flattened into a list of graphs and
// each non-empty graph becomes a layer, in order.
//
// The operations, their arguments and their results are nixpkgs':
// subcomponent_out and subcomponent_in, split_paths (with children_of),
// split_every, popularity_contest, limit_layers, remove_paths, reverse,
// flatten, over, map and pipe. So are the tie-breaks: a graph's vertices
// are ordered by NAR size, then by path (the order igraph keeps there),
// subgraphs keep their graph's order, and popularity_contest ranks paths
// by nixpkgs' popularity (the number of paths from the graph's roots
// through each path's dependants), then by name. Store paths that a step
// names but its graph lacks are ignored, as nixpkgs ignores them.
//
// Parse checks a pipeline (unknown operations, wrong arguments) and Run
// applies it to a closure. Both are pure; errors are one line naming the
// step ("step 2.1 (\"limit_layers\")": the first element of step 2's
// inner pipeline or function).
package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Pipeline is a checked layering pipeline.
type Pipeline struct {
	steps []*step
}

// step is one operation of a pipeline with its arguments.
type step struct {
	// loc is the step's place, "2" or "2.1.3" (see Parse).
	loc string
	op  string
	// paths are the store paths of subcomponent_in, subcomponent_out and
	// remove_paths.
	paths []string
	// specs are split_paths' store paths.
	specs []splitSpec
	// key is over's dictionary key.
	key string
	// fn is the function over and map apply.
	fn *step
	// steps are pipe's.
	steps []*step
	// n is split_every's and limit_layers' count.
	n int
}

// splitSpec is one of split_paths' arguments: a store path, or the
// children (direct references) of some.
type splitSpec struct {
	path       string
	childrenOf []string
}

// operations are the known operations, for messages.
var operations = []string{"flatten", "limit_layers", "map", "over", "pipe", "popularity_contest",
	"remove_paths", "reverse", "split_every", "split_paths", "subcomponent_in", "subcomponent_out"}

// Parse reads a pipeline from its JSON form (what Nix's builtins.toJSON
// writes for the Nix list). Steps are numbered from 1; the function of an
// over or map step at 2 is step 2.1, and the steps of a pipe at 2.1 are
// 2.1.1, 2.1.2 and so on.
func Parse(data []byte) (*Pipeline, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not JSON: text after the pipeline")
	}
	steps, err := parseSteps("", v)
	if err != nil {
		return nil, err
	}
	return &Pipeline{steps: steps}, nil
}

// parseSteps reads a list of steps whose places start with prefix.
func parseSteps(prefix string, v any) ([]*step, error) {
	list, ok := v.([]any)
	if !ok {
		where := "the pipeline"
		if prefix != "" {
			where = "step " + strings.TrimSuffix(prefix, ".") + "'s argument"
		}
		return nil, fmt.Errorf("%s must be a list of steps (lists such as [ \"popularity_contest\" ]), got %s", where, describe(v))
	}
	steps := make([]*step, len(list))
	for i, s := range list {
		var err error
		if steps[i], err = parseStep(fmt.Sprintf("%s%d", prefix, i+1), s); err != nil {
			return nil, err
		}
	}
	return steps, nil
}

func parseStep(loc string, v any) (*step, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("step %s must be a list whose first element names an operation (%s), got %s", loc, strings.Join(operations, ", "), describe(v))
	}
	op, ok := list[0].(string)
	if !ok {
		return nil, fmt.Errorf("step %s: its first element must name an operation (%s), got %s", loc, strings.Join(operations, ", "), describe(list[0]))
	}
	s := &step{loc: loc, op: op}
	args := list[1:]
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s", s.name(), fmt.Sprintf(format, a...))
	}
	want := func(n int, what string) error {
		if len(args) != n {
			return bad("takes %s, got %d arguments", what, len(args))
		}
		return nil
	}
	var err error
	switch op {
	case "flatten", "popularity_contest", "reverse":
		err = want(0, "no argument")
	case "split_every", "limit_layers":
		if err = want(1, "one argument, a count"); err != nil {
			break
		}
		n, ok := args[0].(json.Number)
		i, ierr := n.Int64()
		if !ok || ierr != nil {
			return nil, bad("the count must be an integer, got %s", describe(args[0]))
		}
		if i < 1 {
			return nil, bad("the count must be at least 1, got %d", i)
		}
		s.n = int(i)
	case "subcomponent_in", "subcomponent_out":
		if err = want(1, "one argument, a list of store paths"); err != nil {
			break
		}
		s.paths, err = pathList(args[0], false)
		if err != nil {
			return nil, bad("%v", err)
		}
	case "remove_paths":
		if err = want(1, "one argument, a store path or a list of them"); err != nil {
			break
		}
		s.paths, err = pathList(args[0], true)
		if err != nil {
			return nil, bad("%v", err)
		}
	case "split_paths":
		if err = want(1, "one argument, a list of store paths"); err != nil {
			break
		}
		specs, ok := args[0].([]any)
		if !ok {
			return nil, bad("the argument must be a list of store paths or { children_of = ...; }, got %s", describe(args[0]))
		}
		for _, x := range specs {
			switch x := x.(type) {
			case string:
				s.specs = append(s.specs, splitSpec{path: x})
			case map[string]any:
				c, ok := x["children_of"]
				if !ok || len(x) != 1 {
					return nil, bad("an element that is an attribute set must be { children_of = <store path or list of them>; }")
				}
				paths, err := pathList(c, true)
				if err != nil {
					return nil, bad("children_of: %v", err)
				}
				s.specs = append(s.specs, splitSpec{childrenOf: paths})
			default:
				return nil, bad("the argument must be a list of store paths or { children_of = ...; }, got an element that is %s", describe(x))
			}
		}
	case "over":
		if err = want(2, "two arguments, a key and a step"); err != nil {
			break
		}
		key, ok := args[0].(string)
		if !ok {
			return nil, bad("the key must be a string (\"main\", \"common\" or \"rest\"), got %s", describe(args[0]))
		}
		s.key = key
		s.fn, err = parseStep(loc+".1", args[1])
	case "map":
		if err = want(1, "one argument, a step"); err != nil {
			break
		}
		s.fn, err = parseStep(loc+".1", args[0])
	case "pipe":
		if err = want(1, "one argument, a list of steps"); err != nil {
			break
		}
		s.steps, err = parseSteps(loc+".", args[0])
	default:
		return nil, fmt.Errorf("step %s: unknown operation %q (known: %s)", loc, op, strings.Join(operations, ", "))
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// name names the step in messages: `step 2.1 ("limit_layers")`.
func (s *step) name() string {
	if s.op == "over" && s.key != "" {
		return fmt.Sprintf("step %s (%q %q)", s.loc, s.op, s.key)
	}
	return fmt.Sprintf("step %s (%q)", s.loc, s.op)
}

// pathList reads a list of store paths, or a single one if single.
func pathList(v any, single bool) ([]string, error) {
	if p, ok := v.(string); ok && single {
		return []string{p}, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("the argument must be a list of store paths, got %s", describe(v))
	}
	out := make([]string, len(list))
	for i, x := range list {
		p, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("the argument must be a list of store paths, got an element that is %s", describe(x))
		}
		out[i] = p
	}
	return out, nil
}

// describe names a JSON value's type as Nix would.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a Boolean"
	case json.Number:
		return "the number " + v.String()
	case string:
		return fmt.Sprintf("the string %q", v)
	case []any:
		return "a list"
	case map[string]any:
		return "an attribute set"
	}
	return fmt.Sprintf("a %T", v)
}

// Paths returns every store path the pipeline names, in order of
// appearance.
func (p *Pipeline) Paths() []string {
	var out []string
	var walk func([]*step)
	walk = func(steps []*step) {
		for _, s := range steps {
			out = append(out, s.paths...)
			for _, sp := range s.specs {
				if sp.path != "" {
					out = append(out, sp.path)
				}
				out = append(out, sp.childrenOf...)
			}
			if s.fn != nil {
				walk([]*step{s.fn})
			}
			walk(s.steps)
		}
	}
	walk(p.steps)
	return out
}
