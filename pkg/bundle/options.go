package bundle

import (
	"os"
	"time"

	"github.com/oci-builder/oci-builder/pkg/rootfs"
)

// ConfigFile is the name of the runtime configuration inside a bundle.
const ConfigFile = "config.json"

// WriteOptions are how Write, WriteAtomic and WritableCopy work. What they
// write, the closure's copy mode and its verification included, is the
// plan's.
type WriteOptions struct {
	// Workers is the number of goroutines putting files in place (or, in
	// bind mode, reading them to verify them); 0 or less means one per CPU.
	Workers int
	// Progress, when set, is called about once a second with the counts so
	// far, from a goroutine of its own.
	Progress func(rootfs.Stats)
	// ProgressInterval overrides the one second between Progress calls.
	ProgressInterval time.Duration
	// OwnedLinksOnly, in hardlink mode, links only files owned by the
	// calling user and copies the others: a Nix build's output may not hold
	// hard links to files of another owner.
	OwnedLinksOnly bool
}

// HostStore is container.StoreFS for the store on this machine.
type HostStore struct{}

// IsDir reports whether p is a directory.
func (HostStore) IsDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
