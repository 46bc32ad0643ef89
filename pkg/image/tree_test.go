package image_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/image"
)

// TestWriteTree: the customisation tree the shell arguments run on is the
// customisation layer's entries on disk: contents linked, copyToRoot
// copied with its modes, dirs with their modes (sticky bit too); what
// needs root (owners, setuid bits, modes without the owner's write bit) is the owners script, and nothing is
// written into a directory that is not empty.
func TestWriteTree(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, strings.Repeat("a", 32)+"-busybox")
	c := filepath.Join(dir, strings.Repeat("c", 32)+"-root")
	for _, d := range []string{a + "/bin", c + "/etc"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(a+"/bin/busybox", []byte("bb"), 0o555)
	os.WriteFile(c+"/etc/app.conf", []byte("conf"), 0o444)
	// buildImage's: copyToRoot owned by uid and gid.
	spec, err := image.DecodeTreeSpec([]byte(`{
  "copyToRoot": ["` + c + `"],
  "uid": 5, "gid": 6,
  "dirs": [{"path": "/tmp", "mode": "1777"}, {"path": "/var/lib/my app", "uid": 1000, "gid": 1000, "mode": "0750"}],
  "perms": [{"path": "` + c + `", "regex": "/etc/su$", "mode": "4755"}]
}`))
	if err != nil {
		t.Fatal(err)
	}
	custom, err := spec.Customisation()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	script, err := image.WriteTree(custom, root)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"tmp":            "dtrwxrwxrwx",
		"var/lib/my app": "drwxr-x---",
		"etc":            "drwxr-xr-x",
		"etc/app.conf":   "-rw-r--r--", // writable by its owner, 444 recorded by the script
		"var":            "drwxr-xr-x",
	} {
		if name, ok := strings.CutSuffix(p, "@link"); ok {
			if got, err := os.Readlink(filepath.Join(root, name)); err != nil || got != want {
				t.Errorf("%s -> %q (%v), want -> %s", name, got, err, want)
			}
			continue
		}
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil || fi.Mode().String() != want {
			t.Errorf("%s: %v (%v), want %s", p, fi.Mode(), err, want)
		}
	}
	if data, err := os.ReadFile(filepath.Join(root, "etc/app.conf")); err != nil || string(data) != "conf" {
		t.Errorf("etc/app.conf: %q, %v", data, err)
	}
	want := "chown -h 5:6 -- etc etc/app.conf\nchown -h 1000:1000 -- 'var/lib/my app'\nchmod 444 -- etc/app.conf\n"
	if string(script) != want {
		t.Errorf("owners script\n%s\nwant\n%s", script, want)
	}
	// buildLayeredImage's: contents linked, perms on their directories;
	// a copied setuid file is chmodded.
	os.WriteFile(c+"/etc/su", []byte("su"), 0o555)
	spec = &image.TreeSpec{Contents: []string{a}, CopyToRoot: []string{c}, Perms: spec.Perms}
	if custom, err = spec.Customisation(); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "root")
	if script, err = image.WriteTree(custom, other); err != nil || !strings.Contains(string(script), "chmod 4755 -- etc/su\n") {
		t.Errorf("setuid: %q, %v", script, err)
	}
	if got, err := os.Readlink(filepath.Join(other, "bin/busybox")); err != nil || got != a+"/bin/busybox" {
		t.Errorf("bin/busybox -> %q (%v), want a link to busybox's", got, err)
	}
	if _, err := image.WriteTree(custom, root); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a tree written twice: %v", err)
	}
	if _, err := image.DecodeTreeSpec([]byte(`{"contents": [], "extra": 1}`)); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("unknown key: %v", err)
	}
}
