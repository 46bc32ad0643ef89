// Package layer writes OCI image layers holding Nix store paths:
// deterministic tar streams, compressed with gzip or zstd, with the digests
// an image needs (of the compressed blob and of the tar, its DiffID)
// computed while the bytes go by.
//
// The same store paths always give the same bytes: entries are sorted by
// name, every entry has mtime 1, uid and gid 0 and no user or group names,
// the parent directories of the store directory (/nix, /nix/store) come
// first with mode 0755, hard links are written as regular files, and the
// compressors are deterministic for a given level and block size, whatever
// the number of goroutines compressing (see Pool).
//
// Trees are read through directory file descriptors (package tree),
// never joined paths, so depth is not limited by PATH_MAX and no symlink is
// followed; a file that changes while it is read fails the layer. Each
// store path can be checked against its NAR hash from the bytes written
// (Options.Verify), without reading anything twice.
package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/fsentry"
	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/store/tree"
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
	// Verified is the number of store paths whose NAR hash (and size)
	// matched (see Options.Verify).
	Verified int64
}

// Options tune WriteTar and Write.
type Options struct {
	// Progress, when not nil, is called from the writing goroutine with
	// the number of file content bytes written since its previous call.
	Progress func(int64)
	// Verify holds what the closure graph says of some of the store
	// paths (nar.Expected, by Path). Each of them with a NarHash is
	// hashed in NAR order from the very bytes the tar gets, each file
	// read once, and checked once its tree is written: a different hash
	// fails the layer with a *nar.MismatchError. Paths not in Verify are
	// written unchecked.
	Verify []nar.Expected
	// Pool, when not nil, compresses the layer's blocks (Write): a big
	// layer uses all of its workers. Nil means one goroutine. The bytes
	// written do not depend on it.
	Pool *Pool
	// Owner, when not nil, owns the entries of the store paths (and the
	// directories leading to the store) and sets their modification
	// time, its perms changing some; nil means uid and gid 0, no names,
	// mtime 1.
	Owner *Ownership
	// Entries, when not nil, are written after the store paths, as
	// WriteEntriesTar writes them (a layer holding both: dockerTools'
	// buildImage copies its copyToRoot at / beside the closure). They
	// must not be inside the store directory.
	Entries []Entry
	// Tar, when set, is a tar file whose entries follow, copied as they
	// are (CopyTarFile): the customisation layer dockerTools.buildImage's
	// shell arguments made, in the layer of the closure.
	Tar string
}

// tarWriter walks store paths into a tar stream.
type tarWriter struct {
	ctx context.Context
	tw  *tar.Writer
	buf []byte
	// direct, when set, is the writer under tw when it can lend the
	// unused part of its buffer: file contents are read into it, and
	// written from it without a copy.
	direct lender
	stats  Stats
	// progress, when set, is called with the number of content bytes
	// written since its last call.
	progress func(int64)
	// h, when not nil, is the NAR hasher of the store path being written.
	h *nar.Hasher
	// own owns the entries of store paths.
	own *owner
}

// WriteTar writes the uncompressed layer holding paths, absolute store paths
// directly inside storeDir, to w: the directories leading to storeDir, then
// each path's tree, in sorted order. Within a path, entries come in NAR
// order (see package tree), which is what lets opts.Verify hash the
// bytes written.
func WriteTar(ctx context.Context, w io.Writer, storeDir string, paths []string, opts Options) (Stats, error) {
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
	want := make(map[string]nar.Expected, len(opts.Verify))
	for _, e := range opts.Verify {
		if _, ok := slices.BinarySearch(sorted, e.Path); !ok {
			return Stats{}, fmt.Errorf("verify: store path %s is not in the layer", e.Path)
		}
		if e.NarHash == "" {
			continue
		}
		if _, err := nar.ParseHash(e.NarHash); err != nil {
			return Stats{}, fmt.Errorf("store path %s: %w", e.Path, err)
		}
		want[e.Path] = e
	}
	own, err := newOwner(opts.Owner)
	if err != nil {
		return Stats{}, err
	}
	for _, e := range opts.Entries {
		if e.Path == storeDir || strings.HasPrefix(e.Path, storeDir+"/") {
			return Stats{}, fmt.Errorf("layer entry %s is inside the store directory %s", e.Path, storeDir)
		}
	}
	t := &tarWriter{ctx: ctx, tw: tar.NewWriter(w), buf: make([]byte, 256*1024), progress: opts.Progress, own: own}
	t.direct, _ = w.(lender)
	// The parent directories: "nix/", "nix/store/".
	rel := strings.TrimPrefix(storeDir, "/")
	parts := strings.Split(rel, "/")
	written := map[string]bool{}
	for i := range parts {
		dir := strings.Join(parts[:i+1], "/")
		written["/"+dir] = true
		if err := t.header(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}, ""); err != nil {
			return t.stats, err
		}
	}
	if len(sorted) > 0 {
		store, err := unix.Open(storeDir, fsentry.OPath|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return t.stats, fmt.Errorf("open store directory %s: %w", storeDir, err)
		}
		defer unix.Close(store)
		for _, p := range sorted {
			if err := t.storePath(store, p, want); err != nil {
				return t.stats, err
			}
		}
	}
	if opts.Entries != nil {
		if err := t.entries(opts.Entries, written); err != nil {
			return t.stats, err
		}
	}
	if opts.Tar != "" {
		// The file's entries and end-of-archive blocks end the layer.
		if err := t.tw.Flush(); err != nil {
			return t.stats, fmt.Errorf("finish tar: %w", err)
		}
		st, err := CopyTarFile(ctx, w, opts.Tar)
		t.stats.Dirs += st.Dirs
		t.stats.Files += st.Files
		t.stats.Symlinks += st.Symlinks
		t.stats.Bytes += st.Bytes
		return t.stats, err
	}
	if err := t.tw.Close(); err != nil {
		return t.stats, fmt.Errorf("finish tar: %w", err)
	}
	return t.stats, nil
}

