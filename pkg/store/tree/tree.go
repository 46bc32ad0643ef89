// Package tree walks the tree of a store path (a directory, regular
// file or symlink, as a NAR holds it) for the packages that read store
// paths: nar hashes them, layer writes them into tar streams, rootfs copies
// them, and rootfs.RemoveAll deletes trees.
//
// The walk goes through directory file descriptors (openat with
// O_NOFOLLOW|O_CLOEXEC, getdents, fstatat), never joined paths, so its
// depth is not limited by PATH_MAX and no symlink is ever followed. The
// entries of a directory come in NAR order: sorted by the bytes of their
// names. A visitor gets an event for each entry: a directory when it is
// entered and when it is left, a regular file open for reading with its
// status, a symlink with its target. Any other file type (a FIFO, a socket,
// a device) fails the walk with one error naming it, unless the visitor
// takes such entries (OtherVisitor). A regular file that the walk opened
// and that changes while the visitor reads it (its size, modification time
// or status change time differ after the visit from before) fails the walk
// with an error naming it; a visitor that opens files itself (DeferFiles)
// can check them with Unchanged.
package tree

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/fsentry"
)

// Visitor gets the entries of a tree in NAR order. An error returned by
// one of its methods ends the walk and is what Walk returns, as it is: the
// visitor words its own errors.
type Visitor interface {
	// EnterDir is called for each directory, the root included, before
	// its entries: d.Fd is the directory, open for reading, and d.Stat
	// its status.
	EnterDir(d *Entry) error
	// LeaveDir is called after the entries of d. It is not called when
	// the walk of d's entries failed.
	LeaveDir(d *Entry) error
	// Symlink is called for each symlink, with its target.
	Symlink(e *Entry, target string) error
	// File is called for each regular file. e.Fd is the file, open for
	// reading, and e.Stat its status, unless Options.DeferFiles is set:
	// then nothing is opened, e.Fd is -1, e.Stat is zero, and the
	// visitor opens the file itself (see OpenFile). Once File returns the
	// walk checks that the file it opened did not change (see Unchanged)
	// and closes it.
	File(e *Entry) error
}

// OtherVisitor is a Visitor that takes the entries a store path cannot
// hold: FIFOs, sockets and devices, which otherwise fail the walk. Nothing
// is opened; e.Kind tells the type.
type OtherVisitor interface {
	Visitor
	Other(e *Entry) error
}

// Options tune a walk.
type Options struct {
	// Op is the first word of the walk's own error messages ("hash",
	// "copy", ...), followed by the entry's path; default "walk".
	Op string
	// DeferFiles leaves regular files closed: Visitor.File gets them
	// unopened, for a visitor that hands them to other goroutines.
	DeferFiles bool
}

// Entry is an entry of the tree. Entries of directories stay valid until
// LeaveDir returns; the Entry given for any other entry only during its
// call.
type Entry struct {
	// Parent is the directory holding the entry, nil for the root.
	Parent *Entry
	// Name is the entry's name in DirFd. The root's is the name or path
	// the walk was given (see NARName).
	Name string
	// DirFd is the directory holding Name: the parent's Fd, or for the
	// root the descriptor the walk was given (AT_FDCWD for Walk).
	DirFd int
	// Kind is the file type: unix.S_IFDIR, S_IFREG, S_IFLNK or, for an
	// OtherVisitor, another S_IF* value.
	Kind uint32
	// Fd is a directory's descriptor, or a regular file's when the walk
	// opened it; -1 otherwise. The walk closes it after LeaveDir or File,
	// unless KeepFd took it.
	Fd int
	// Stat is the status of a directory, or of a regular file the walk
	// opened, taken through Fd; zero otherwise.
	Stat unix.Stat_t

	path string // for Path, joined once asked for
	kept bool
}

// IsRoot reports whether e is the root of the walk.
func (e *Entry) IsRoot() bool { return e.Parent == nil }

// NARName is the entry's name in a NAR: Name, empty for the root.
func (e *Entry) NARName() string {
	if e.Parent == nil {
		return ""
	}
	return e.Name
}

// Path is the entry's path for messages: the root's display path (Walk's
// root) joined with the names below it. It is joined when first asked for
// and kept, so deep trees cost no long strings unless an error needs them,
// and a directory's path is joined once for all its entries.
func (e *Entry) Path() string {
	if e.path == "" && e.Parent != nil {
		e.path = e.Parent.Path() + "/" + e.Name
	}
	return e.path
}

// KeepFd hands a directory's descriptor over to the caller, who must close
// it: the walk still reads the directory through it until LeaveDir, but
// does not close it.
func (e *Entry) KeepFd() int {
	e.kept = true
	return e.Fd
}

// Walk walks the tree at root, a directory, regular file or symlink (not
// followed), giving its entries to v in NAR order. The root's Name is root
// itself, relative to AT_FDCWD. ctx is checked before each entry: once it
// is done the walk ends with its cause.
func Walk(ctx context.Context, root string, v Visitor, opts Options) error {
	return WalkAt(ctx, unix.AT_FDCWD, root, root, v, opts)
}

// WalkAt is Walk for the tree at dirFd/name, whose path for messages is
// display.
func WalkAt(ctx context.Context, dirFd int, name, display string, v Visitor, opts Options) error {
	w := walker{ctx: ctx, v: v, op: opts.Op, deferFiles: opts.DeferFiles}
	if w.op == "" {
		w.op = "walk"
	}
	w.other, _ = v.(OtherVisitor)
	root := &Entry{Name: name, DirFd: dirFd, Fd: -1, path: display}
	var st unix.Stat_t
	if err := unix.Fstatat(dirFd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return w.fail(root, err)
	}
	root.Kind = uint32(st.Mode) & unix.S_IFMT
	return w.entry(root)
}

