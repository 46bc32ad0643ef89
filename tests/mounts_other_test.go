//go:build !linux

package tests

// overlayMounts is false: the runtimes' overlay storage is Linux's.
func overlayMounts(lower, upper, work, merged string) bool { return false }

// detachMount does nothing: the runtimes that leave mounts run on Linux.
func detachMount(path string) {}
