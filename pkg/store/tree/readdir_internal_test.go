package tree

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// listFixture makes a directory holding every kind of entry, names with
// odd bytes, and more entries than one getdents buffer holds.
func listFixture(t testing.TB, many int) string {
	dir := t.TempDir()
	for _, name := range []string{"file", "new\nline", "\xff\xfe", "-", "Z", "a b"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nowhere", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(dir, "socket"), unix.S_IFSOCK|0o644, 0); err != nil {
		t.Fatal(err)
	}
	for i := range many {
		name := fmt.Sprintf("%04d-%s", i, strings.Repeat("x", 60))
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func openDir(t testing.TB, dir string) int {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestListDirPortable: the listing other systems use (through the os
// package, types from fstatat) gives the same entries and kinds as this
// system's, leaves the descriptor's offset alone, and can be repeated.
func TestListDirPortable(t *testing.T) {
	dir := listFixture(t, 2000)
	fd := openDir(t, dir)
	var portable [2][]DirEntry
	for i := range portable {
		listed, err := listDirPortable(fd)
		if err != nil {
			t.Fatal(err)
		}
		if portable[i], err = completeDir(fd, listed); err != nil {
			t.Fatal(err)
		}
	}
	native, err := readDir(fd, make([]byte, 32<<10))
	if err != nil {
		t.Fatal(err)
	}
	if len(native) != 2010 {
		t.Fatalf("readDir gave %d entries, want 2010", len(native))
	}
	if !slices.Equal(portable[0], native) || !slices.Equal(portable[1], native) {
		t.Fatalf("the portable listing and readDir differ:\n%v\n%v", portable[0][:12], native[:12])
	}
	kinds := map[string]uint32{"file": unix.S_IFREG, "dir": unix.S_IFDIR, "link": unix.S_IFLNK, "fifo": unix.S_IFIFO, "socket": unix.S_IFSOCK, "\xff\xfe": unix.S_IFREG}
	for _, e := range portable[0] {
		if want, ok := kinds[e.Name]; ok && e.Kind != want {
			t.Errorf("%q: kind %o, want %o", e.Name, e.Kind, want)
		}
	}
	if _, err := listDirPortable(-1); err == nil {
		t.Error("listDirPortable(-1) gave no error")
	}
}

// BenchmarkListDir compares the two listings of a directory of 2,000
// entries, types and NAR order included: getdents on Linux (readDir) and
// the os package's names with fstatat (the listing of other systems).
func BenchmarkListDir(b *testing.B) {
	fd := openDir(b, listFixture(b, 2000))
	buf := make([]byte, 32<<10)
	for _, bc := range []struct {
		name string
		list func() ([]DirEntry, error)
	}{
		{"getdents", func() ([]DirEntry, error) {
			if _, err := unix.Seek(fd, 0, 0); err != nil {
				return nil, err
			}
			return readDir(fd, buf)
		}},
		{"portable", func() ([]DirEntry, error) {
			listed, err := listDirPortable(fd)
			if err != nil {
				return nil, err
			}
			return completeDir(fd, listed)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.list(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
