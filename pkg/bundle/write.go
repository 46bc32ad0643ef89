//go:build linux

package bundle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/rootfs"
	"github.com/oci-builder/oci-builder/pkg/specconv"
	"github.com/oci-builder/oci-builder/pkg/staging"
	"github.com/oci-builder/oci-builder/pkg/validate"
)

// copyOptions are the rootfs options that put files in place in mode,
// verifying them against verify.
func (o WriteOptions) copyOptions(mode rootfs.Mode, verify []nar.Expected) rootfs.Options {
	return rootfs.Options{
		Mode: mode, OwnedLinksOnly: o.OwnedLinksOnly, Workers: o.Workers,
		Progress: o.Progress, ProgressInterval: o.ProgressInterval, Verify: verify,
	}
}

// CopyMode is the rootfs copy mode that puts files in place for m. Bind
// mode copies nothing; it maps to rootfs.ModeCopy, unused.
func (m StoreMode) CopyMode() rootfs.Mode {
	switch m {
	case StoreReflink:
		return rootfs.ModeReflink
	case StoreHardlink:
		return rootfs.ModeHardlink
	}
	return rootfs.ModeCopy
}

// Write creates the bundle directory out (which must not exist) and fills it
// as planned: the rootfs with its mountpoints and the closure, then
// config.json, last, so that a bundle without it is visibly incomplete.
//
// plan.StoreMode decides how the closure gets into the rootfs: copied,
// cloned or hard-linked file by file, or, in bind mode, not at all: the
// store directory stays empty (the runtime makes the mountpoints in the
// tmpfs the spec mounts over it). With plan.Verify each closure path is
// checked against its narHash while it is copied, or, in bind mode, read
// for that; a mismatch is a *nar.MismatchError, and no config.json is
// written.
func Write(ctx context.Context, out string, plan *Plan, opts WriteOptions) (rootfs.Stats, error) {
	var stats rootfs.Stats
	config, err := specconv.MarshalConfig(plan.Spec)
	if err != nil {
		return stats, err
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return stats, fmt.Errorf("output directory %s %w", out, staging.ErrExists)
		}
		return stats, fmt.Errorf("create output directory: %w", err)
	}
	// The process umask may have taken bits away; the bundle directory is
	// 0755 (Nix rejects a group- or world-writable output).
	if err := os.Chmod(out, 0o755); err != nil {
		return stats, fmt.Errorf("create output directory: %w", err)
	}
	rootPath := filepath.Join(out, RootfsDir)
	if err := os.Mkdir(rootPath, 0o755); err != nil {
		return stats, fmt.Errorf("create rootfs: %w", err)
	}
	root, err := os.Open(rootPath)
	if err != nil {
		return stats, fmt.Errorf("open rootfs: %w", err)
	}
	defer root.Close()

	for _, mp := range plan.Mountpoints {
		if err := rootfs.MakeMountpoint(root, mp.Path, mp.IsFile); err != nil {
			return stats, err
		}
	}
	for _, d := range plan.Dirs {
		dir, err := rootfs.MakeDirs(root, d)
		if err != nil {
			return stats, err
		}
		dir.Close()
	}
	for _, f := range plan.Files {
		if err := rootfs.WriteFile(root, f.Path, f.Data, 0o444); err != nil {
			return stats, err
		}
	}
	for _, l := range plan.Symlinks {
		if err := rootfs.Symlink(root, l.Path, l.Target); err != nil {
			return stats, err
		}
	}
	if len(plan.Closure) > 0 {
		storeDir, err := rootfs.MakeDirs(root, plan.StoreDir)
		if err != nil {
			return stats, fmt.Errorf("store directory: %w", err)
		}
		defer storeDir.Close()
		sources := make([]string, len(plan.Closure))
		for i, info := range plan.Closure {
			sources[i] = info.Path
		}
		if plan.StoreMode == StoreBind {
			stats, err = writeBindStore(ctx, plan, opts)
		} else {
			var verify []nar.Expected
			if plan.Verify {
				verify = plan.Expected()
			}
			stats, err = rootfs.Copy(ctx, storeDir, sources, opts.copyOptions(plan.StoreMode.CopyMode(), verify))
		}
		if err != nil {
			return stats, err
		}
	}
	f, err := os.OpenFile(filepath.Join(out, ConfigFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return stats, fmt.Errorf("write %s: %w", ConfigFile, err)
	}
	if _, err := f.Write(config); err != nil {
		f.Close()
		return stats, fmt.Errorf("write %s: %w", ConfigFile, err)
	}
	if err := f.Close(); err != nil {
		return stats, fmt.Errorf("write %s: %w", ConfigFile, err)
	}
	// What the builder writes, validate accepts: the program, the
	// mountpoints and the working directory are checked in the bundle as
	// written, and a bundle that would not start loses its config.json.
	if r := validate.AtBuild(out, plan.StoreDir); !r.Valid() {
		os.Remove(filepath.Join(out, ConfigFile))
		return stats, fmt.Errorf("the bundle would not start: %s", r.Problems[0])
	}
	return stats, nil
}

// writeBindStore checks that every closure path can be bind-mounted, after
// reading the closure to verify it when the plan says so. Nothing is
// written: the runtime makes the mountpoints in the tmpfs the spec mounts
// at the store directory.
func writeBindStore(ctx context.Context, plan *Plan, opts WriteOptions) (rootfs.Stats, error) {
	start := time.Now()
	var stats rootfs.Stats
	if plan.Verify {
		var want []nar.Expected
		for _, e := range plan.Expected() {
			if e.NarHash != "" {
				want = append(want, e)
			}
		}
		var err error
		if stats, err = rootfs.Verify(ctx, want, opts.copyOptions(rootfs.ModeCopy, nil)); err != nil {
			return stats, err
		}
	}
	sources := make([]string, len(plan.Closure))
	for i, info := range plan.Closure {
		sources[i] = info.Path
	}
	if err := rootfs.CheckBindable(ctx, sources); err != nil {
		return stats, err
	}
	return rootfs.Stats{Paths: int64(len(sources)), Verified: stats.Verified, Elapsed: time.Since(start)}, nil
}

// WriteAtomic writes the bundle into a staging directory beside out and
// moves it to out only once it is complete, so that out either does not
// exist or is a whole bundle. On an error, a cancelled ctx included, what was
// written is removed. The leftovers of killed runs for out are removed
// first (see package staging; staging.RemoveStale lists them).
func WriteAtomic(ctx context.Context, out string, plan *Plan, opts WriteOptions) (stats rootfs.Stats, err error) {
	dir, err := staging.New(out)
	if err != nil {
		return stats, err
	}
	defer func() {
		if cerr := dir.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	stats, err = Write(ctx, dir.Path, plan, opts)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = dir.Commit()
	}
	return stats, err
}
