package tree

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// listDirPortable is listDir through the os package, for systems without
// getdents (on darwin, os lists with fdopendir and readdir): the names of
// a new descriptor of the directory, opened relative to fd so that no path
// is joined and fd's own offset is left alone. It gives no types (Kind 0):
// completeDir takes each from fstatat relative to fd, never from a joined
// path, whatever the filesystem fills in. On Linux, listDir reads
// getdents64 itself, types included, with fewer allocations and system
// calls; a test checks that both list the same entries.
func listDirPortable(fd int) ([]DirEntry, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open directory: %w", err)
	}
	f := os.NewFile(uintptr(dup), ".")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("readdir: %w", err)
	}
	out := make([]DirEntry, len(names))
	for i, name := range names {
		out[i] = DirEntry{Name: name}
	}
	return out, nil
}
