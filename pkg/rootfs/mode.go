//go:build linux

package rootfs

import "fmt"

// Mode is how Copy puts a regular file into the rootfs.
type Mode int

const (
	// ModeCopy copies the bytes: copy_file_range, falling back to read and
	// write; holes in sparse files stay holes.
	ModeCopy Mode = iota
	// ModeReflink clones the file (the FICLONE ioctl), sharing its extents
	// copy-on-write, where the filesystem can (XFS with reflink, Btrfs,
	// bcachefs); elsewhere the file is copied.
	ModeReflink
	// ModeHardlink links the file (link(2)) where the source and the rootfs are
	// on the same mount and the kernel allows it; elsewhere the file is
	// copied.
	ModeHardlink
)

var modeNames = [...]string{ModeCopy: "copy", ModeReflink: "reflink", ModeHardlink: "hardlink"}

// String returns the mode's name: "copy", "reflink" or "hardlink".
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

func (m Mode) check() error {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Errorf("unknown copy mode %d", int(m))
	}
	return nil
}
