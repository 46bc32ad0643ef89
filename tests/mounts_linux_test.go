//go:build linux

package tests

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// overlayMounts tells whether an overlay of lower, upper and work mounts
// on merged (it is unmounted again).
func overlayMounts(lower, upper, work, merged string) bool {
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return false
	}
	return unix.Unmount(merged, 0) == nil
}

// detachMount detaches the mount on path lazily (MNT_DETACH: gone from
// the tree at once, released when no longer in use); errors are ignored,
// the caller removes what it can.
func detachMount(path string) { unix.Unmount(path, unix.MNT_DETACH) }
