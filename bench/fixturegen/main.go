// Command fixturegen is the Nix builder of the benchmark's fixture closures
// (bench/bench.nix). It runs inside a derivation with structured
// attributes:
//
//	fixturegen gen        writes every output: deterministic trees that refer to each other
//	fixturegen dump-attrs copies .attrs.json (with its closure graph) to the output
//
// Output i of a fixture refers to output i-1 and output i/2 (so the closure
// of output n-1 is exactly outputs 0 to n-1: a chain, the worst case of
// Nix's structured export), and output 0 to the "goroot" attribute when
// there is one. A fixture of kind "shape" has the references of its
// "shape" attribute instead (a real dependency graph, see shape.go), and
// paths of its sizes.
//
// Run by hand, it derives such a shape from Debian's package lists:
//
//	fixturegen shape PACKAGE > bench/shapes/debian-PACKAGE.json Contents come from a fixed pseudo-random
//
// sequence seeded by the output's index, so the same attributes always give
// the same bytes.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fixturegen: error:", err)
		os.Exit(1)
	}
}

// attrs are the structured attributes fixturegen reads.
type attrs struct {
	Outputs map[string]string `json:"outputs"`
	Kind    string            `json:"kind"`
	Goroot  string            `json:"goroot"`
	// SizePercent scales file sizes (100: the full-size fixture).
	SizePercent int `json:"sizePercent"`
	// Shape, for kind "shape", gives each output's references and size.
	Shape []node `json:"shape"`
}

func attrsFile() string {
	if p := os.Getenv("NIX_ATTRS_JSON_FILE"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if top := os.Getenv("NIX_BUILD_TOP"); top != "" {
		return filepath.Join(top, ".attrs.json")
	}
	return ".attrs.json"
}

func run(args []string) error {
	if len(args) == 2 && args[0] == "shape" {
		return shapeFromApt(args[1], os.Stdout)
	}
	if len(args) != 1 {
		return fmt.Errorf("usage: fixturegen gen|dump-attrs|shape PACKAGE")
	}
	data, err := os.ReadFile(attrsFile())
	if err != nil {
		return err
	}
	var a attrs
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("parse attrs: %w", err)
	}
	switch args[0] {
	case "dump-attrs":
		return os.WriteFile(a.Outputs["out"], data, 0o444)
	case "gen":
		names := make([]string, 0, len(a.Outputs))
		for n := range a.Outputs {
			names = append(names, n)
		}
		sort.Strings(names)
		paths := make([]string, len(names))
		for i, n := range names {
			paths[i] = a.Outputs[n]
		}
		if a.SizePercent <= 0 {
			a.SizePercent = 100
		}
		if a.Kind == "shape" {
			if len(a.Shape) != len(paths) {
				return fmt.Errorf("shape of %d nodes for %d outputs", len(a.Shape), len(paths))
			}
			if err := checkShape(a.Shape); err != nil {
				return err
			}
			for i, p := range paths {
				var refs []string
				for _, r := range a.Shape[i].Refs {
					refs = append(refs, paths[r])
				}
				if err := genShaped(p, i, refs, a.Shape[i].Size*int64(a.SizePercent)/100); err != nil {
					return fmt.Errorf("output %s: %w", names[i], err)
				}
			}
			return nil
		}
		for i, p := range paths {
			var refs []string
			if i > 0 {
				refs = append(refs, paths[i-1])
				if i/2 != i-1 {
					refs = append(refs, paths[i/2])
				}
			} else if a.Goroot != "" {
				refs = append(refs, a.Goroot)
			}
			var err error
			if a.Kind == "scale" {
				err = genSmall(p, i, refs)
			} else {
				err = genPackage(p, i, refs, a.SizePercent)
			}
			if err != nil {
				return fmt.Errorf("output %s: %w", names[i], err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// rng is splitmix64: small, fast and the same everywhere.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// between returns an integer in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + int(r.next()%uint64(hi-lo+1)) }

// logBetween returns an integer in [lo, hi], log-uniformly distributed, as
// file sizes are.
func (r *rng) logBetween(lo, hi int) int {
	f := float64(r.next()>>11) / (1 << 53)
	return int(math.Exp(math.Log(float64(lo)) + f*(math.Log(float64(hi))-math.Log(float64(lo)))))
}

func (r *rng) bytes(n int) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		v := r.next()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b[:n]
}

func (r *rng) text(n int) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyz      \n"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.next()%uint64(len(letters))]
	}
	return b
}

func write(p string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, mode)
}

// genPackage writes a package-like tree of about 450 KiB (at 100%) in 28
// files: an executable, 22 data files of log-uniform size, 4 documents and a
// list of references, plus two symlinks.
func genPackage(out string, i int, refs []string, pct int) error {
	r := &rng{s: uint64(i)*0x100000001b3 + 1}
	scale := func(n int) int { return max(1, n*pct/100) }
	if err := write(filepath.Join(out, "bin", fmt.Sprintf("prog-%d", i)), r.bytes(scale(r.between(100<<10, 600<<10))), 0o555); err != nil {
		return err
	}
	for k := 0; k < 22; k++ {
		if err := write(filepath.Join(out, "lib", fmt.Sprintf("data-%02d.bin", k)), r.bytes(scale(r.logBetween(100, 24<<10))), 0o444); err != nil {
			return err
		}
	}
	for k := 0; k < 4; k++ {
		if err := write(filepath.Join(out, "share/doc", fmt.Sprintf("doc-%d.txt", k)), r.text(scale(r.between(200, 4000))), 0o444); err != nil {
			return err
		}
	}
	if err := write(filepath.Join(out, "nix-support/refs"), []byte(strings.Join(refs, "\n")+"\n"), 0o444); err != nil {
		return err
	}
	if err := os.Symlink(fmt.Sprintf("prog-%d", i), filepath.Join(out, "bin/prog")); err != nil {
		return err
	}
	if len(refs) > 0 {
		return os.Symlink(refs[0], filepath.Join(out, "lib/dep"))
	}
	return nil
}

// genSmall writes a tiny path: three files, a directory and a symlink.
func genSmall(out string, i int, refs []string) error {
	r := &rng{s: uint64(i)*0x9e3779b1 + 7}
	if err := write(filepath.Join(out, "bin/tool"), r.bytes(1024), 0o555); err != nil {
		return err
	}
	if err := write(filepath.Join(out, "share/data"), r.bytes(2048), 0o444); err != nil {
		return err
	}
	if err := write(filepath.Join(out, "refs"), []byte(strings.Join(refs, "\n")+"\n"), 0o444); err != nil {
		return err
	}
	return os.Symlink("bin/tool", filepath.Join(out, "link"))
}
