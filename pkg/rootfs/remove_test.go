package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRemoveAll removes trees as Copy writes them (read-only directories)
// and as containers leave them (FIFOs, sockets), deeper than PATH_MAX, and
// roots that are files or symlinks, which are not followed.
func TestRemoveAll(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, root string)
	}{
		{"read-only tree", func(t *testing.T, root string) {
			for _, d := range []string{"a/b", "c"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			os.WriteFile(root+"/a/b/f", []byte("f"), 0o444)
			os.Symlink("../../c", root+"/a/b/up")
			if err := unix.Mkfifo(root+"/c/fifo", 0o644); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mknod(root+"/c/sock", unix.S_IFSOCK|0o644, 0); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"a/b", "a", "c", ""} {
				os.Chmod(filepath.Join(root, d), 0o555)
			}
		}},
		{"deeper than PATH_MAX", func(t *testing.T, root string) {
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			component := strings.Repeat("r", 200)
			for i := 0; i < 25; i++ { // 25 * 201 bytes > PATH_MAX
				if err := unix.Mkdirat(fd, component, 0o555); err != nil {
					t.Fatal(err)
				}
				next, err := unix.Openat(fd, component, unix.O_RDONLY|unix.O_DIRECTORY, 0)
				unix.Close(fd)
				if err != nil {
					t.Fatal(err)
				}
				fd = next
			}
			if err := unix.Symlinkat("x", fd, "link"); err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
		}},
		{"file", func(t *testing.T, root string) {
			os.WriteFile(root, []byte("x"), 0o444)
		}},
		{"symlink to a directory", func(t *testing.T, root string) {
			target := filepath.Join(filepath.Dir(root), "target")
			os.Mkdir(target, 0o555)
			os.WriteFile(target+"/kept", nil, 0o444)
			os.Symlink(target, root)
		}},
		{"missing", func(*testing.T, string) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			root := filepath.Join(parent, "root")
			if tc.name == "read-only tree" {
				os.Mkdir(root, 0o755)
			}
			tc.make(t, root)
			if err := RemoveAll(root); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(root); !os.IsNotExist(err) {
				t.Fatalf("%s is still there: %v", root, err)
			}
			if tc.name == "symlink to a directory" {
				if _, err := os.Stat(filepath.Join(parent, "target", "kept")); err != nil {
					t.Fatalf("the symlink was followed: %v", err)
				}
				os.Chmod(filepath.Join(parent, "target"), 0o755)
			}
		})
	}
}
