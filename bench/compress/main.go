// Command compress is the narrow benchmark of layer compression (issue
// 13's targets), minutes where bench/run takes most of an hour. On store
// paths already in the store (a GOROOT added with `nix-store --add`, say),
// it measures, interleaved (each repetition in an order of its own),
// medians of -reps runs:
//
//   - the layer alone: `tar -c | gzip -6`, `| pigz -6`, `| zstd -3`,
//     `| zstd -3 -T0` against oci-builder's layer.Write with gzip and
//     zstd, each in a process of its own (this command run again with
//     -write-layer), as the tools are;
//   - with -image, the whole `oci-builder image` with gzip and zstd (the
//     /etc layer, configuration, manifest and NAR hash verification
//     included), the command built from this checkout, asking a Nix
//     daemon for the closure as it does in multi-user installs (the
//     benchmark starts its own nix-daemon on a socket of its own); and
//     the zstd image asking `nix path-info` instead (NIX_REMOTE=local, as
//     in single-user installs) and given its closure graph (--graph), to
//     show what each way of asking Nix costs; and without NAR hash
//     verification (--verify=false), to show what checking every byte
//     costs.
//
// It prints a Markdown table (wall time, CPU time: user plus system of the
// process and its children, size) and the targets' verdicts:
//
//	go run ./bench/compress -reps 3 -image /nix/store/...-goroot /nix/store/...-busybox
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/store/daemon/daemontest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compress:", err)
		os.Exit(1)
	}
}

// measure is one run's wall time, CPU time and output size.
type measure struct {
	wall, cpu time.Duration
	size      int64
}

// candidate is one way of compressing the store paths into dir.
type candidate struct {
	name, key string
	cmd       func(dir string) *exec.Cmd
}