// storePath writes the store path p, whose name is in the directory store,
// and checks its NAR hash when want has it.
func (t *tarWriter) storePath(store int, p string, want map[string]nar.Expected) error {
	e, verify := want[p]
	t.h = nil
	if verify {
		t.h = nar.NewHasher()
	}
	if err := tree.WalkAt(t.ctx, store, path.Base(p), p, t, tree.Options{Op: "read"}); err != nil {
		return err
	}
	if !verify {
		return nil
	}
	sum, err := t.h.Sum()
	t.h = nil
	if err != nil {
		return fmt.Errorf("hash %s: %w", p, err)
	}
	if err := sum.CheckExpected(e); err != nil {
		return err
	}
	t.stats.Verified++
	return nil
}

// header writes h with the layer's owner (uid and gid 0, no names, mtime
// 1 without one), its perms applied when src, the entry's path in the
// store, matches them.
func (t *tarWriter) header(h *tar.Header, src string) error {
	t.own.apply(h, src)
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("tar header for %s: %w", h.Name, err)
	}
	return nil
}

// The walk of a store path: tarWriter is its tree.Visitor.

// tarName is e's name in the layer: its path without the leading slash.
func tarName(e *tree.Entry) string { return e.Path()[1:] }

// checkName refuses names that OCI layers give a meaning. (The walk of a
// store path is given its name in the store directory, so the root's Name
// is the store path's too.)
func checkName(e *tree.Entry) error {
	if strings.HasPrefix(e.Name, whiteoutPrefix) {
		return fmt.Errorf("%s: a name starting with %q would be read as a deletion (whiteout) in an OCI layer", e.Path(), whiteoutPrefix)
	}
	return nil
}

// hashErr words an error of the NAR hasher about e.
func hashErr(e *tree.Entry, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("hash %s: %w", e.Path(), err)
}

func (t *tarWriter) EnterDir(d *tree.Entry) error {
	if err := checkName(d); err != nil {
		return err
	}
	if err := t.header(&tar.Header{Typeflag: tar.TypeDir, Name: tarName(d) + "/", Mode: int64(d.Stat.Mode & 0o7777)}, d.Path()); err != nil {
		return err
	}
	t.stats.Dirs++
	if t.h != nil {
		return hashErr(d, t.h.Directory(d.NARName()))
	}
	return nil
}

func (t *tarWriter) LeaveDir(d *tree.Entry) error {
	if t.h != nil {
		return hashErr(d, t.h.EndDirectory())
	}
	return nil
}

func (t *tarWriter) Symlink(e *tree.Entry, target string) error {
	if err := checkName(e); err != nil {
		return err
	}
	if err := t.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: tarName(e), Linkname: target, Mode: 0o777}, e.Path()); err != nil {
		return err
	}
	t.stats.Symlinks++
	if t.h != nil {
		return hashErr(e, t.h.Symlink(e.NARName(), target))
	}
	return nil
}

// File writes the regular file open at e.Fd, reading it once for the tar
// and, when verifying, the NAR hash.
func (t *tarWriter) File(e *tree.Entry) error {
	if err := checkName(e); err != nil {
		return err
	}
	size := e.Stat.Size
	if err := t.header(&tar.Header{Typeflag: tar.TypeReg, Name: tarName(e), Mode: int64(e.Stat.Mode & 0o7777), Size: size}, e.Path()); err != nil {
		return err
	}
	if t.h != nil {
		if err := t.h.File(e.NARName(), e.Stat.Mode&unix.S_IXUSR != 0, uint64(size)); err != nil {
			return hashErr(e, err)
		}
	}
	for off := int64(0); off < size; {
		buf := t.buf
		if t.direct != nil {
			if free := t.direct.lend(); len(free) >= minLent {
				buf = free
			}
		}
		n, err := unix.Pread(e.Fd, buf[:min(int64(len(buf)), size-off)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", e.Path(), err)
		}
		if n == 0 {
			return fmt.Errorf("read %s: changed while it was read: it shrank from %d to %d bytes", e.Path(), size, off)
		}
		if t.h != nil {
			// The hasher checks only the sizes it was told. (Before the
			// tar gets the bytes: a lent buffer may be compressed and
			// reused once written.)
			if _, err := t.h.Write(buf[:n]); err != nil {
				return hashErr(e, err)
			}
		}
		if _, err := t.tw.Write(buf[:n]); err != nil {
			var we *writeError
			if errors.As(err, &we) {
				return we.err
			}
			return fmt.Errorf("tar entry %s: %w", tarName(e), err)
		}
		off += int64(n)
	}
	t.stats.Files++
	t.stats.Bytes += size
	if t.progress != nil {
		t.progress(size)
	}
	return nil
}

// lender is a writer that lends the unused part of its buffer: what is read
// into lend's slice and then written, from its start, is taken without a
// copy. (The parallel compressor's blocks: the file contents of a layer
// are then read straight into the block that compresses them.)
type lender interface {
	io.Writer
	// lend returns the unused part of the buffer, or nothing.
	lend() []byte
}

// minLent is the least space worth reading a file into directly; with
// less, the tar writer reads into its own buffer.
const minLent = 32 << 10

// writeError marks errors of the layer's destination, so that they are not
// reported as read errors of the file being copied.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
