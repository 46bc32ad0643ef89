package tree_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/store/tree"
)

// recorder records a walk's events as lines, reading each file it is given.
type recorder struct {
	events []string
	// onFile, when set, runs in File after the file is read.
	onFile func(e *tree.Entry) error
}

func (r *recorder) EnterDir(d *tree.Entry) error {
	if d.Fd < 0 || d.Stat.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("EnterDir %s: fd %d, mode %o", d.Path(), d.Fd, d.Stat.Mode)
	}
	r.events = append(r.events, fmt.Sprintf("enter %q %o", d.NARName(), d.Stat.Mode&0o7777))
	return nil
}

func (r *recorder) LeaveDir(d *tree.Entry) error {
	r.events = append(r.events, fmt.Sprintf("leave %q", d.NARName()))
	return nil
}

func (r *recorder) Symlink(e *tree.Entry, target string) error {
	r.events = append(r.events, fmt.Sprintf("symlink %q -> %q", e.NARName(), target))
	return nil
}

func (r *recorder) File(e *tree.Entry) error {
	if e.Fd < 0 {
		r.events = append(r.events, fmt.Sprintf("file %q unopened", e.NARName()))
	} else {
		data := make([]byte, e.Stat.Size)
		if _, err := unix.Pread(e.Fd, data, 0); err != nil {
			return err
		}
		r.events = append(r.events, fmt.Sprintf("file %q %o %q", e.NARName(), e.Stat.Mode&0o777, data))
	}
	if r.onFile != nil {
		return r.onFile(e)
	}
	return nil
}

// otherRecorder also takes FIFOs, sockets and devices.
type otherRecorder struct{ recorder }

func (r *otherRecorder) Other(e *tree.Entry) error {
	r.events = append(r.events, fmt.Sprintf("other %q %o", e.NARName(), e.Kind))
	return nil
}