func run() error {
	reps := flag.Int("reps", 3, "repetitions of each candidate (interleaved)")
	work := flag.String("work", "/var/tmp", "scratch directory, on the store's filesystem")
	withImage := flag.Bool("image", false, "also measure the whole `oci-builder image`")
	corpus := flag.String("corpus", "", "instead: compare layer sizes kind by kind on the compression corpus, made from this GOROOT")
	writeLayer := flag.String("write-layer", "", "internal: write the layer of the paths compressed with this compression to -out")
	out := flag.String("out", "", "internal: the file -write-layer writes")
	flag.Parse()
	paths := flag.Args()
	if *writeLayer != "" {
		return layerChild(*writeLayer, *out, paths)
	}
	if *corpus != "" {
		return corpusSizes(*work, *corpus)
	}
	if len(paths) == 0 {
		return errors.New("usage: compress [-reps N] [-image] STORE-PATH [STORE-PATH]")
	}
	storeDir := filepath.Dir(paths[0])
	var names []string
	for _, p := range paths {
		if filepath.Dir(p) != storeDir {
			return fmt.Errorf("%s is not in %s", p, storeDir)
		}
		names = append(names, filepath.Base(p))
	}
	base, err := os.MkdirTemp(*work, "bench-compress-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tarArgs := "tar -c -C " + q(storeDir) + " " + strings.Join(quoteAll(names), " ")
	stream := func(name, key, compressor string) candidate {
		return candidate{name, key, func(dir string) *exec.Cmd {
			return exec.Command("sh", "-c", tarArgs+" | "+compressor+" > "+q(filepath.Join(dir, "out")))
		}}
	}
	ours := func(c string) candidate {
		return candidate{"oci-builder layer, " + c, "layer-" + c, func(dir string) *exec.Cmd {
			return exec.Command(self, append([]string{"-write-layer", c, "-out", filepath.Join(dir, "out")}, paths...)...)
		}}
	}
	cands := []candidate{
		stream("`tar \\| gzip -6`", "gzip", "gzip -6"),
		stream("`tar \\| pigz -6`", "pigz", "pigz -6"),
		stream("`tar \\| zstd -3`", "zstd", "zstd -q -3"),
		stream("`tar \\| zstd -3 -T0`", "zstd-T0", "zstd -q -3 -T0"),
		ours("gzip"), ours("zstd"),
	}
	if *withImage {
		builder := filepath.Join(base, "oci-builder")
		build := exec.Command("go", "build", "-o", builder, "./cmd/oci-builder")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build oci-builder (run from the repository): %w", err)
		}
		// The program is the sh of one of the paths (busybox), and its
		// arguments name the others, so that the image holds exactly
		// the given paths (and their references).
		sh := ""
		for _, p := range paths {
			if _, err := os.Stat(filepath.Join(p, "bin/sh")); err == nil && sh == "" {
				sh = filepath.Join(p, "bin/sh")
			}
		}
		if sh == "" {
			return errors.New("-image needs a store path with bin/sh among the paths (busybox)")
		}
		// The closure graph, asked of Nix once, for the row that is
		// given it (--graph) instead of running `nix path-info`: the
		// difference is what asking Nix costs (its start-up, mostly).
		graph := filepath.Join(base, "graph.json")
		pathInfo := exec.Command("nix", append([]string{"--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive"}, paths...)...)
		pathInfo.Stderr = os.Stderr
		graphJSON, err := pathInfo.Output()
		if err != nil {
			return fmt.Errorf("nix path-info: %w", err)
		}
		if err := os.WriteFile(graph, graphJSON, 0o644); err != nil {
			return err
		}
		// A directory of its own, which the daemon's watchdog removes.
		if err := os.Mkdir(filepath.Join(base, "daemon"), 0o755); err != nil {
			return err
		}
		socket := filepath.Join(base, "daemon", "sock")
		stopDaemon, err := startDaemon(socket)
		if err != nil {
			return err
		}
		defer stopDaemon()
		// closure is how an image row learns the closure.
		type closure int
		const (
			fromDaemon closure = iota
			fromPathInfo
			given
			unverified
		)
		image := func(c string, how closure) candidate {
			name, key := "oci-builder image, "+c, "image-"+c
			env := os.Environ()
			switch how {
			case fromDaemon:
				name += " (closure from the daemon)"
				env = append(env, "NIX_REMOTE=daemon", "NIX_DAEMON_SOCKET_PATH="+socket)
			case fromPathInfo:
				name, key = name+", closure from `nix path-info`", key+"-pathinfo"
				env = append(env, "NIX_REMOTE=local")
			case given:
				name, key = name+", closure given (--graph)", key+"-graph"
			case unverified:
				name, key = name+", not verified (--verify=false)", key+"-noverify"
				env = append(env, "NIX_REMOTE=daemon", "NIX_DAEMON_SOCKET_PATH="+socket)
			}
			return candidate{name, key, func(dir string) *exec.Cmd {
				args := []string{"image", "--out", filepath.Join(dir, "image"), "--compression", c, "--env", "PATH=/bin"}
				switch how {
				case given:
					args = append(args, "--graph", graph)
				case unverified:
					args = append(args, "--verify=false")
				}
				cmd := exec.Command(builder, append(args, "--", sh, "-c", "echo "+strings.Join(paths, " "))...)
				cmd.Env = env
				return cmd
			}}
		}
		cands = append(cands, image("gzip", fromDaemon), image("zstd", fromDaemon), image("zstd", fromPathInfo), image("zstd", given), image("zstd", unverified))
	}
	results := map[string][]measure{}
	for rep := 0; rep < *reps; rep++ {
		// Each repetition runs the candidates in an order of its own (a
		// permutation seeded by the repetition's number: the same from
		// run to run), so that no candidate always follows the same one
		// and takes on what that one leaves behind (memory to free and
		// compact, pages to write back): with a rotation, the zstd image
		// asking the daemon always ran just after the gzip image.
		for _, k := range rand.New(rand.NewPCG(uint64(rep), 22)).Perm(len(cands)) {
			c := cands[k]
			dir := filepath.Join(base, fmt.Sprintf("%s-%d", c.key, rep))
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			m, err := runOne(c.cmd(dir))
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if m.size, err = dirSize(dir); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s: %.2f s, cpu %.2f s, %d bytes\n", c.name, m.wall.Seconds(), m.cpu.Seconds(), m.size)
			results[c.key] = append(results[c.key], m)
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	}
	fmt.Printf("%d CPUs, %d interleaved repetitions, medians; store paths: %s\n\n", runtime.NumCPU(), *reps, strings.Join(names, ", "))
	fmt.Printf("| | time | CPU time | size |\n|---|---|---|---|\n")
	med := map[string]measure{}
	for _, c := range cands {
		m := medians(results[c.key])
		med[c.key] = m
		fmt.Printf("| %s | %.2f s | %.2f s | %.1f MB |\n", c.name, m.wall.Seconds(), m.cpu.Seconds(), float64(m.size)/1e6)
	}
	fmt.Println()
	target := func(what, ref, ours string, wantSpeedup, maxGrowth float64) {
		r, o := med[ref], med[ours]
		if r.wall == 0 || o.wall == 0 {
			return
		}
		speedup := r.wall.Seconds() / o.wall.Seconds()
		growth := float64(o.size)/float64(r.size) - 1
		verdict := "met"
		if speedup < wantSpeedup || growth > maxGrowth {
			verdict = "missed"
		}
		fmt.Printf("- %s: %s: %.2fx the speed (want %.2fx), size %+.2f %% (want at most %+.0f %%)\n", what, verdict, speedup, wantSpeedup, 100*growth, 100*maxGrowth)
	}
	for _, kind := range []string{"layer", "image"} {
		target(kind+" gzip against `pigz -6` (issue 13)", "pigz", kind+"-gzip", 1.5, 0.03)
		target(kind+" zstd against `zstd -3 -T0` (issue 13)", "zstd-T0", kind+"-zstd", 1, 0.01)
	}
	target("image zstd (closure from the daemon) against `tar | zstd -3 -T0` (issue 22)", "zstd-T0", "image-zstd", 0.9, 0.02)
	target("image zstd (closure from `nix path-info`) against `tar | zstd -3 -T0` (issue 22)", "zstd-T0", "image-zstd-pathinfo", 0.9, 0.02)
	if o, r := med["image-zstd-graph"], med["zstd-T0"]; o.wall > 0 && r.wall > 0 {
		fmt.Printf("- the zstd image given its closure (--graph, Nix not asked): %.2fx the speed of `tar | zstd -3 -T0`\n", r.wall.Seconds()/o.wall.Seconds())
	}
	if o, r := med["image-zstd-noverify"], med["zstd-T0"]; o.wall > 0 && r.wall > 0 {
		fmt.Printf("- the zstd image not verified (--verify=false, no NAR hashing): %.2fx the speed of `tar | zstd -3 -T0`\n", r.wall.Seconds()/o.wall.Seconds())
	}
	if o, r := med["image-zstd"], med["zstd-T0"]; o.cpu > 0 && r.cpu > 0 {
		fmt.Printf("- CPU time of the zstd image over `tar | zstd -3 -T0`'s: %.2fx (the layer's: %.2fx)\n", o.cpu.Seconds()/r.cpu.Seconds(), med["layer-zstd"].cpu.Seconds()/r.cpu.Seconds())
	}
	return nil
}

// startDaemon starts a nix-daemon of the local store listening on socket
// (daemontest.Launch, which needs root), for the image rows to ask. The
// function it returns stops it.
func startDaemon(socket string) (func(), error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("-image runs a nix-daemon of the local store, which needs root")
	}
	return daemontest.Launch(socket)
}

// runOne runs cmd and measures it.
func runOne(cmd *exec.Cmd) (measure, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return measure{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	m := measure{wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return m, nil
}

// layerChild writes the layer of paths compressed with c to out, as
// pkg/image does (a pool of one worker per CPU, 1 MiB of buffering).
func layerChild(c, out string, paths []string) error {
	comp, err := layer.ParseCompression(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	_, err = layer.Write(context.Background(), bw, filepath.Dir(paths[0]), paths, comp, layer.Options{Pool: layer.NewPool(runtime.NumCPU())})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// medians is the median of each of the measures' fields.
func medians(ms []measure) measure {
	pick := func(get func(measure) int64) int64 {
		v := make([]int64, len(ms))
		for i, m := range ms {
			v[i] = get(m)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	return measure{
		wall: time.Duration(pick(func(m measure) int64 { return int64(m.wall) })),
		cpu:  time.Duration(pick(func(m measure) int64 { return int64(m.cpu) })),
		size: pick(func(m measure) int64 { return m.size }),
	}
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return err
	})
	return n, err
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = q(s)
	}
	return out
}
