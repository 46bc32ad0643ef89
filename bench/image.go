package main

import (
	"context"
	"fmt"
	"os"
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

// images measures `oci-builder image` of the big closure (one layer per
// store path, compressed in parallel) against one tar stream of the same
// paths piped to a single compressor, as dockerTools and a plain shell
// would do it, and reports times and sizes.
func (b *bench) images(ctx context.Context, big *closure) error {
	base := filepath.Join(b.work, "images")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	graph := filepath.Join(b.work, "graph-"+big.name+".json")
	if err := os.WriteFile(graph, big.attrs["closure"], 0o644); err != nil {
		return err
	}
	list := filepath.Join(b.work, "image-paths-"+big.name)
	if err := os.WriteFile(list, []byte(strings.Join(big.paths, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	busybox := ""
	for _, p := range big.paths {
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
				q(dir), q(builder), q(graph), q(filepath.Join(dir, "image")), compression, q(busybox+"/bin/sh"), q("echo "+big.root)))
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
		{"`tar -c \\| zstd -3` (one stream)", "tar-zstd", stream("zstd -q -3")},
		{"oci-builder image, gzip", "image-gzip", ours("gzip")},
		{"oci-builder image, zstd", "image-zstd", ours("zstd")},
	}
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
				return fmt.Errorf("image, %s: %w", c.name, err)
			}
			if rep == 0 {
				if sizes[c.key], err = dirSize(dir); err != nil {
					return err
				}
			}
			b.logf("image: %s: %.2f s", c.name, d.Seconds())
			times[c.key] = append(times[c.key], d)
			if err := removeAll(dir); err != nil {
				return err
			}
		}
	}
	b.printf("\n### OCI image of the closure\n\n")
	b.printf("Into the store's filesystem; oci-builder writes %d layers at once (one layer per store path, up to 100 layers, the rest grouped by popularity); the pipelines compress one stream on one core. Ratio: time of `tar -c | gzip -6` over the candidate's.\n\n", runtime.NumCPU())
	b.printf("| candidate | median | size | ratio |\n|---|---|---|---|\n")
	base0 := median(times["tar-gzip"])
	for _, c := range cands {
		m := median(times[c.key])
		b.results["image/"+c.key] = m
		b.printf("| %s | %s | %s | %s |\n", c.name, secs(m), size(sizes[c.key]), ratio(base0, m))
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