func write(t *testing.T, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func TestWalk(t *testing.T) {
	tests := []struct {
		name string
		// make builds the tree at root.
		make func(t *testing.T, root string)
		opts tree.Options
		want []string
	}{
		{"NAR order", func(t *testing.T, root string) {
			mkdir(t, root+"/a")
			// Byte order: upper case before lower case, '-' and '.'
			// before letters, UTF-8 and 0xff last.
			for _, n := range []string{"b", "B", "a-b", "a.b", "é", "\xff", "_"} {
				write(t, root+"/"+n, n, 0o444)
			}
			write(t, root+"/a/x", "ax", 0o555)
			mkdir(t, root+"/a/empty")
		}, tree.Options{}, []string{
			`enter "" 755`,
			`file "B" 444 "B"`,
			`file "_" 444 "_"`,
			`enter "a" 755`,
			`enter "empty" 755`,
			`leave "empty"`,
			`file "x" 555 "ax"`,
			`leave "a"`,
			`file "a-b" 444 "a-b"`,
			`file "a.b" 444 "a.b"`,
			`file "b" 444 "b"`,
			`file "é" 444 "é"`,
			`file "\xff" 444 "\xff"`,
			`leave ""`,
		}},
		{"symlinks are not followed", func(t *testing.T, root string) {
			mkdir(t, root+"/dir")
			write(t, root+"/dir/f", "f", 0o444)
			symlink(t, "dir", root+"/to-dir")
			symlink(t, "dir/f", root+"/to-file")
			symlink(t, "/nonexistent", root+"/dangling")
			symlink(t, "loop", root+"/loop")
		}, tree.Options{}, []string{
			`enter "" 755`,
			`symlink "dangling" -> "/nonexistent"`,
			`enter "dir" 755`,
			`file "f" 444 "f"`,
			`leave "dir"`,
			`symlink "loop" -> "loop"`,
			`symlink "to-dir" -> "dir"`,
			`symlink "to-file" -> "dir/f"`,
			`leave ""`,
		}},
		{"deferred files", func(t *testing.T, root string) {
			write(t, root+"/f", "f", 0o444)
		}, tree.Options{DeferFiles: true}, []string{
			`enter "" 755`,
			`file "f" unopened`,
			`leave ""`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			mkdir(t, root)
			tc.make(t, root)
			var r recorder
			if err := tree.Walk(context.Background(), root, &r, tc.opts); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.events, "\n"); got != strings.Join(tc.want, "\n") {
				t.Fatalf("events\n%s\nwant\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestWalkRoots: the root may be a directory, a regular file or a symlink,
// which is not followed; its NAR name is empty.
func TestWalkRoots(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/file", "contents", 0o555)
	mkdir(t, dir+"/dir")
	symlink(t, "dir", dir+"/link")
	tests := []struct {
		root string
		want string
	}{
		{dir + "/file", `file "" 555 "contents"`},
		{dir + "/link", `symlink "" -> "dir"`},
		{dir + "/dir", `enter "" 755` + "\n" + `leave ""`},
	}
	for _, tc := range tests {
		var r recorder
		if err := tree.Walk(context.Background(), tc.root, &r, tree.Options{}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(r.events, "\n"); got != tc.want {
			t.Errorf("%s: events %q, want %q", tc.root, got, tc.want)
		}
	}
	// WalkAt: the root's name relative to a descriptor, its path for
	// messages given apart.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	err = tree.WalkAt(context.Background(), fd, "missing", "/shown/missing", &recorder{}, tree.Options{Op: "read"})
	if err == nil || err.Error() != "read /shown/missing: no such file or directory" || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("error %v", err)
	}
}

// TestWalkUnsupported: FIFOs, sockets and devices fail the walk with one
// error naming them, nested or as the root, unless the visitor takes them.
func TestWalkUnsupported(t *testing.T) {
	tests := []struct {
		name, kind string
		make       func(p string) error
		root       bool // needs root
	}{
		{"fifo", "FIFO", func(p string) error { return unix.Mkfifo(p, 0o644) }, false},
		{"socket", "socket", func(p string) error { return unix.Mknod(p, unix.S_IFSOCK|0o644, 0) }, false},
		{"device", "character device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("mknod of a device needs root")
			}
			for _, nested := range []bool{true, false} {
				root := filepath.Join(t.TempDir(), "root")
				bad := root
				if nested {
					mkdir(t, root+"/sub")
					write(t, root+"/sub/a", "a", 0o444)
					bad = root + "/sub/bad " + tc.name
				}
				if err := tc.make(bad); err != nil {
					t.Fatal(err)
				}
				var r recorder
				err := tree.Walk(context.Background(), root, &r, tree.Options{Op: "copy"})
				want := "copy " + bad + ": is a " + tc.kind + "; a store path holds only regular files, directories and symlinks"
				var unsupported *tree.UnsupportedError
				if err == nil || err.Error() != want || !errors.As(err, &unsupported) {
					t.Fatalf("nested %v: error %v, want %q", nested, err, want)
				}
				var o otherRecorder
				if err := tree.Walk(context.Background(), root, &o, tree.Options{}); err != nil {
					t.Fatalf("nested %v: other visitor: %v", nested, err)
				}
				last := o.events[0]
				if nested {
					last = o.events[len(o.events)-3]
				}
				if !strings.HasPrefix(last, "other ") {
					t.Fatalf("nested %v: events %q", nested, o.events)
				}
			}
		})
	}
}

// TestWalkChangedFile: a file that changes while the visitor reads it fails
// the walk, naming it; a hard link made meanwhile (which changes only the
// link count and the status change time) does not.
func TestWalkChangedFile(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, p string)
		want   string
	}{
		{"grows", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString(" and more"); err != nil {
				t.Fatal(err)
			}
		}, "its size went from 8 to 17 bytes"},
		{"shrinks", func(t *testing.T, p string) {
			if err := os.Truncate(p, 2); err != nil {
				t.Fatal(err)
			}
		}, "its size went from 8 to 2 bytes"},
		{"rewritten in place", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("CONTENTS"), 0o644); err != nil {
				t.Fatal(err)
			}
			// Even with its modification time put back.
			if err := os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0)); err != nil {
				t.Fatal(err)
			}
		}, "its status changed"},
		{"touched", func(t *testing.T, p string) {
			if err := os.Chtimes(p, time.Now(), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, "its modification time changed"},
		{"chmod", func(t *testing.T, p string) {
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "its status changed"},
		{"hard-linked", func(t *testing.T, p string) {
			if err := os.Link(p, p+"-link"); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			mkdir(t, root+"/sub")
			p := root + "/sub/file"
			write(t, p, "contents", 0o644)
			if err := os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0)); err != nil {
				t.Fatal(err)
			}
			r := recorder{onFile: func(e *tree.Entry) error {
				tc.change(t, p)
				return nil
			}}
			err := tree.Walk(context.Background(), root, &r, tree.Options{Op: "hash"})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want := "hash " + p + ": changed while it was read: " + tc.want
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}

// TestWalkDeeperThanPathMax walks a tree whose paths are longer than
// PATH_MAX, and names its deepest entry in an error.
func TestWalkDeeperThanPathMax(t *testing.T) {
	root := filepath.Join(t.TempDir(), "deep")
	mkdir(t, root)
	component := strings.Repeat("d", 250)
	const depth = 20 // 20 * 251 bytes > PATH_MAX (4096)
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < depth; i++ {
		if err := unix.Mkdirat(fd, component, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, component, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	ffd, err := unix.Openat(fd, "bottom", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o444)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(ffd, []byte("at the bottom"))
	unix.Close(ffd)
	if err := unix.Symlinkat("../"+component, fd, "up"); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)

	var r recorder
	if err := tree.Walk(context.Background(), root, &r, tree.Options{}); err != nil {
		t.Fatal(err)
	}
	if len(r.events) != 2*(depth+1)+2 || r.events[depth+1] != `file "bottom" 444 "at the bottom"` || r.events[depth+2] != `symlink "up" -> "../`+component+`"` {
		t.Fatalf("%d events: %q", len(r.events), r.events[depth:depth+3])
	}

	// An error at the bottom names the whole path.
	fail := recorder{onFile: func(e *tree.Entry) error { return errors.New(e.Path()) }}
	err = tree.Walk(context.Background(), root, &fail, tree.Options{})
	want := root + strings.Repeat("/"+component, depth) + "/bottom"
	if err == nil || err.Error() != want || len(want) <= unix.PathMax {
		t.Fatalf("error %v, want the path of %d bytes", err, len(want))
	}
}

// TestWalkStops: a visitor's error ends the walk as it is, and so does a
// done context, with its cause.
func TestWalkStops(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	mkdir(t, root+"/a")
	write(t, root+"/a/f", "f", 0o444)
	write(t, root+"/b", "b", 0o444)
	boom := errors.New("boom")
	r := recorder{onFile: func(*tree.Entry) error { return boom }}
	if err := tree.Walk(context.Background(), root, &r, tree.Options{}); err != boom {
		t.Fatalf("error %v", err)
	}
	if len(r.events) != 3 {
		t.Fatalf("events after the error: %q", r.events)
	}
	cause := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	if err := tree.Walk(ctx, root, &recorder{}, tree.Options{}); err != cause {
		t.Fatalf("error %v", err)
	}
}

// keeper keeps every directory's descriptor and opens the files later, as
// a copier handing files to workers does.
type keeper struct {
	recorder
	dirs  []int
	files []struct {
		dirFd int
		name  string
	}
}

func (k *keeper) EnterDir(d *tree.Entry) error {
	k.dirs = append(k.dirs, d.KeepFd())
	return k.recorder.EnterDir(d)
}

func (k *keeper) File(e *tree.Entry) error {
	k.files = append(k.files, struct {
		dirFd int
		name  string
	}{e.DirFd, e.Name})
	return k.recorder.File(e)
}

func TestDeferredFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	mkdir(t, root+"/sub")
	write(t, root+"/sub/f", "deferred", 0o444)
	if err := unix.Mkfifo(root+"/sub/g", 0o644); err != nil {
		t.Fatal(err)
	}
	var k keeper
	err := tree.Walk(context.Background(), root, &k, tree.Options{DeferFiles: true})
	if err == nil || !strings.Contains(err.Error(), "/sub/g: is a FIFO") {
		t.Fatalf("error %v", err)
	}
	defer func() {
		for _, fd := range k.dirs {
			unix.Close(fd)
		}
	}()
	if len(k.files) != 1 || len(k.dirs) != 2 {
		t.Fatalf("files %v, dirs %v", k.files, k.dirs)
	}
	var st unix.Stat_t
	fd, err := tree.OpenFile(k.files[0].dirFd, k.files[0].name, &st)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if st.Size != 8 {
		t.Fatalf("size %d", st.Size)
	}
	if err := tree.Unchanged(fd, &st); err != nil {
		t.Fatal(err)
	}
	// OpenFile refuses what is not a regular file, without blocking on a
	// FIFO.
	if _, err := tree.OpenFile(k.dirs[1], "g", &st); err == nil || err.Error() != "is a FIFO; a store path holds only regular files, directories and symlinks" {
		t.Fatalf("error %v", err)
	}
	if _, err := tree.OpenFile(k.dirs[0], "sub", &st); err == nil {
		t.Fatal("opened a directory as a file")
	}
}

func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, dir+"/d")
	write(t, dir+"/f", "", 0o444)
	symlink(t, "f", dir+"/l")
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	entries, err := tree.ReadDir(fd)
	if err != nil {
		t.Fatal(err)
	}
	want := []tree.DirEntry{{Name: "d", Kind: unix.S_IFDIR}, {Name: "f", Kind: unix.S_IFREG}, {Name: "l", Kind: unix.S_IFLNK}}
	if fmt.Sprint(entries) != fmt.Sprint(want) {
		t.Fatalf("entries %v, want %v", entries, want)
	}
}
