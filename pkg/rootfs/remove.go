package rootfs

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/store/tree"
)

// RemoveAll deletes the tree at p, as written by this package or by a
// container given a writable copy of it (FIFOs, sockets and devices
// included): directories are read-only (0555), so each is made writable
// before it is emptied, and the walk goes through directory descriptors
// (package tree) so that depth is not limited by PATH_MAX. A missing
// p is not an error.
func RemoveAll(p string) error {
	err := tree.Walk(context.Background(), p, remover{}, tree.Options{Op: "remove", DeferFiles: true})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// remover deletes each entry of a walk, directories once left.
type remover struct{}

func (remover) EnterDir(d *tree.Entry) error {
	if err := unix.Fchmod(d.Fd, 0o700); err != nil {
		return fmt.Errorf("remove %s: %w", d.Path(), err)
	}
	return nil
}

func (remover) LeaveDir(d *tree.Entry) error { return unlink(d, unix.AT_REMOVEDIR) }

func (remover) Symlink(e *tree.Entry, _ string) error { return unlink(e, 0) }

func (remover) File(e *tree.Entry) error { return unlink(e, 0) }

func (remover) Other(e *tree.Entry) error { return unlink(e, 0) }

func unlink(e *tree.Entry, flags int) error {
	if err := unix.Unlinkat(e.DirFd, e.Name, flags); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", e.Path(), err)
	}
	return nil
}
