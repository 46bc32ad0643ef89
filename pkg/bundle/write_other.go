//go:build !linux

package bundle

import (
	"context"
	"fmt"
	"runtime"

	"github.com/oci-builder/oci-builder/pkg/rootfs"
)

// errLinuxOnly is what writing a bundle gives outside Linux: the rootfs
// is put together with Linux's system calls (copy_file_range, FICLONE,
// bind mounts' checks), and runc runs bundles on Linux.
var errLinuxOnly = fmt.Errorf("bundles are built on Linux only, not on %s", runtime.GOOS)

// Write fails outside Linux.
func Write(context.Context, string, *Plan, WriteOptions) (rootfs.Stats, error) {
	return rootfs.Stats{}, errLinuxOnly
}

// WriteAtomic fails outside Linux.
func WriteAtomic(context.Context, string, *Plan, WriteOptions) (rootfs.Stats, error) {
	return rootfs.Stats{}, errLinuxOnly
}

// WritableCopy fails outside Linux.
func WritableCopy(context.Context, string, string, WriteOptions) (rootfs.Stats, error) {
	return rootfs.Stats{}, errLinuxOnly
}
