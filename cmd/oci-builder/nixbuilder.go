package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
	"github.com/oci-builder/oci-builder/pkg/rootfs"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// runNixBuilder is the derivation builder: .attrs.json in, bundle out.
func runNixBuilder(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		return &usageError{"nix-builder takes no arguments"}
	}
	in, err := readBuilderInput(e)
	if err != nil {
		return err
	}
	plan, err := bundle.NewPlan(in.graph, in.container, bundle.HostStore{})
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(e.stderr, "oci-builder: warning: %s\n", w)
	}
	return writeBundle(ctx, e.stderr, in.out, plan, in.workers, bundle.Write)
}

// builderInput is what a derivation's builder reads from .attrs.json and
// the environment.
type builderInput struct {
	attrs *nixbuild.Attrs
	// out is the output path.
	out string
	// container are the container options.
	container bundle.Options
	// graph is the closure graph.
	graph *store.Graph
	// workers is NIX_BUILD_CORES (0 meaning every CPU).
	workers int
}

// readBuilderInput finds and reads .attrs.json: the output, the container
// options, the closure graph; and the number of cores.
func readBuilderInput(e env) (builderInput, error) {
	var in builderInput
	attrsPath, err := nixbuild.FindAttrs(e.getenv)
	if err != nil {
		return in, err
	}
	if in.attrs, err = nixbuild.ReadAttrs(attrsPath); err != nil {
		return in, err
	}
	if in.out, err = in.attrs.Output("out"); err != nil {
		return in, err
	}
	raw, ok := in.attrs.Raw("container")
	if !ok {
		return in, fmt.Errorf("%s has no \"container\" attribute: use nix/oci-tools.nix to make the derivation", nixbuild.AttrsFile)
	}
	if in.container, err = bundle.DecodeOptions(raw); err != nil {
		return in, err
	}
	storeDir, err := in.attrs.String("storeDir")
	if err != nil {
		return in, err
	}
	if storeDir == "" {
		storeDir = e.getenv("NIX_STORE")
	}
	if in.graph, err = in.attrs.Graph(storeDir); err != nil {
		return in, err
	}
	if in.workers, err = nixbuild.Cores(e.getenv); err != nil {
		return in, err
	}
	return in, nil
}

// writeFunc writes a planned bundle: bundle.Write or bundle.WriteAtomic.
type writeFunc func(ctx context.Context, out string, plan *bundle.Plan, copyOpts rootfs.Options) (rootfs.Stats, error)

// writeBundle writes the plan to out with write, reporting progress on log.
func writeBundle(ctx context.Context, log io.Writer, out string, plan *bundle.Plan, workers int, write writeFunc) error {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var total uint64
	for _, info := range plan.Closure {
		total += info.NarSize
	}
	fmt.Fprintf(log, "oci-builder: copying %d store paths (%s) into %s/rootfs with %d workers\n",
		len(plan.Closure), sizeOrUnknown(total), out, workers)
	stats, err := write(ctx, out, plan, rootfs.Options{
		Workers:  workers,
		Progress: func(s rootfs.Stats) { fmt.Fprintln(log, "oci-builder: "+progressLine(s, len(plan.Closure), total)) },
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "oci-builder: done: mode copy, %d paths, %d files, %d directories, %d symlinks, %s in %.2f s\n",
		stats.Paths, stats.Files, stats.Dirs, stats.Symlinks, humanBytes(uint64(stats.Bytes)), stats.Elapsed.Seconds())
	return nil
}

func progressLine(s rootfs.Stats, paths int, total uint64) string {
	rate := 0.0
	if secs := s.Elapsed.Seconds(); secs > 0 {
		rate = float64(s.Bytes) / secs
	}
	return fmt.Sprintf("%d/%d paths, %d files, %s of %s, %s/s",
		s.Paths, paths, s.Files, humanBytes(uint64(s.Bytes)), sizeOrUnknown(total), humanBytes(uint64(rate)))
}

func sizeOrUnknown(n uint64) string {
	if n == 0 {
		return "size unknown"
	}
	return "~" + humanBytes(n)
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
