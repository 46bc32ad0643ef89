package bundle

import (
	"fmt"
	"strings"
)

// StoreMode is how the closure gets into the bundle: the storeMode option
// (container.Options.StoreMode), checked by ParseStoreMode.
type StoreMode string

// The store modes. The empty StoreMode means StoreCopy.
const (
	// StoreCopy copies every file of the closure into the rootfs.
	StoreCopy StoreMode = "copy"
	// StoreReflink clones files copy-on-write where the filesystem can
	// (FICLONE) and copies them elsewhere.
	StoreReflink StoreMode = "reflink"
	// StoreHardlink hard-links files to the store where the kernel (and,
	// inside a Nix build, Nix) allows it and copies them elsewhere.
	StoreHardlink StoreMode = "hardlink"
	// StoreBind copies nothing: the rootfs holds an empty store directory,
	// over which config.json mounts a tmpfs and bind-mounts each closure
	// path read-only from the host's store, which must hold the closure
	// when the container runs.
	StoreBind StoreMode = "bind"
)

// StoreModes lists the store modes, the default first.
func StoreModes() []StoreMode {
	return []StoreMode{StoreCopy, StoreReflink, StoreHardlink, StoreBind}
}

// ParseStoreMode checks a store mode's name; "" means StoreCopy.
func ParseStoreMode(s string) (StoreMode, error) {
	if s == "" {
		return StoreCopy, nil
	}
	for _, m := range StoreModes() {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, len(StoreModes()))
	for i, m := range StoreModes() {
		names[i] = fmt.Sprintf("%q", m)
	}
	return "", fmt.Errorf("storeMode %q is not one of %s", s, strings.Join(names, ", "))
}
