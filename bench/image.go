//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// imageCandidate is one way of packing the closure into compressed tar
// data under dir (which does not exist yet).
type imageCandidate struct {
	name, key string
	run       func(ctx context.Context, dir string) (time.Duration, error)
}

// images measures `oci-builder image` against one tar stream of the same
// store paths piped to a compressor, as dockerTools and a plain shell would
// do it, and reports times and sizes: on the big closure (one layer per
// store path, compressed in parallel), and on a toolchain image (GOROOT,
// real compressible data, one big store path: what intra-layer parallel
// compression is for), where the targets are checked.
func (b *bench) images(ctx context.Context, big *closure) error {
	if err := b.imagesOf(ctx, big.name, big.attrs["closure"], big.paths, big.root, false); err != nil {
		return err
	}
	if b.goroot == "" {
		return nil
	}
	// The toolchain image: GOROOT and busybox (for the process), from the
	// big closure's graph.
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(big.attrs["closure"], &entries); err != nil {
		return fmt.Errorf("closure graph: %w", err)
	}
	var kept []map[string]json.RawMessage
	var paths []string
	for _, e := range entries {
		var p string
		if err := json.Unmarshal(e["path"], &p); err != nil {
			return fmt.Errorf("closure graph: %w", err)
		}
		if p == b.goroot || strings.HasSuffix(p, "-busybox") {
			kept = append(kept, e)
			paths = append(paths, p)
		}
	}
	graph, err := json.Marshal(kept)
	if err != nil {
		return err
	}
	return b.imagesOf(ctx, "toolchain", graph, paths, b.goroot, true)
}

// imagesOf measures the candidates on the store paths of graph.
func (b *bench) imagesOf(ctx context.Context, name string, graphJSON []byte, paths []string, root string, targets bool) error {
	base := filepath.Join(b.work, "images-"+name)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	graph := filepath.Join(b.work, "graph-"+name+".json")
	if err := os.WriteFile(graph, graphJSON, 0o644); err != nil {
		return err
	}
	list := filepath.Join(b.work, "image-paths-"+name)
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	busybox := ""
	for _, p := range paths {
		if strings.HasSuffix(p, "-busybox") {
			busybox = p
		}
	}
	builder := filepath.Join(b.builder, "bin/oci-builder")
	ours := func(compression string) func(ctx context.Context, dir string) (time.Duration, error) {
		return func(ctx context.Context, dir string) (time.Duration, error) {
			// PATH is set so that the default one (every bin directory of
			// the closure) stays out of the measurement.
			return shell(ctx, fmt.Sprintf("mkdir -p %s\n%s image --graph %s --out %s --compression %s --env PATH=/bin -- %s -c %s >/dev/null",
				q(dir), q(builder), q(graph), q(filepath.Join(dir, "image")), compression, q(busybox+"/bin/sh"), q("echo "+root)))
		}
	}
	stream := func(compressor string) func(ctx context.Context, dir string) (time.Duration, error) {
		return func(ctx context.Context, dir string) (time.Duration, error) {
			// tar -T reads the list itself: no xargs, so no split archive.
			return shell(ctx, fmt.Sprintf("mkdir -p %s\ntar -c -T %s 2>/dev/null | %s > %s/closure.tar.compressed", q(dir), q(list), compressor, q(dir)))
		}
	}
	cands := []imageCandidate{
		{"`tar -c \\| gzip -6` (one stream)", "tar-gzip", stream("gzip -6")},
	}
	if _, err := exec.LookPath("pigz"); err == nil {
		cands = append(cands, imageCandidate{"`tar -c \\| pigz -6`", "tar-pigz", stream("pigz -6")})
	}
	cands = append(cands,
		imageCandidate{"`tar -c \\| zstd -3` (one stream)", "tar-zstd", stream("zstd -q -3")},
		imageCandidate{"`tar -c \\| zstd -3 -T0`", "tar-zstd-T0", stream("zstd -q -3 -T0")},
		imageCandidate{"oci-builder image, gzip", "image-gzip", ours("gzip")},
		imageCandidate{"oci-builder image, zstd", "image-zstd", ours("zstd")},
	)
	times := map[string][]time.Duration{}
	sizes := map[string]int64{}
	for rep := 0; rep < b.cfg.reps; rep++ {
		for k := range cands {
			c := cands[(k+rep)%len(cands)]
			dir := filepath.Join(base, fmt.Sprintf("run-%d-%d", rep, k))
			if err := b.settle(); err != nil {
				return err
			}
			d, err := c.run(ctx, dir)
			if err != nil {
				return fmt.Errorf("image of %s, %s: %w", name, c.name, err)
			}
			if rep == 0 {
				if sizes[c.key], err = dirSize(dir); err != nil {
					return err
				}
			}
			b.logf("image of %s: %s: %.2f s", name, c.name, d.Seconds())
			times[c.key] = append(times[c.key], d)
			if err := removeAll(dir); err != nil {
				return err
			}
		}
	}
	b.printf("\n### OCI image of the %s closure (%d store paths)\n\n", name, len(paths))
	b.printf("Into the store's filesystem, %d CPUs; oci-builder writes layers in parallel (one layer per store path, up to 100 layers, the rest grouped by popularity) and compresses blocks of each layer in parallel; `gzip -6` and `zstd -3` compress one stream on one core, `pigz -6` and `zstd -3 -T0` on every core. oci-builder's times include the whole image (the /etc layer, configuration, manifest, NAR hash verification when the graph has hashes). Ratio: time of `tar -c | gzip -6` over the candidate's.\n\n", runtime.NumCPU())
	b.printf("| candidate | median | size | ratio |\n|---|---|---|---|\n")
	base0 := median(times["tar-gzip"])
	for _, c := range cands {
		m := median(times[c.key])
		key := "image/" + c.key
		if targets {
			key = "image-" + name + "/" + c.key
		}
		b.results[key] = m
		b.printf("| %s | %s | %s | %s |\n", c.name, secs(m), size(sizes[c.key]), ratio(base0, m))
	}
	if targets {
		b.printf("\nTargets (issue 13), on this closure:\n\n")
		target := func(what, ref, ours string, wantSpeedup, maxSize float64) {
			if _, ok := times[ref]; !ok {
				b.printf("- %s: not measured (`%s` missing)\n", what, ref)
				return
			}
			speedup := median(times[ref]) / median(times[ours])
			growth := float64(sizes[ours])/float64(sizes[ref]) - 1
			verdict := "met"
			if speedup < wantSpeedup || growth > maxSize {
				verdict = "missed"
			}
			b.printf("- %s: **%s**: %.2fx the speed (want at least %.2fx), size %+.2f %% (want at most %+.0f %%)\n", what, verdict, speedup, wantSpeedup, 100*growth, 100*maxSize)
		}
		target("zstd at least as fast as `tar | zstd -3 -T0`, size within 1 %", "tar-zstd-T0", "image-zstd", 1, 0.01)
		target("gzip at least 1.5x faster than `tar | pigz -6`, size within 3 %", "tar-pigz", "image-gzip", 1.5, 0.03)
		b.printf("\n")
	}
	return nil
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
