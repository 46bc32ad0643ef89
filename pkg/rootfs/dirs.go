//go:build linux

package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/fsentry"
)

// MakeDirs creates the absolute path p (as seen inside the rootfs) under the
// directory root, component by component, with mode 0755, and returns it
// open. Existing directories are reused; a component that exists but is not
// a directory, a symlink included, is an error: nothing outside root can be
// reached through it.
func MakeDirs(root *os.File, p string) (*os.File, error) {
	fd, err := unix.Dup(int(root.Fd()))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		if part == "." || part == ".." {
			unix.Close(fd)
			return nil, fmt.Errorf("create %s: path contains %q", p, part)
		}
		if err := unix.Mkdirat(fd, part, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return nil, fmt.Errorf("create %s: mkdir %s: %w", p, part, err)
		}
		next, err := unix.Openat(fd, part, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("create %s: %s is not a directory: %w", p, part, err)
		}
		fd = next
	}
	return os.NewFile(uintptr(fd), p), nil
}

// MakeMountpoint creates the mountpoint p (absolute, inside the rootfs)
// under root: a directory, or an empty file when isFile is set. Parent
// directories are created as needed. An existing entry of the right type is
// kept.
func MakeMountpoint(root *os.File, p string, isFile bool) error {
	if !isFile {
		d, err := MakeDirs(root, p)
		if err != nil {
			return fmt.Errorf("mountpoint: %w", err)
		}
		return d.Close()
	}
	d, name, err := openParent(root, p)
	if err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	}
	defer d.Close()
	fd, err := unix.Openat(int(d.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o444)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(int(d.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return fmt.Errorf("mountpoint %s: exists and is not a regular file", p)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("mountpoint %s: %w", p, err)
	}
	return unix.Close(fd)
}

// WriteFile creates the file p (absolute, inside the rootfs) under root
// with data and mode, creating parent directories as needed. The file must
// not exist.
func WriteFile(root *os.File, p string, data []byte, mode uint32) error {
	d, name, err := openParent(root, p)
	if err != nil {
		return err
	}
	defer d.Close()
	fd, err := unix.Openat(int(d.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// Symlink creates the symlink p (absolute, inside the rootfs) pointing to
// target, creating parent directories as needed.
func Symlink(root *os.File, p, target string) error {
	d, name, err := openParent(root, p)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Symlinkat(target, int(d.Fd()), name); err != nil {
		return fmt.Errorf("symlink %s: %w", p, err)
	}
	return nil
}

// openParent opens (creating it) the parent directory of p and returns it
// with p's last component.
func openParent(root *os.File, p string) (*os.File, string, error) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return nil, "", fmt.Errorf("%s: not an absolute path", p)
	}
	parent, name := p[:i], p[i+1:]
	if name == "" || name == "." || name == ".." {
		return nil, "", fmt.Errorf("%s: not a file name", p)
	}
	d, err := MakeDirs(root, parent)
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}

// CheckBindable checks that each source (an absolute path) can be
// bind-mounted into a container: a directory or a regular file. A symlink is
// refused, since a bind mount would follow it on the host, possibly out of
// the store; so is anything else (a FIFO, socket or device).
func CheckBindable(ctx context.Context, sources []string) error {
	for _, src := range sources {
		if err := ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(src, &st); err != nil {
			return fmt.Errorf("bind mount of %s: %w", src, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR, unix.S_IFREG:
		case unix.S_IFLNK:
			return fmt.Errorf("store path %s is a symlink, which a bind mount would follow out of the store: use storeMode \"copy\" for this closure", src)
		default:
			return fmt.Errorf("store path %s is a %s; only directories and regular files can be bind-mounted", src, fsentry.KindName(st.Mode))
		}
	}
	return nil
}
