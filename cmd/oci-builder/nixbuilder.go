package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/oci-builder/oci-builder/internal/units"
	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
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
	// Inside a build, a hard link to a store file that the build user does
	// not own makes Nix reject the output: such files are copied, and when
	// the store is not the build user's at all, hard links are given up
	// once, up front.
	opts := bundle.WriteOptions{Workers: in.workers, OwnedLinksOnly: true}
	note := ""
	reason, err := nixbuild.FallBackFromHardlinks(plan, os.Geteuid())
	if err != nil {
		return err
	}
	if reason != "" {
		fmt.Fprintf(e.stderr, "oci-builder: storeMode hardlink: %s; copying the closure instead\n", reason)
		note = " (hardlink refused by Nix)"
	}
	return writeBundle(ctx, e.stderr, in.out, plan, opts, note, bundle.Write)
}

// builderInput is what a derivation's builder reads from .attrs.json and
// the environment.
type builderInput struct {
	attrs *nixbuild.Attrs
	// out is the output path.
	out string
	// container are the container options.
	container container.Options
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
	if in.container, err = container.DecodeOptions(raw); err != nil {
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
	// Every path Nix exported goes into the rootfs, mentioned by the
	// process or not: nix/oci-tools.nix exports the store paths of the
	// context of the container's strings.
	if in.container.Roots, err = in.attrs.GraphRoots(in.graph.StoreDir()); err != nil {
		return in, err
	}
	in.container.StartCheck = startCheck(in.container)
	if in.workers, err = nixbuild.Cores(e.getenv); err != nil {
		return in, err
	}
	return in, nil
}

// writeFunc writes a planned bundle: bundle.Write or bundle.WriteAtomic.
type writeFunc func(ctx context.Context, out string, plan *bundle.Plan, opts bundle.WriteOptions) (rootfs.Stats, error)

// writeBundle writes the plan to out with write, reporting progress on log:
// a line when it starts, about one a second while it copies, and a summary.
// note is added to the summary's mode.
func writeBundle(ctx context.Context, log io.Writer, out string, plan *bundle.Plan, copyOpts bundle.WriteOptions, note string, write writeFunc) error {
	copyOpts.Workers = workerCount(copyOpts.Workers, log)
	var total uint64
	for _, info := range plan.Closure {
		total += info.NarSize
	}
	mode := plan.StoreMode
	verifying := ""
	if plan.Verify {
		verifying = ", verifying their NAR hashes"
	}
	progress := func(s rootfs.Stats) {
		fmt.Fprintln(log, "oci-builder: "+progressLine(s, len(plan.Closure), total))
	}
	switch {
	case mode == bundle.StoreBind && len(plan.Closure) == 0:
		fmt.Fprintln(log, "oci-builder: bind mode with an empty closure: no store path to mount")
	case mode == bundle.StoreBind && plan.Verify:
		fmt.Fprintf(log, "oci-builder: bind-mounting %d store paths (%s) read-only over a tmpfs at %s; reading them to verify their NAR hashes with %d workers\n",
			len(plan.Closure), sizeOrUnknown(total), plan.StoreDir, copyOpts.Workers)
		copyOpts.Progress = progress
	case mode == bundle.StoreBind:
		fmt.Fprintf(log, "oci-builder: bind-mounting %d store paths (%s) read-only over a tmpfs at %s; nothing to copy into %s/rootfs\n",
			len(plan.Closure), sizeOrUnknown(total), plan.StoreDir, out)
	default:
		fmt.Fprintf(log, "oci-builder: %s %d store paths (%s) into %s/rootfs with %d workers%s\n",
			verb(mode), len(plan.Closure), sizeOrUnknown(total), out, copyOpts.Workers, verifying)
		copyOpts.Progress = progress
	}
	stats, err := write(ctx, out, plan, copyOpts)
	if err != nil {
		return err
	}
	fmt.Fprintln(log, "oci-builder: "+summaryLine(mode, note, plan.Verify, stats))
	return nil
}

func verb(m bundle.StoreMode) string {
	switch m {
	case bundle.StoreReflink:
		return "cloning (reflink)"
	case bundle.StoreHardlink:
		return "hard-linking"
	}
	return "copying"
}

// summaryLine describes a finished bundle: mode, paths, files, bytes,
// seconds, the files that fell back to a copy, and how many store paths
// were verified against their NAR hashes.
func summaryLine(mode bundle.StoreMode, note string, verify bool, s rootfs.Stats) string {
	verified := "; not verified"
	if verify {
		verified = fmt.Sprintf("; verified %d of %d store paths against their NAR hashes", s.Verified, s.Paths)
	}
	if mode == bundle.StoreBind {
		return fmt.Sprintf("done: mode bind, %d paths bind-mounted read-only, 0 files copied, 0 B in %.2f s",
			s.Paths, s.Elapsed.Seconds()) + verified
	}
	line := fmt.Sprintf("done: mode %s%s, %d paths, %d files, %d directories, %d symlinks, %s in %.2f s",
		mode, note, s.Paths, s.Files, s.Dirs, s.Symlinks, humanBytes(uint64(s.Bytes)), s.Elapsed.Seconds())
	switch mode {
	case bundle.StoreReflink:
		line += fmt.Sprintf("; %d cloned, %d copied", s.Cloned, s.Copied)
	case bundle.StoreHardlink:
		line += fmt.Sprintf("; %d linked, %d copied", s.Linked, s.Copied)
	}
	if mode != bundle.StoreCopy {
		line += "; fallbacks: " + fallbacks(s)
	}
	return line + verified
}

// fallbacks lists the fallback counts by reason, in a fixed order.
func fallbacks(s rootfs.Stats) string {
	if len(s.Fallbacks) == 0 {
		return "none"
	}
	reasons := make([]string, 0, len(s.Fallbacks))
	for r := range s.Fallbacks {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d %s", s.Fallbacks[r], r)
	}
	return strings.Join(parts, ", ")
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

func humanBytes(n uint64) string { return units.Bytes(n) }

// maxWorkersPerCPU bounds the workers: copying and compressing gain nothing
// from more than a few per CPU, and each costs memory (a million of them,
// gigabytes).
const maxWorkersPerCPU = 4

// workerCount is the number of workers for n asked (--jobs, NIX_BUILD_CORES):
// one per CPU for 0 or less, at most maxWorkersPerCPU per CPU, with a note on
// log when n is lowered.
func workerCount(n int, log io.Writer) int {
	cpus := runtime.NumCPU()
	if n <= 0 {
		return cpus
	}
	if limit := maxWorkersPerCPU * cpus; n > limit {
		fmt.Fprintf(log, "oci-builder: note: using %d workers, not %d: at most %d per CPU (%d CPUs)\n", limit, n, maxWorkersPerCPU, cpus)
		return limit
	}
	return n
}
