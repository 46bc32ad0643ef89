package image

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/flatten"
)

// TestWriteBase: the base image's files beneath a tree, as overlayfs
// shows a lower layer: the tree's names win, directories merge, what
// the build user cannot do goes into the script.
func TestWriteBase(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o555},
		{Name: "bin/sh", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 2},
		{Name: "bin/sh2", Typeflag: tar.TypeLink, Linkname: "bin/sh"},
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2, Uid: 7, Gid: 8},
		{Name: "lib/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "lib/hidden", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2},
		{Name: "dev/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("ab"))
		}
	}
	tw.Close()
	tree, err := flatten.New(t.TempDir(), flatten.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	if err := tree.Apply(&b); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The tree above: etc a directory (merges), lib a link (hides).
	if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("upper"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(dir, "lib")); err != nil {
		t.Fatal(err)
	}
	script, err := WriteBase(tree, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "mknod -m 666 -- dev/null c 1 3\nchmod 555 -- bin\nchmod 4755 -- bin/sh bin/sh2\n"
	if string(script) != want {
		t.Errorf("script\n%s\nwant\n%s", script, want)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "etc", "passwd")); string(data) != "upper" {
		t.Errorf("etc/passwd is %q, want the tree's", data)
	}
	if _, err := os.Lstat(filepath.Join(dir, "usr")); err == nil {
		t.Errorf("lib/hidden written through the tree's link")
	}
	a, _ := os.Stat(filepath.Join(dir, "bin", "sh"))
	c, _ := os.Stat(filepath.Join(dir, "bin", "sh2"))
	if !os.SameFile(a, c) || a.Mode().Perm() != 0o755 {
		t.Errorf("bin/sh and bin/sh2: not one file, or mode %v", a.Mode())
	}
	if fi, _ := os.Stat(filepath.Join(dir, "bin")); fi.Mode().Perm() != 0o755 {
		t.Errorf("bin is %v, want writable by its owner (755; 555 in the script)", fi.Mode())
	}
	if strings.Contains(string(script), "chown") {
		t.Errorf("chown of a hidden entry: %s", script)
	}
}
