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

func sorted(entries []DirEntry) []DirEntry {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return entries
}

// TestListDirPortable: the listing other systems use (through the os
// package) gives the same entries and kinds as this system's listDir,
// leaves the descriptor's offset alone, and can be repeated.
func TestListDirPortable(t *testing.T) {
	dir := listFixture(t, 2000)
	fd := openDir(t, dir)
	portable, err := listDirPortable(fd)
	if err != nil {
		t.Fatal(err)
	}
	again, err := listDirPortable(fd)
	if err != nil {
		t.Fatal(err)
	}
	native, err := listDir(fd, make([]byte, 32<<10))
	if err != nil {
		t.Fatal(err)
	}
	if len(native) != 2010 {
		t.Fatalf("listDir gave %d entries, want 2010", len(native))
	}
	if !slices.Equal(sorted(portable), sorted(native)) || !slices.Equal(sorted(again), sorted(native)) {
		t.Fatalf("listDirPortable and listDir differ:\n%v\n%v", sorted(portable)[:12], sorted(native)[:12])
	}
	kinds := map[string]uint32{"file": unix.S_IFREG, "dir": unix.S_IFDIR, "link": unix.S_IFLNK, "fifo": unix.S_IFIFO, "socket": unix.S_IFSOCK, "\xff\xfe": unix.S_IFREG}
	for _, e := range portable {
		if want, ok := kinds[e.Name]; ok && e.Kind != want {
			t.Errorf("%q: kind %o, want %o", e.Name, e.Kind, want)
		}
	}
	if _, err := listDirPortable(-1); err == nil {
		t.Error("listDirPortable(-1) gave no error")
	}
}

// BenchmarkListDir compares the two listings of a directory of 2,000
// entries: getdents on Linux (listDir) and the os package (the listing of
// other systems), which on Linux reads getdents too but allocates an
// fs.DirEntry per entry.
func BenchmarkListDir(b *testing.B) {
	fd := openDir(b, listFixture(b, 2000))
	buf := make([]byte, 32<<10)
	for _, bc := range []struct {
		name string
		list func() ([]DirEntry, error)
	}{
		{"listDir", func() ([]DirEntry, error) {
			if _, err := unix.Seek(fd, 0, 0); err != nil {
				return nil, err
			}
			return listDir(fd, buf)
		}},
		{"portable", func() ([]DirEntry, error) { return listDirPortable(fd) }},
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
