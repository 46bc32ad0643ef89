package staging_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/staging"
)

// TestBindMountOfStorePart: a destination in a bind mount of a part of
// the store (mount --bind STORE/HASH-x DIR), which ".." from the mount's
// root does not lead back to, is refused; a bind mount of a directory
// outside the store is not. It needs to mount (root, as CI runs).
func TestBindMountOfStorePart(t *testing.T) {
	tmp := t.TempDir()
	store := filepath.Join(tmp, "store")
	part := filepath.Join(store, "aaaa-part")
	outside := filepath.Join(tmp, "outside")
	for _, d := range []string{filepath.Join(part, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mount := func(src string) string {
		dst, err := os.MkdirTemp(tmp, "bind")
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			if os.Getenv("CI") == "" && errors.Is(err, unix.EPERM) {
				t.Skip("mount --bind needs root:", err)
			}
			t.Fatalf("mount --bind %s %s: %v", src, dst, err)
		}
		t.Cleanup(func() { unix.Unmount(dst, unix.MNT_DETACH) })
		return dst
	}
	for _, tc := range []struct {
		name    string
		dir     string
		inStore bool
	}{
		{"a part of the store, bound", mount(part), true},
		{"below a bound part", filepath.Join(mount(part), "sub"), true},
		{"the store, bound", mount(store), true},
		{"outside, bound", mount(outside), false},
		{"outside", outside, false},
		{"the part itself", part, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := staging.CheckParentOutsideStore(filepath.Join(tc.dir, "new"), store)
			if got := errors.Is(err, staging.ErrInStore); got != tc.inStore || (!tc.inStore && err != nil) {
				t.Fatalf("CheckParentOutsideStore(%s/new): %v, want in the store: %v", tc.dir, err, tc.inStore)
			}
		})
	}
}
