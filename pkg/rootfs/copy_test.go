//go:build linux

package rootfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/fsentry"
	"github.com/oci-builder/oci-builder/pkg/store/tree"
)

// manifest describes a tree as lines "path type mode detail", walked through
// directory descriptors so that trees deeper than PATH_MAX can be described.
func manifest(t *testing.T, root string) []string {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(fd int, rel string)
	walk = func(fd int, rel string) {
		defer unix.Close(fd)
		entries, err := tree.ReadDir(fd)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, e.Name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				t.Fatal(err)
			}
			p := rel + "/" + e.Name
			switch e.Kind {
			case unix.S_IFDIR:
				out = append(out, fmt.Sprintf("%q dir %o", p, st.Mode&0o7777))
				sub, err := unix.Openat(fd, e.Name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
				if err != nil {
					t.Fatal(err)
				}
				walk(sub, p)
			case unix.S_IFLNK:
				target, err := fsentry.Readlinkat(fd, e.Name)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprintf("%q link -> %q", p, target))
			case unix.S_IFREG:
				f, err := unix.Openat(fd, e.Name, unix.O_RDONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				data := make([]byte, min(st.Size, 1<<16))
				n, _ := unix.Read(f, data)
				unix.Close(f)
				out = append(out, fmt.Sprintf("%q file %o size %d %q", p, st.Mode&0o7777, st.Size, data[:n]))
			default:
				out = append(out, fmt.Sprintf("%q other", p))
			}
		}
	}
	walk(fd, "")
	sort.Strings(out)
	return out
}

func mustWrite(t *testing.T, p string, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// storeTree makes a store-like source tree with the awkward cases.
func storeTree(t *testing.T, dir string) []string {
	t.Helper()
	a := filepath.Join(dir, "aaaa-pkg")
	mustWrite(t, filepath.Join(a, "bin/tool"), "#!/bin/sh\necho tool\n", 0o555)
	mustWrite(t, filepath.Join(a, "share/doc/readme"), "read me", 0o444)
	mustWrite(t, filepath.Join(a, "share/empty-file"), "", 0o444)
	mustWrite(t, filepath.Join(a, "name with spaces\nand newline\\"), "odd", 0o444)
	mustWrite(t, filepath.Join(a, string([]byte{0xff, 0xfe, 'x'})), "not utf-8", 0o444)
	mustWrite(t, filepath.Join(a, strings.Repeat("n", 255)), "long name", 0o444)
	if err := os.MkdirAll(filepath.Join(a, "empty/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"bin/abs":      "/nix/store/bbbb-other/bin/x",
		"bin/rel":      "tool",
		"bin/dangling": "../nowhere",
		"loop1":        "loop2",
		"loop2":        "loop1",
		"self":         "self",
	} {
		if err := os.Symlink(target, filepath.Join(a, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(a, "share/doc/readme"), filepath.Join(a, "share/hardlink")); err != nil {
		t.Fatal(err)
	}
	// A sparse file: 64 MiB with a little data in the middle.
	f, err := os.OpenFile(filepath.Join(a, "sparse"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o444)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("data in the middle"), 32<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Make directories read-only as in a store (0555), after filling them.
	filepath.Walk(a, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			defer os.Chmod(p, 0o555)
		}
		return err
	})

	file := filepath.Join(dir, "cccc-script.sh")
	mustWrite(t, file, "echo hi", 0o444)
	link := filepath.Join(dir, "dddd-link")
	if err := os.Symlink("aaaa-pkg/bin/tool", link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chmodTree(a, 0o755) })
	return []string{a, file, link}
}

func chmodTree(root string, mode os.FileMode) {
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			os.Chmod(p, mode)
		}
		return nil
	})
}

func openDir(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestCopyPreservesTree(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			src := t.TempDir()
			sources := storeTree(t, src)
			dst := t.TempDir()
			stats, err := Copy(context.Background(), openDir(t, dst), sources, Options{Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { chmodTree(dst, 0o755) })
			want, got := manifest(t, src), manifest(t, dst)
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Fatalf("trees differ\nsource:\n%s\ncopy:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
			}
			if stats.Paths != 3 || stats.Files != 9 || stats.Symlinks != 7 || stats.Dirs != 6 {
				t.Fatalf("stats %+v", stats)
			}
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(dst, "aaaa-pkg/sparse"), &st); err != nil {
				t.Fatal(err)
			}
			if st.Blocks*512 > 1<<20 {
				t.Fatalf("sparse file not sparse: %d blocks", st.Blocks)
			}
			// Hard links in the source become independent files.
			var a, b unix.Stat_t
			unix.Stat(filepath.Join(dst, "aaaa-pkg/share/hardlink"), &a)
			unix.Stat(filepath.Join(dst, "aaaa-pkg/share/doc/readme"), &b)
			if a.Ino == b.Ino {
				t.Fatal("copy hard-linked files")
			}
		})
	}
}

