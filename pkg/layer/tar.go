// Package layer writes OCI image layers holding Nix store paths:
// deterministic tar streams, compressed with gzip or zstd, with the digests
// an image needs (of the compressed blob and of the tar, its DiffID)
// computed while the bytes go by.
//
// The same store paths always give the same bytes: entries are sorted by
// name, every entry has mtime 1, uid and gid 0 and no user or group names,
// the parent directories of the store directory (/nix, /nix/store) come
// first with mode 0755, hard links are written as regular files, and the
// compressors are deterministic for a given level.
//
// Trees are read through directory file descriptors (openat, getdents,
// fstatat), never joined paths, so depth is not limited by PATH_MAX and no
// symlink is followed.
package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/fsentry"
)

// modTime is the modification time of every entry, in seconds since the
// epoch: 1, as Nix sets it in the store.
const modTime = 1

// whiteoutPrefix marks deletions in OCI layers; a store file with such a name
// would be taken for one by every unpacker.
const whiteoutPrefix = ".wh."

// Stats counts the entries of a layer.
type Stats struct {
	Files, Dirs, Symlinks int64
	// Bytes is the total size of the regular files' contents.
	Bytes int64
}

// tarWriter walks store paths into a tar stream.
type tarWriter struct {
	ctx   context.Context
	tw    *tar.Writer
	buf   []byte
	stats Stats
	// progress, when set, is called with the number of content bytes
	// written since its last call.
	progress func(int64)
}

// WriteTar writes the uncompressed layer holding paths, absolute store paths
// directly inside storeDir, to w: the directories leading to storeDir, then
// each path's tree, in sorted order. progress, when not nil, is called from
// the writing goroutine with the number of file content bytes written since
// the previous call.
func WriteTar(ctx context.Context, w io.Writer, storeDir string, paths []string, progress func(int64)) (Stats, error) {
	if !path.IsAbs(storeDir) || path.Clean(storeDir) != storeDir || storeDir == "/" {
		return Stats{}, fmt.Errorf("store directory %q is not a clean absolute path", storeDir)
	}
	sorted := append([]string(nil), paths...)
	sort.Strings(sorted)
	for i, p := range sorted {
		if path.Dir(p) != storeDir {
			return Stats{}, fmt.Errorf("store path %s is not directly in %s", p, storeDir)
		}
		if i > 0 && sorted[i-1] == p {
			return Stats{}, fmt.Errorf("store path %s is given twice", p)
		}
	}
	t := &tarWriter{ctx: ctx, tw: tar.NewWriter(w), buf: make([]byte, 256*1024), progress: progress}
	// The parent directories: "nix/", "nix/store/".
	rel := strings.TrimPrefix(storeDir, "/")
	parts := strings.Split(rel, "/")
	for i := range parts {
		dir := strings.Join(parts[:i+1], "/")
		if err := t.header(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}); err != nil {
			return t.stats, err
		}
	}
	if len(sorted) > 0 {
		store, err := os.Open(storeDir)
		if err != nil {
			return t.stats, fmt.Errorf("open store directory: %w", err)
		}
		defer store.Close()
		for _, p := range sorted {
			if err := t.entry(store, path.Base(p), rel+"/"+path.Base(p), p); err != nil {
				return t.stats, err
			}
		}
	}
	if err := t.tw.Close(); err != nil {
		return t.stats, fmt.Errorf("finish tar: %w", err)
	}
	return t.stats, nil
}

// header writes h with the layer's fixed metadata: mtime 1, no user or
// group names. Uid and Gid are h's own (0 unless set).
func (t *tarWriter) header(h *tar.Header) error {
	h.ModTime = time.Unix(modTime, 0)
	h.Uname, h.Gname = "", ""
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("tar header for %s: %w", h.Name, err)
	}
	return nil
}

// entry writes the entry name of the directory dir, and everything under it,
// as name (the path inside the layer); display is its path on the host, for
// messages.
func (t *tarWriter) entry(dir *os.File, name, tarName, display string) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	if strings.HasPrefix(name, whiteoutPrefix) {
		return fmt.Errorf("%s: a name starting with %q would be read as a deletion (whiteout) in an OCI layer", display, whiteoutPrefix)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", display, err)
	}
	perm := int64(st.Mode & 0o7777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return t.dir(dir, name, tarName, display, perm)
	case unix.S_IFLNK:
		target, err := fsentry.Readlinkat(int(dir.Fd()), name)
		if err != nil {
			return fmt.Errorf("read symlink %s: %w", display, err)
		}
		t.stats.Symlinks++
		return t.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: tarName, Linkname: target, Mode: 0o777})
	case unix.S_IFREG:
		return t.file(dir, name, tarName, display, perm)
	default:
		return fmt.Errorf("%s: a %s cannot be put in a layer (only directories, regular files and symlinks)", display, fsentry.KindName(st.Mode))
	}
}

func (t *tarWriter) dir(parent *os.File, name, tarName, display string, perm int64) error {
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", display, err)
	}
	d := os.NewFile(uintptr(fd), display)
	defer d.Close()
	if err := t.header(&tar.Header{Typeflag: tar.TypeDir, Name: tarName + "/", Mode: perm}); err != nil {
		return err
	}
	t.stats.Dirs++
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", display, err)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := t.entry(d, n, tarName+"/"+n, display+"/"+n); err != nil {
			return err
		}
	}
	return nil
}

func (t *tarWriter) file(parent *os.File, name, tarName, display string, perm int64) error {
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", display, err)
	}
	f := os.NewFile(uintptr(fd), display)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", display, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s changed while it was read: no longer a regular file", display)
	}
	if err := t.header(&tar.Header{Typeflag: tar.TypeReg, Name: tarName, Mode: perm, Size: st.Size}); err != nil {
		return err
	}
	n, err := io.CopyBuffer(t.tw, io.LimitReader(readerOnly{f}, st.Size), t.buf)
	if err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return we.err
		}
		return fmt.Errorf("read %s: %w", display, err)
	}
	if n != st.Size {
		return fmt.Errorf("%s changed while it was read: %d bytes instead of %d", display, n, st.Size)
	}
	if m, _ := f.Read(t.buf[:1]); m != 0 {
		return fmt.Errorf("%s changed while it was read: it grew past %d bytes", display, st.Size)
	}
	t.stats.Files++
	t.stats.Bytes += n
	if t.progress != nil {
		t.progress(n)
	}
	return nil
}

// readerOnly hides *os.File's WriterTo so that io.CopyBuffer uses the
// writer's buffer size.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// writeError marks errors of the layer's destination, so that they are not
// reported as read errors of the file being copied.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
