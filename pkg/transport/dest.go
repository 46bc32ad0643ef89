package transport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/fsentry"
)

// A copy never writes into the Nix store: its paths are immutable, and
// Nix alone adds to it. The check is on the directory a copy writes into,
// opened, not on its name: a destination reached through a symbolic link
// (oci:./result:TAG) or a bind mount of the store is refused too.

// openDir opens the directory dir (its path's links followed, as the user
// named it) and refuses it if it is in the store storeDir.
func openDir(dir, storeDir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	in, err := inStore(fd, storeDir)
	if err == nil && in {
		err = fmt.Errorf("%s is in the Nix store %s, which only Nix writes: choose a destination outside it", dir, storeDir)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// checkParent refuses to create path in the store: its parent directory
// must exist and be outside it.
func checkParent(path, storeDir string) error {
	fd, err := openDir(filepath.Dir(path), storeDir)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// inStore tells whether the directory fd is the store directory or inside
// it: whether it or one of its ancestors ("..", up to the root) is the
// store's directory, by device and inode. A store that does not exist on
// this machine holds nothing to protect.
func inStore(fd int, storeDir string) (bool, error) {
	var store unix.Stat_t
	if err := unix.Stat(storeDir, &store); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat the store %s: %w", storeDir, err)
	}
	cur, err := unix.Dup(fd)
	if err != nil {
		return false, err
	}
	defer func() { unix.Close(cur) }()
	for {
		var st unix.Stat_t
		if err := unix.Fstat(cur, &st); err != nil {
			return false, err
		}
		if st.Dev == store.Dev && st.Ino == store.Ino {
			return true, nil
		}
		parent, err := unix.Openat(cur, "..", fsentry.OPath|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return false, fmt.Errorf("open the parent of a destination directory: %w", err)
		}
		var pst unix.Stat_t
		if err := unix.Fstat(parent, &pst); err != nil {
			unix.Close(parent)
			return false, err
		}
		unix.Close(cur)
		cur = parent
		if pst.Dev == st.Dev && pst.Ino == st.Ino {
			return false, nil // the root
		}
	}
}
