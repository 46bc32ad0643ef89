package tree

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// listDirPortable is listDir through the os package, for systems without
// getdents (on darwin, os lists with fdopendir and readdir): it lists a
// new descriptor of the directory, opened relative to fd so that no path
// is joined and fd's own offset is left alone. Where the filesystem gives
// no d_type, os stats the entry relative to the directory (fstatat), and
// Kind is 0 only for a type fs.FileMode does not name. On Linux, listDir
// reads getdents64 itself, with fewer allocations; a test checks that both
// list the same entries.
func listDirPortable(fd int) ([]DirEntry, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open directory: %w", err)
	}
	f := os.NewFile(uintptr(dup), ".")
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("readdir: %w", err)
	}
	out := make([]DirEntry, len(entries))
	for i, e := range entries {
		out[i] = DirEntry{Name: e.Name(), Kind: fileModeToKind(e.Type())}
	}
	return out, nil
}

// fileModeToKind is the S_IF* bits of an fs.FileMode's type, 0 for one it
// does not know.
func fileModeToKind(m fs.FileMode) uint32 {
	switch {
	case m&fs.ModeType == 0:
		return unix.S_IFREG
	case m&fs.ModeDir != 0:
		return unix.S_IFDIR
	case m&fs.ModeSymlink != 0:
		return unix.S_IFLNK
	case m&fs.ModeNamedPipe != 0:
		return unix.S_IFIFO
	case m&fs.ModeSocket != 0:
		return unix.S_IFSOCK
	case m&fs.ModeCharDevice != 0:
		return unix.S_IFCHR
	case m&fs.ModeDevice != 0:
		return unix.S_IFBLK
	}
	return 0
}