func TestCopyDeeperThanPathMax(t *testing.T) {
	src := t.TempDir()
	top := filepath.Join(src, "eeee-deep")
	if err := os.Mkdir(top, 0o755); err != nil {
		t.Fatal(err)
	}
	// 1200 levels of a 4-character name: 6000 bytes, past PATH_MAX (4096).
	fd, err := unix.Open(top, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1200; i++ {
		if err := unix.Mkdirat(fd, "dir", 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, "dir", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		fd = next
	}
	f, err := unix.Openat(fd, "leaf", unix.O_CREAT|unix.O_WRONLY|unix.O_EXCL, 0o444)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(f, []byte("bottom"))
	unix.Close(f)
	unix.Close(fd)
	t.Cleanup(func() { removeDeep(t, top) })

	dst := t.TempDir()
	if _, err := Copy(context.Background(), openDir(t, dst), []string{top}, Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDeep(t, filepath.Join(dst, "eeee-deep")) })
	got := manifest(t, dst)
	if len(got) != 1202 || !strings.Contains(got[len(got)-1], `file 444 size 6 "bottom"`) {
		t.Fatalf("deep copy: %d entries, last %q", len(got), got[len(got)-1])
	}
}

// removeDeep deletes a tree too deep for os.RemoveAll's joined paths.
func removeDeep(t *testing.T, root string) {
	var rm func(parent int, name string)
	rm = func(parent int, name string) {
		fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if err != nil {
			unix.Unlinkat(parent, name, 0)
			return
		}
		unix.Fchmod(fd, 0o755)
		entries, _ := tree.ReadDir(fd)
		for _, e := range entries {
			if e.Kind == unix.S_IFDIR {
				rm(fd, e.Name)
			} else {
				unix.Unlinkat(fd, e.Name, 0)
			}
		}
		unix.Close(fd)
		unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
	}
	rm(unix.AT_FDCWD, root)
}

func TestCopyRejectsSpecialFiles(t *testing.T) {
	tests := []struct {
		name string
		make func(p string) error
		want string
	}{
		{"fifo", func(p string) error { return unix.Mkfifo(p, 0o644) }, "is a FIFO; a store path holds only regular files, directories and symlinks"},
		{"socket", func(p string) error {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Bind(fd, &unix.SockaddrUnix{Name: p})
		}, "is a socket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, nested := range []bool{false, true} {
				src := t.TempDir()
				top := filepath.Join(src, "ffff-pkg")
				target := top
				if nested {
					os.MkdirAll(filepath.Join(top, "sub"), 0o755)
					target = filepath.Join(top, "sub", "special")
				}
				if err := tc.make(target); err != nil {
					t.Fatal(err)
				}
				dst := t.TempDir()
				_, err := Copy(context.Background(), openDir(t, dst), []string{top}, Options{})
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), target) {
					t.Fatalf("nested=%v: error %v, want %q naming %s", nested, err, tc.want, target)
				}
				chmodTree(dst, 0o755)
			}
		})
	}
}

func TestCopyErrors(t *testing.T) {
	src := t.TempDir()
	sources := storeTree(t, src)
	dst := t.TempDir()
	// The target already exists.
	if err := os.Mkdir(filepath.Join(dst, "aaaa-pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Copy(context.Background(), openDir(t, dst), sources, Options{})
	if err == nil || !strings.Contains(err.Error(), "aaaa-pkg: mkdir: file exists") {
		t.Fatalf("error %v", err)
	}
	// A missing source.
	_, err = Copy(context.Background(), openDir(t, t.TempDir()), []string{filepath.Join(src, "gggg-missing")}, Options{})
	if err == nil || !strings.Contains(err.Error(), "gggg-missing: no such file or directory") {
		t.Fatalf("error %v", err)
	}
}

func TestCopyDataFallback(t *testing.T) {
	// readWrite is what copyRange falls back to; check it on its own.
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789"), 300000)
	mustWrite(t, filepath.Join(dir, "src"), string(data), 0o644)
	src, _ := unix.Open(filepath.Join(dir, "src"), unix.O_RDONLY, 0)
	dst, _ := unix.Open(filepath.Join(dir, "dst"), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
	if err := (&dataCopier{}).readWrite(dst, src, 0, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	unix.Close(src)
	unix.Close(dst)
	got, _ := os.ReadFile(filepath.Join(dir, "dst"))
	if !bytes.Equal(got, data) {
		t.Fatal("fallback copy differs")
	}
	if !fallbackErr(syscall.EXDEV) || fallbackErr(syscall.EIO) {
		t.Fatal("fallback errors")
	}
}
