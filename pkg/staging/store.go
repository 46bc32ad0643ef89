package staging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/fsentry"
)

// Outputs are never written into the Nix store: its paths are immutable,
// and Nix alone adds to it. The check is on the directory an output goes
// into, opened, not on its name: a destination reached through a symbolic
// link (oci:./result:TAG), a bind mount of the store or one of a part of
// it (on Linux) is refused too.

// ErrInStore is returned (wrapped) for an output in the Nix store.
var ErrInStore = errors.New("is in the Nix store")

// OpenDirOutsideStore opens the directory dir (its path's links followed,
// as the user named it) and refuses it if it is in the store storeDir.
func OpenDirOutsideStore(dir, storeDir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	in, err := inStore(fd, storeDir)
	if err == nil && in {
		err = fmt.Errorf("%s %w %s, which only Nix writes: choose a destination outside it", dir, ErrInStore, storeDir)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// CheckParentOutsideStore refuses to create path in the store storeDir:
// its parent directory must exist and be outside it.
func CheckParentOutsideStore(path, storeDir string) error {
	fd, err := OpenDirOutsideStore(filepath.Dir(path), storeDir)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// CheckOutsideStore refuses to create path, or the directories above it
// that do not exist yet, in the store storeDir: the nearest ancestor of
// path that exists must be outside it. Only ErrInStore is returned: an
// ancestor that cannot be opened is left to the writer to report.
func CheckOutsideStore(path, storeDir string) error {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil
	}
	for {
		if _, err := os.Stat(dir); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
	fd, err := OpenDirOutsideStore(dir, storeDir)
	if err != nil {
		if errors.Is(err, ErrInStore) {
			return fmt.Errorf("%s %w %s, which only Nix writes: choose an output outside it", path, ErrInStore, storeDir)
		}
		return nil
	}
	unix.Close(fd)
	return nil
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
			// The root: not below the store by "..", but maybe in a
			// bind mount of a part of it.
			return inStoreMount(fd, storeDir)
		}
	}
}
