package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// A shape is a closure's dependency graph without names: what the "shape"
// fixture reproduces, one output per node. Nodes come in dependency order
// (every node's references come before it), the root last, so that the
// closure of the last output is the whole graph.
type shape struct {
	// DerivedFrom says where the graph came from.
	DerivedFrom string `json:"derivedFrom"`
	Nodes       []node `json:"nodes"`
}

type node struct {
	// Size is the node's size in bytes (Debian's Installed-Size).
	Size int64 `json:"size"`
	// Refs are the indices of the nodes it refers to.
	Refs []int `json:"refs"`
}

// shapeFromApt derives the shape of pkg's dependency graph from Debian's
// package lists: `apt-cache depends --recurse` with hard dependencies only
// (Depends, Pre-Depends; the first of alternatives; a virtual package as
// its first provider), cycles broken where a depth-first walk from pkg
// meets them (Nix closures have none), sizes from `apt-cache show`. It
// writes the shape as JSON to w, one node a line.
func shapeFromApt(pkg string, w io.Writer) error {
	out, err := exec.Command("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
		"--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", pkg).Output()
	if err != nil {
		return fmt.Errorf("apt-cache depends %s: %w", pkg, err)
	}
	deps := parseDepends(out)
	if _, ok := deps[pkg]; !ok {
		return fmt.Errorf("apt-cache depends %s: no such package", pkg)
	}
	// Dependency order, back edges dropped.
	var order []string
	index := map[string]int{}
	onStack := map[string]bool{}
	kept := map[string][]string{}
	var visit func(p string)
	visit = func(p string) {
		onStack[p] = true
		for _, d := range deps[p] {
			if onStack[d] {
				continue // a cycle: Nix closures have none
			}
			kept[p] = append(kept[p], d)
			if _, done := index[d]; !done {
				visit(d)
			}
		}
		onStack[p] = false
		index[p] = len(order)
		order = append(order, p)
	}
	visit(pkg)
	sizes, err := installedSizes(order)
	if err != nil {
		return err
	}
	s := shape{DerivedFrom: fmt.Sprintf("apt-cache depends --recurse (Depends and Pre-Depends) of Debian's %s, %d packages", pkg, len(order))}
	for _, p := range order {
		n := node{Size: sizes[p], Refs: []int{}}
		for _, d := range kept[p] {
			n.Refs = append(n.Refs, index[d])
		}
		sort.Ints(n.Refs)
		s.Nodes = append(s.Nodes, n)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n\"derivedFrom\": %q,\n\"nodes\": [\n", s.DerivedFrom)
	for i, n := range s.Nodes {
		data, _ := json.Marshal(n)
		b.Write(data)
		if i < len(s.Nodes)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n}\n")
	_, err = w.Write(b.Bytes())
	return err
}

// parseDepends reads `apt-cache depends --recurse` output: each package's
// hard dependencies, sorted, virtual packages resolved to their first
// provider and alternatives to their first.
func parseDepends(out []byte) map[string][]string {
	deps := map[string][]string{}
	var cur string
	inGroup := false
	virtual := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !strings.HasPrefix(line, " "):
			cur, inGroup, virtual = line, false, false
			if !strings.HasPrefix(cur, "<") {
				deps[cur] = nil
			}
		case strings.HasPrefix(line, "    "):
			// A provider of the virtual package just named.
			if virtual && !strings.HasPrefix(cur, "<") {
				deps[cur] = append(deps[cur], strings.TrimSpace(line))
				virtual = false
			}
		default:
			alt := strings.HasPrefix(line, " |")
			kind, target, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, " |")), ": ")
			if !ok || (kind != "Depends" && kind != "PreDepends") || strings.HasPrefix(cur, "<") {
				virtual = false
				continue
			}
			skip := inGroup
			inGroup = alt
			if skip {
				virtual = false
				continue
			}
			if strings.HasPrefix(target, "<") {
				virtual = true
				continue
			}
			virtual = false
			deps[cur] = append(deps[cur], target)
		}
	}
	for p, ds := range deps {
		seen := map[string]bool{p: true}
		var uniq []string
		for _, d := range ds {
			if !seen[d] {
				seen[d] = true
				uniq = append(uniq, d)
			}
		}
		sort.Strings(uniq)
		deps[p] = uniq
	}
	return deps
}

// installedSizes asks apt-cache show for the Installed-Size (KiB) of pkgs,
// in bytes.
func installedSizes(pkgs []string) (map[string]int64, error) {
	out, err := exec.Command("apt-cache", append([]string{"show", "--no-all-versions"}, pkgs...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache show: %w", err)
	}
	sizes := map[string]int64{}
	var cur string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Package: "); ok {
			cur = v
		} else if v, ok := strings.CutPrefix(line, "Installed-Size: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				sizes[cur] = n << 10
			}
		}
	}
	return sizes, nil
}

// checkShape checks the nodes of a shape: references to earlier nodes
// only.
func checkShape(nodes []node) error {
	for i, n := range nodes {
		for _, r := range n.Refs {
			if r < 0 || r >= i {
				return fmt.Errorf("shape: node %d refers to node %d, not an earlier one", i, r)
			}
		}
	}
	return nil
}

// genShaped writes a path of about size bytes: files of up to 1 MiB,
// alternately random bytes (as in executables and compressed data) and
// text, and the list of its references.
func genShaped(out string, i int, refs []string, size int64) error {
	r := &rng{s: uint64(i)*0x2545f4914f6cdd1d + 3}
	for k := 0; size > 0 || k == 0; k++ {
		n := int(min(size, 1<<20))
		data := r.text(n)
		if k%2 == 0 {
			data = r.bytes(n)
		}
		if err := write(filepath.Join(out, "lib", fmt.Sprintf("file-%03d", k)), data, 0o444); err != nil {
			return err
		}
		size -= int64(n)
	}
	return write(filepath.Join(out, "nix-support/refs"), []byte(strings.Join(refs, "\n")+"\n"), 0o444)
}
