package nar

import (
	"context"
	"fmt"
	"os"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/fsentry"
)

// HashPath computes the NAR hash and size of the tree at path (a directory,
// regular file or symlink, which is not followed), as `nix-store --dump
// path | sha256sum` would. The tree is walked through directory file
// descriptors, so its depth is not limited by PATH_MAX. Any other file type
// is an error naming it.
func HashPath(path string) (Sum, error) {
	return hashPath(context.Background(), path)
}

// hashPath is HashPath, giving up with ctx's cause between entries once ctx
// is done.
func hashPath(ctx context.Context, path string) (Sum, error) {
	w := walker{ctx: ctx, h: NewHasher(), buf: make([]byte, 256<<10)}
	if err := w.root(path); err != nil {
		return Sum{}, err
	}
	sum, err := w.h.Sum()
	if err != nil {
		return Sum{}, fmt.Errorf("hash %s: %w", path, err)
	}
	return sum, nil
}

// Verify checks that the NAR serialisation of the store path at path has
// the SHA-256 narHash (as in closure graphs, "sha256:<nix-base32>"). On a
// difference it returns a *MismatchError, whose message is one line naming
// the path, the expected and the actual hash.
func Verify(path, narHash string) error {
	if _, err := ParseHash(narHash); err != nil {
		return fmt.Errorf("store path %s: %w", path, err)
	}
	sum, err := HashPath(path)
	if err != nil {
		return err
	}
	return sum.Check(path, narHash)
}

type walker struct {
	ctx context.Context
	h   *Hasher
	buf []byte
}

// where is an entry's place in the tree, for error messages: the path is
// only joined when an error needs it, so deep trees cost no long strings.
type where struct {
	parent *where
	name   string
}

func (p *where) String() string {
	if p.parent == nil {
		return p.name
	}
	return p.parent.String() + "/" + p.name
}

func (w *walker) root(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("hash %s: %w", path, err)
		}
		return w.dir(fd, "", &where{name: path})
	default:
		return w.entry(unix.AT_FDCWD, path, "", &where{name: path})
	}
}

// entry adds the non-directory at dirFd/name (name is the NAR entry name,
// empty for the root) to the hash.
func (w *walker) entry(dirFd int, name, narName string, display *where) error {
	if w.ctx.Err() != nil {
		return context.Cause(w.ctx)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirFd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hash %s: %w", display, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fd, err := unix.Openat(dirFd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("hash %s: %w", display, err)
		}
		return w.dir(fd, narName, display)
	case unix.S_IFLNK:
		target, err := fsentry.Readlinkat(dirFd, name)
		if err != nil {
			return fmt.Errorf("hash %s: readlink: %w", display, err)
		}
		if err := w.h.Symlink(narName, target); err != nil {
			return fmt.Errorf("hash %s: %w", display, err)
		}
		return nil
	case unix.S_IFREG:
		return w.file(dirFd, name, narName, display)
	default:
		return fmt.Errorf("hash %s: is a %s; a NAR holds only regular files, directories and symlinks", display, fsentry.KindName(st.Mode))
	}
}

// dir adds the directory open at fd, which it closes, to the hash.
func (w *walker) dir(fd int, narName string, display *where) error {
	f := os.NewFile(uintptr(fd), narName)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("hash %s: list directory: %w", display, err)
	}
	// NAR entries are sorted by their bytes, which is Go's string order.
	sort.Strings(names)
	if err := w.h.Directory(narName); err != nil {
		return fmt.Errorf("hash %s: %w", display, err)
	}
	for _, name := range names {
		if err := w.entry(fd, name, name, &where{parent: display, name: name}); err != nil {
			return err
		}
	}
	if err := w.h.EndDirectory(); err != nil {
		return fmt.Errorf("hash %s: %w", display, err)
	}
	return nil
}

// file adds the regular file dirFd/name to the hash, reading it once.
func (w *walker) file(dirFd int, name, narName string, display *where) error {
	fd, err := unix.Openat(dirFd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("hash %s: %w", display, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("hash %s: %w", display, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("hash %s: is a %s; a NAR holds only regular files, directories and symlinks", display, fsentry.KindName(st.Mode))
	}
	size := uint64(st.Size)
	if err := w.h.File(narName, st.Mode&unix.S_IXUSR != 0, size); err != nil {
		return fmt.Errorf("hash %s: %w", display, err)
	}
	for off := uint64(0); off < size; {
		n, err := unix.Pread(fd, w.buf[:min(uint64(len(w.buf)), size-off)], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("hash %s: read: %w", display, err)
		}
		if n == 0 {
			return fmt.Errorf("hash %s: file shrank while being read", display)
		}
		if _, err := w.h.Write(w.buf[:n]); err != nil {
			return fmt.Errorf("hash %s: %w", display, err)
		}
		off += uint64(n)
	}
	return nil
}
