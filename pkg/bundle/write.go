package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/rootfs"
)

// ConfigFile is the name of the runtime configuration inside a bundle.
const ConfigFile = "config.json"

// MarshalConfig renders a configuration as config.json's bytes: indented,
// with a final newline, the same bytes for the same spec.
func MarshalConfig(spec *specs.Spec) ([]byte, error) {
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ConfigFile, err)
	}
	return append(data, '\n'), nil
}

// Write creates the bundle directory out (which must not exist) and fills it
// as planned: the rootfs with its mountpoints and the closure, then
// config.json, last, so that a bundle without it is visibly incomplete.
//
// plan.StoreMode decides how the closure gets into the rootfs (it sets
// copyOpts.Mode): copied, cloned or hard-linked file by file, or, in bind
// mode, not at all: each closure path gets an empty mountpoint (a directory,
// or an empty file for a store path that is a file).
func Write(ctx context.Context, out string, plan *Plan, copyOpts rootfs.Options) (rootfs.Stats, error) {
	var stats rootfs.Stats
	copyOpts.Mode = plan.StoreMode.CopyMode()
	config, err := MarshalConfig(plan.Spec)
	if err != nil {
		return stats, err
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return stats, fmt.Errorf("output directory %s already exists", out)
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
			stats, err = rootfs.StoreMountpoints(ctx, storeDir, sources)
		} else {
			stats, err = rootfs.Copy(ctx, storeDir, sources, copyOpts)
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
	return stats, nil
}
