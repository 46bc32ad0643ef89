package main

import (
	"fmt"
	"runtime"

	"github.com/oci-builder/oci-builder/pkg/guard"
)

// linuxOnlyWork says, of a command that works on Linux only, what is done
// only there, and is "" for the others. Bundles are Linux's: their rootfs
// is put together with Linux's system calls (copy_file_range, FICLONE, bind
// mounts), their seccomp profile is Linux's, and runc runs them on Linux.
// Images are built everywhere.
func linuxOnlyWork(command string) string {
	switch command {
	case "nix-builder":
		return "bundles (buildContainer) are built"
	case "bundle":
		return "bundles are built"
	case "rootless":
		return "rootless bundles are written"
	case "writable":
		return "writable copies of bundles are made"
	case "validate":
		return "bundles are validated, as runc would"
	case guard.CheckCommand:
		return "bundles' mount sources are checked (runc's createRuntime hook)"
	}
	return ""
}

// linuxOnlyError is the one line a Linux-only command gives on goos, a
// system other than Linux, and nil for every other command and on Linux.
func linuxOnlyError(command, goos string) error {
	work := linuxOnlyWork(command)
	if work == "" || goos == "linux" {
		return nil
	}
	return fmt.Errorf("%s: %s on Linux only; on %s build images instead (oci-builder image, copy and stream-image; buildImage, buildLayeredImage and streamLayeredImage in Nix)", command, work, goos)
}

// system is the system the command runs on.
func (e env) system() string {
	if e.goos != "" {
		return e.goos
	}
	return runtime.GOOS
}
