//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckMounts runs the start check as runc runs it (the container's
// state on stdin) on sources that reach the store or the bundle in every
// way a host can make them (the directory itself, a symlink to it, to a
// parent, a path inside it, a relative path from the bundle, "..", /proc's
// links, a bind mount of a parent elsewhere, the store's block device) and
// on sources that do not.
func TestCheckMounts(t *testing.T) {
	top := t.TempDir()
	storeDir := filepath.Join(top, "nix", "store")
	bundle := filepath.Join(storeDir, "aaaa-bundle")
	data := filepath.Join(top, "data")
	for _, d := range []string{filepath.Join(storeDir, "bbbb-lib", "bin"), filepath.Join(bundle, "rootfs"), data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(name, target string) string {
		p := filepath.Join(top, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		source string
		want   string // "" when the source is safe
	}{
		{data, ""},
		{link("to-data", data), ""},
		{storeDir, "is the store " + storeDir},
		{link("to-store", storeDir), "is the store " + storeDir},
		{link("to-parent", filepath.Join(top, "nix")), "holds the store"},
		{link("to-root", "/"), "holds the store"},
		{filepath.Join(storeDir, "bbbb-lib", "bin"), "lies in the store"},
		{link("to-lib", filepath.Join(storeDir, "bbbb-lib")), "lies in the store"},
		{"rootfs", "lies in the store"},
		{"..", "is the store"},
		{"/proc/self/root" + storeDir, "is the store"},
		{filepath.Join(data, "..", "nix"), "holds the store"},
		{filepath.Join(top, "missing"), "mount source " + filepath.Join(top, "missing") + ": lstat"},
	}
	if os.Geteuid() == 0 {
		// A bind mount of a parent of the store elsewhere: another path,
		// the same directory.
		elsewhere := filepath.Join(top, "elsewhere")
		if err := os.Mkdir(elsewhere, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount(filepath.Join(top, "nix"), elsewhere, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(elsewhere, unix.MNT_DETACH) })
		tests = append(tests,
			struct{ source, want string }{elsewhere, "holds (a mount of the same directory) the store"},
			struct{ source, want string }{filepath.Join(elsewhere, "store", "bbbb-lib"), "lies in (through a mount of it at " + filepath.Join(elsewhere, "store") + ") the store"},
		)
		// The block device of the store's filesystem, where there is one.
		var st unix.Stat_t
		if err := unix.Stat(storeDir, &st); err != nil {
			t.Fatal(err)
		}
		if dev := blockDevice(t, st.Dev); dev != "" {
			tests = append(tests, struct{ source, want string }{dev, "is the block device of the filesystem of the store"})
		} else if os.Getenv("CI") != "" {
			t.Errorf("no block device in /dev for the store's filesystem %s", storeDir)
		}
	}
	state := fmt.Sprintf(`{"ociVersion":"1.0.2","id":"c","status":"creating","pid":1,"bundle":%q}`, bundle)
	for _, tc := range tests {
		var stderr bytes.Buffer
		e := env{getenv: func(string) string { return "" }, stdin: strings.NewReader(state), stdout: &stderr, stderr: &stderr}
		err := runCheckMounts(context.Background(), e, []string{"--store-dir", storeDir, "--", tc.source})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.source, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.source, err, tc.want)
		}
	}
	// The bundle is guarded too: its rootfs holds the store's own files
	// in hardlink mode.
	outside := filepath.Join(top, "bundle")
	if err := os.MkdirAll(filepath.Join(outside, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := env{stdin: strings.NewReader(fmt.Sprintf(`{"bundle":%q}`, outside)), stdout: os.Stderr, stderr: os.Stderr}
	if err := runCheckMounts(context.Background(), e, []string{"--store-dir", storeDir, "rootfs"}); err == nil || !strings.Contains(err.Error(), "mount source rootfs lies in the bundle "+outside) {
		t.Errorf("the bundle's rootfs: %v", err)
	}
	// An absent store directory is not checked; a usage error is one.
	if err := runCheckMounts(context.Background(), env{}, []string{"--store-dir", filepath.Join(top, "none"), data}); err != nil {
		t.Errorf("absent store: %v", err)
	}
	if err := runCheckMounts(context.Background(), env{}, []string{data}); err == nil {
		t.Error("no --store-dir: no error")
	}
}

// blockDevice finds the block device in /dev whose number is dev, "" if
// none.
func blockDevice(t *testing.T, dev uint64) string {
	t.Helper()
	entries, err := os.ReadDir("/dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		var st unix.Stat_t
		p := filepath.Join("/dev", e.Name())
		if unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == dev {
			return p
		}
	}
	return ""
}
