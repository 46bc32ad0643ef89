package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/oci-builder/oci-builder/pkg/bundle"
)

const writableUsage = `Usage: oci-builder writable [--jobs N] BUNDLE DIR

Writes DIR, a bundle whose container may write anywhere in its root
filesystem: a copy of BUNDLE's rootfs (cloned where the filesystem can,
never hard-linked, so nothing is shared with BUNDLE or the Nix store), with
write permission for each file's owner, and BUNDLE's config.json with
root.readonly false. Bundles that oci-builder writes, in the Nix store or
not, always have a read-only root: this is how to get a writable one
without letting a container write into the store. A bind-mode bundle's
store paths stay read-only bind mounts. DIR must not exist; it appears only
once complete.

Example:
  oci-builder writable ./result /var/lib/containers/web
  runc run --bundle /var/lib/containers/web web

Options:
  --jobs N   copy workers (default: one per CPU)`

func runWritable(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("writable", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	jobs := fs.Int("jobs", 0, "")
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("writable: %v", err)}
	}
	if fs.NArg() != 2 {
		return &usageError{"writable takes BUNDLE and DIR (see oci-builder writable --help)"}
	}
	if *jobs < 0 {
		return &usageError{"writable: --jobs must not be negative"}
	}
	if err := refuseInStore(fs.Arg(1), "", e.getenv); err != nil {
		return err
	}
	if err := removeStale(e, fs.Arg(1)); err != nil {
		return err
	}
	stats, err := bundle.WritableCopy(ctx, fs.Arg(0), fs.Arg(1), bundle.WriteOptions{Workers: workerCount(*jobs, e.stderr)})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "oci-builder: done: %d files, %d directories, %d symlinks, %s (%d cloned, %d copied) in %.2f s\n",
		stats.Files, stats.Dirs, stats.Symlinks, humanBytes(uint64(stats.Bytes)), stats.Cloned, stats.Copied, stats.Elapsed.Seconds())
	return printResult(e.stdout, fs.Arg(1), "the bundle "+fs.Arg(1)+" is written")
}
