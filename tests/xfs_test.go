package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mountXFS creates a reflink-capable XFS filesystem on a loop device
// (mkfs.xfs -m reflink=1 on a sparse file), mounts it on a temporary
// directory and returns that directory; cleanup unmounts it. It needs root
// and xfsprogs; without them it skips, except under CI, where it fails.
func mountXFS(t *testing.T) string {
	t.Helper()
	need(t)
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but mkfs.xfs (xfsprogs) is missing")
		}
		t.Skip("mkfs.xfs (xfsprogs) missing")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "xfs.img")
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(img, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// XFS needs at least 300 MiB; the file stays sparse.
	if err := f.Truncate(512 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("mkfs.xfs", "-q", "-m", "reflink=1", img)
	loop := run("losetup", "--find", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "--detach", loop).Run() })
	run("mount", "-t", "xfs", loop, mnt)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return mnt
}

// shell runs a bash command line and returns its output, failing the test
// on error.
func shell(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash -c %q: %v\n%s", script, err, out)
	}
	return string(out)
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var _ = fmt.Sprint
