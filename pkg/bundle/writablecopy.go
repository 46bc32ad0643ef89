//go:build linux

package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/rootfs"
	"github.com/oci-builder/oci-builder/pkg/staging"
)

// WritableCopy writes to out, which must not exist, a bundle whose
// container may write to its root filesystem: a copy of src's root
// filesystem, cloned where the filesystem allows it (never hard-linked, so
// that nothing is shared with src or the store), with write permission for
// each entry's owner, and src's config.json with root.path "rootfs" and
// root.readonly false. Nothing else of the configuration changes, so a
// bind-mode bundle's store paths stay read-only bind mounts. out appears
// only once complete (see package staging).
func WritableCopy(ctx context.Context, src, out string, opts WriteOptions) (stats rootfs.Stats, err error) {
	data, err := readlimit.File(filepath.Join(src, ConfigFile), "a bundle's config.json", readlimit.BundleConfig)
	if err != nil {
		return stats, fmt.Errorf("read bundle: %w", err)
	}
	// Numbers stay as written (json.Number), however large.
	var config map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&config); err != nil || config == nil {
		return stats, fmt.Errorf("%s: not a JSON object", filepath.Join(src, ConfigFile))
	}
	root, _ := config["root"].(map[string]any)
	rootPath, _ := root["path"].(string)
	if rootPath == "" {
		return stats, fmt.Errorf("%s has no root.path", filepath.Join(src, ConfigFile))
	}
	if !filepath.IsAbs(rootPath) {
		rootPath = filepath.Join(src, rootPath)
	}
	entries, err := os.ReadDir(rootPath)
	if err != nil {
		return stats, fmt.Errorf("bundle rootfs: %w", err)
	}
	config["root"] = map[string]any{"path": RootfsDir, "readonly": false}
	newConfig, err := json.MarshalIndent(config, "", "\t")
	if err != nil {
		return stats, fmt.Errorf("encode %s: %w", ConfigFile, err)
	}

	dir, err := staging.New(out)
	if err != nil {
		return stats, err
	}
	defer func() {
		if cerr := dir.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	dstRoot := filepath.Join(dir.Path, RootfsDir)
	for _, d := range []string{dir.Path, dstRoot} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return stats, fmt.Errorf("create %s: %w", d, err)
		}
	}
	dst, err := os.Open(dstRoot)
	if err != nil {
		return stats, fmt.Errorf("open %s: %w", dstRoot, err)
	}
	defer dst.Close()
	sources := make([]string, len(entries))
	for i, e := range entries {
		sources[i] = filepath.Join(rootPath, e.Name())
	}
	if stats, err = rootfs.Copy(ctx, dst, sources, opts.copyOptions(rootfs.ModeReflink, nil)); err != nil {
		return stats, err
	}
	err = filepath.WalkDir(dstRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Chmod(p, info.Mode().Perm()|info.Mode()&(fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid)|0o200); err != nil {
			return fmt.Errorf("make %s writable: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return stats, err
	}
	f, err := os.OpenFile(filepath.Join(dir.Path, ConfigFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return stats, fmt.Errorf("write %s: %w", ConfigFile, err)
	}
	if _, err := f.Write(append(newConfig, '\n')); err != nil {
		f.Close()
		return stats, fmt.Errorf("write %s: %w", ConfigFile, err)
	}
	if err := f.Close(); err != nil {
		return stats, fmt.Errorf("write %s: %w", ConfigFile, err)
	}
	if err := ctx.Err(); err != nil {
		return stats, err
	}
	return stats, dir.Commit()
}