type walker struct {
	ctx        context.Context
	v          Visitor
	other      OtherVisitor
	op         string
	deferFiles bool
	// names is getdents' buffer, shared by every directory: each is
	// listed completely before the walk goes down into its entries.
	names []byte
}

// fail words an error of the walk itself about e.
func (w *walker) fail(e *Entry, err error) error {
	return fmt.Errorf("%s %s: %w", w.op, e.Path(), err)
}

// UnsupportedError is the error for a file type that a store path cannot
// hold.
type UnsupportedError struct {
	// Mode is the file's stat mode (its S_IF* bits at least).
	Mode uint32
}

func (e *UnsupportedError) Error() string {
	return "is a " + fsentry.KindName(e.Mode) + "; a store path holds only regular files, directories and symlinks"
}

func (w *walker) entry(e *Entry) error {
	if w.ctx.Err() != nil {
		return context.Cause(w.ctx)
	}
	switch e.Kind {
	case unix.S_IFDIR:
		return w.dir(e)
	case unix.S_IFLNK:
		target, err := fsentry.Readlinkat(e.DirFd, e.Name)
		if err != nil {
			return w.fail(e, fmt.Errorf("readlink: %w", err))
		}
		return w.v.Symlink(e, target)
	case unix.S_IFREG:
		if w.deferFiles {
			return w.v.File(e)
		}
		return w.file(e)
	}
	if w.other != nil {
		return w.other.Other(e)
	}
	return w.fail(e, &UnsupportedError{Mode: e.Kind})
}

func (w *walker) file(e *Entry) error {
	fd, err := OpenFile(e.DirFd, e.Name, &e.Stat)
	if err != nil {
		return w.fail(e, err)
	}
	defer unix.Close(fd)
	e.Fd = fd
	if err := w.v.File(e); err != nil {
		return err
	}
	if err := Unchanged(fd, &e.Stat); err != nil {
		return w.fail(e, err)
	}
	return nil
}

func (w *walker) dir(d *Entry) error {
	fd, err := unix.Openat(d.DirFd, d.Name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return w.fail(d, err)
	}
	d.Fd = fd
	defer func() {
		if !d.kept {
			unix.Close(fd)
		}
	}()
	if err := unix.Fstat(fd, &d.Stat); err != nil {
		return w.fail(d, err)
	}
	if err := w.v.EnterDir(d); err != nil {
		return err
	}
	if w.names == nil {
		w.names = make([]byte, 32<<10)
	}
	entries, err := readDir(fd, w.names)
	if err != nil {
		return w.fail(d, fmt.Errorf("list directory: %w", err))
	}
	var child Entry
	for _, de := range entries {
		if de.Kind == unix.S_IFDIR {
			// A directory's Entry outlives its own entries' calls.
			sub := &Entry{Parent: d, Name: de.Name, DirFd: fd, Kind: de.Kind, Fd: -1}
			if err := w.entry(sub); err != nil {
				return err
			}
			continue
		}
		child = Entry{Parent: d, Name: de.Name, DirFd: fd, Kind: de.Kind, Fd: -1}
		if err := w.entry(&child); err != nil {
			return err
		}
	}
	return w.v.LeaveDir(d)
}

// OpenFile opens dirFd/name, which must be a regular file (a symlink is not
// followed), for reading, and fills st with its status. Its errors do not
// name the file.
func OpenFile(dirFd int, name string, st *unix.Stat_t) (int, error) {
	// O_NONBLOCK: a FIFO put in the file's place since it was listed must
	// not block the open; it means nothing to a regular file.
	fd, err := unix.Openat(dirFd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Fstat(fd, st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, &UnsupportedError{Mode: uint32(st.Mode)}
	}
	return fd, nil
}

// Unchanged checks that the file open at fd, whose status was before when
// it was opened, has not changed since: same size, same modification time,
// same status change time. A status change that comes with a change of the
// link count is a hard link made or removed (nix-store --optimise,
// rootfs' hardlink mode), not a change of the contents, and passes. Its
// error does not name the file.
func Unchanged(fd int, before *unix.Stat_t) error {
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return err
	}
	switch {
	case now.Size != before.Size:
		return fmt.Errorf("changed while it was read: its size went from %d to %d bytes", before.Size, now.Size)
	case now.Mtim != before.Mtim:
		return errors.New("changed while it was read: its modification time changed")
	case now.Ctim != before.Ctim && now.Nlink == before.Nlink:
		return errors.New("changed while it was read: its status changed")
	}
	return nil
}

// DirEntry is a directory entry as ReadDir lists it.
type DirEntry struct {
	Name string
	// Kind is the file type, unix.S_IF* bits.
	Kind uint32
}

// ReadDir lists the directory open at fd, sorted by name (NAR order),
// without "." and "..".
func ReadDir(fd int) ([]DirEntry, error) {
	return readDir(fd, make([]byte, 32<<10))
}

// readDir is ReadDir with a buffer for listDir.
func readDir(fd int, buf []byte) ([]DirEntry, error) {
	out, err := listDir(fd, buf)
	if err != nil {
		return nil, err
	}
	return completeDir(fd, out)
}

// completeDir gives the entries of the directory open at fd, as listDir
// lists them, the type that the directory did not (Kind 0: no d_type here,
// or a listing without types) from fstatat, and sorts them in NAR order.
func completeDir(fd int, out []DirEntry) ([]DirEntry, error) {
	for i := range out {
		if out[i].Kind != 0 {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, out[i].Name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, fmt.Errorf("stat %q: %w", out[i].Name, err)
		}
		out[i].Kind = uint32(st.Mode) & unix.S_IFMT
	}
	// NAR order: by the names' bytes, which is Go's string order.
	slices.SortFunc(out, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
