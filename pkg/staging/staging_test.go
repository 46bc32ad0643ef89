package staging_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/staging"
)

// TestCommitAndClose: the output appears only on Commit, and Close leaves
// nothing beside it.
func TestCommitAndClose(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	for _, commit := range []bool{false, true} {
		d, err := staging.New(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(d.Path, "sub"), 0o555); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(out); err == nil {
			t.Fatal("output visible before Commit")
		}
		if commit {
			if err := d.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(parent)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		want := ""
		if commit {
			want = "out"
		}
		if strings.Join(names, " ") != want {
			t.Fatalf("commit %v: parent holds %q", commit, names)
		}
	}
	if _, err := staging.New(out); !errors.Is(err, staging.ErrExists) {
		t.Fatalf("New of an existing output: %v", err)
	}
}

// TestStaleRemoved: a staging directory whose writer died (here: a process
// whose lock went with it) is removed by the next run for the same
// output, read-only contents included; a live writer's is left alone, and
// so are other outputs' staging directories.
func TestStaleRemoved(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	live, err := staging.New(out)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	dead := filepath.Join(parent, ".out.tmp-123")
	if err := os.MkdirAll(filepath.Join(dead, "out", "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dead, "out", "rootfs"), 0o555); err != nil {
		t.Fatal(err)
	}
	// A writer that was killed held the lock until it died: the directory
	// is unlocked now, unlike live's, which this process holds (flock locks
	// belong to open file descriptions, so RemoveStale's own open sees it
	// locked).
	other := filepath.Join(parent, ".other.tmp-1")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	removed, err := staging.RemoveStale(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dead {
		t.Fatalf("removed %q, want %q", removed, dead)
	}
	for _, p := range []string{filepath.Dir(live.Path), other} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s was removed: %v", p, err)
		}
	}
}
