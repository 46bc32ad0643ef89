package fsentry

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadlinkat(t *testing.T) {
	dir := t.TempDir()
	long := "/" + strings.Repeat("x", 1000) // longer than the first buffer
	for i, target := range []string{"rel/target", long, "dangling"} {
		name := fmt.Sprintf("link%d", i)
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		d, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Readlinkat(int(d.Fd()), name)
		d.Close()
		if err != nil || got != target {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}

func TestKindName(t *testing.T) {
	for mode, want := range map[uint32]string{
		unix.S_IFDIR: "directory", unix.S_IFREG: "regular file", unix.S_IFLNK: "symlink",
		unix.S_IFIFO | 0o644: "FIFO", unix.S_IFSOCK: "socket", unix.S_IFCHR: "character device",
		unix.S_IFBLK: "block device", 0: "file of type 0",
	} {
		if got := KindName(mode); got != want {
			t.Errorf("%#o: %q, want %q", mode, got, want)
		}
	}
}
