// Package fsentry holds the small facts about directory entries that
// the store tree walk (pkg/store/tree) and its users (rootfs, nar, layer) share: reading a
// symlink's target relative to a directory descriptor, and naming a file
// type in an error message.
package fsentry

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Readlinkat reads the target of the symlink dirFd/name, however long.
func Readlinkat(dirFd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirFd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// KindName names the file type of mode (a stat mode) for error messages:
// "directory", "FIFO", "character device", ...
func KindName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("file of type %#o", mode&unix.S_IFMT)
}
