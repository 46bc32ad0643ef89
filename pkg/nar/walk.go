package nar

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/store/tree"
)

// HashPath computes the NAR hash and size of the tree at path (a directory,
// regular file or symlink, which is not followed), as `nix-store --dump
// path | sha256sum` would. The tree is walked through directory file
// descriptors (see package tree), so its depth is not limited by
// PATH_MAX. Any other file type, or a file that changes while it is read,
// is an error naming it.
func HashPath(path string) (Sum, error) {
	return hashPath(context.Background(), path)
}

// hashPath is HashPath, giving up with ctx's cause between entries once ctx
// is done.
func hashPath(ctx context.Context, path string) (Sum, error) {
	v := &hasher{h: NewHasher(), buf: make([]byte, 256<<10)}
	if err := tree.Walk(ctx, path, v, tree.Options{Op: "hash"}); err != nil {
		return Sum{}, err
	}
	sum, err := v.h.Sum()
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

// hasher is the visitor that feeds a walk to a Hasher.
type hasher struct {
	h   *Hasher
	buf []byte
}

func (v *hasher) fail(e *tree.Entry, err error) error {
	return fmt.Errorf("hash %s: %w", e.Path(), err)
}

func (v *hasher) EnterDir(d *tree.Entry) error {
	if err := v.h.Directory(d.NARName()); err != nil {
		return v.fail(d, err)
	}
	return nil
}

func (v *hasher) LeaveDir(d *tree.Entry) error {
	if err := v.h.EndDirectory(); err != nil {
		return v.fail(d, err)
	}
	return nil
}

func (v *hasher) Symlink(e *tree.Entry, target string) error {
	if err := v.h.Symlink(e.NARName(), target); err != nil {
		return v.fail(e, err)
	}
	return nil
}

// File adds the regular file open at e.Fd to the hash, reading it once.
func (v *hasher) File(e *tree.Entry) error {
	size := uint64(e.Stat.Size)
	if err := v.h.File(e.NARName(), e.Stat.Mode&unix.S_IXUSR != 0, size); err != nil {
		return v.fail(e, err)
	}
	for off := uint64(0); off < size; {
		n, err := unix.Pread(e.Fd, v.buf[:min(uint64(len(v.buf)), size-off)], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return v.fail(e, fmt.Errorf("read: %w", err))
		}
		if n == 0 {
			return v.fail(e, errors.New("changed while it was read: it shrank"))
		}
		if _, err := v.h.Write(v.buf[:n]); err != nil {
			return v.fail(e, err)
		}
		off += uint64(n)
	}
	return nil
}
