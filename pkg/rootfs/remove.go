package rootfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// RemoveAll deletes the tree at p, as written by this package: directories
// are read-only (0555), so each is made writable before it is emptied, and
// the walk goes through directory descriptors so that depth is not limited
// by PATH_MAX. A missing p is not an error.
func RemoveAll(p string) error {
	err := removeAt(unix.AT_FDCWD, p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

func removeAt(parent int, name string) error {
	err := unix.Unlinkat(parent, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, 0o700); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	entries, err := readDir(fd)
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	for _, e := range entries {
		if err := removeAt(fd, e.name); err != nil {
			return fmt.Errorf("%s/%w", name, err)
		}
	}
	if err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}
