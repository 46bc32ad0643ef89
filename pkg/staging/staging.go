// Package staging writes an output directory beside its final path and
// moves it there only once it is complete, so that the final path either
// does not exist or holds the whole output.
//
// The staging directory, ".NAME.tmp-RANDOM" beside the output NAME, is
// locked (flock) for as long as its writer lives. A writer killed midway
// (SIGKILL, a crash, a power cut) leaves it behind unlocked; the next New
// for the same output removes every such unlocked leftover and reports it.
package staging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/rootfs"
)

// ErrExists is returned (wrapped) when the output already exists.
var ErrExists = errors.New("already exists")

// Dir is a locked staging directory for one output.
type Dir struct {
	// Path is where to write the output: a path that does not exist yet,
	// inside the staging directory.
	Path string

	out  string
	tmp  string
	lock *os.File
}

// New makes the staging directory for out, which must not exist, after
// removing the unlocked leftovers of earlier runs for out.
func New(out string) (*Dir, error) {
	out = filepath.Clean(out)
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("output directory %s %w", out, ErrExists)
	}
	parent, base, prefix := names(out)
	if _, err := removeStale(parent, prefix); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, fmt.Errorf("create a staging directory beside %s: %w", out, err)
	}
	lock, err := lockDir(tmp)
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("lock %s: %w", tmp, err)
	}
	return &Dir{Path: filepath.Join(tmp, base), out: out, tmp: tmp, lock: lock}, nil
}

// RemoveStale removes the leftovers of killed runs for out (New does it
// too) and lists them.
func RemoveStale(out string) ([]string, error) {
	parent, _, prefix := names(filepath.Clean(out))
	return removeStale(parent, prefix)
}

// names gives out's parent directory, base name and staging prefix.
func names(out string) (parent, base, prefix string) {
	parent, base = filepath.Split(out)
	if parent == "" {
		parent = "."
	}
	return parent, base, "." + base + ".tmp-"
}

// lockDir opens and locks dir; it fails if another process holds the lock.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeStale removes the directories named prefix* in parent that no live
// writer has locked.
func removeStale(parent, prefix string) ([]string, error) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", parent, err)
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		p := filepath.Join(parent, e.Name())
		lock, err := lockDir(p)
		if err != nil {
			continue // a live run's, or not ours to judge
		}
		err = rootfs.RemoveAll(p)
		lock.Close()
		if err != nil {
			return removed, fmt.Errorf("remove the leftover %s of a killed run: %w", p, err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// Commit moves the finished output to its final path. It fails, leaving
// the output where it was, if something appeared there meanwhile.
func (d *Dir) Commit() error {
	if err := renameNoReplace(d.Path, d.out); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("output directory %s %w", d.out, ErrExists)
		}
		return fmt.Errorf("move the finished output to %s: %w", d.out, err)
	}
	return nil
}

// Close removes the staging directory with whatever it still holds (all of
// the output unless it was committed) and releases the lock.
func (d *Dir) Close() error {
	err := rootfs.RemoveAll(d.tmp)
	d.lock.Close()
	if err != nil {
		return fmt.Errorf("remove %s: %w", d.tmp, err)
	}
	return nil
}
