package container

import (
	"path"
	"strings"
)

// Reach is what a mount's source can reach of the store, as far as its
// text tells at build time. Whatever a source reaches, the mount must not
// leave a store path writable by the container.
type Reach int

const (
	// ReachNone: the source is no host path (tmpfs, proc, a label), so
	// the mount shows nothing of the host's files.
	ReachNone Reach = iota
	// ReachUnknown: an absolute host path outside the store that does
	// not hold it. What it is on the machine that runs the container
	// cannot be known when the bundle is built: a symlink there may lead
	// into the store (on NixOS, /etc's files and /run/current-system do).
	ReachUnknown
	// ReachStore: the source is, holds or lies in the store, or may reach
	// any host path: see SourceReach for the reasons.
	ReachStore
)

// SourceReach judges a mount source from its text, for the store directory
// storeDir ("" when there is none: then only ReachNone and ReachUnknown are
// told apart). isHostPath says whether the source names a host path: it
// does for bind mounts and, for a filesystem mount, when it is absolute (a
// block device). It returns ReachStore, with the reason, for a source that
//
//   - is relative: runc takes it from the bundle's directory, which a Nix
//     build puts in the store (and whose rootfs holds the store's own files
//     in hardlink mode);
//   - has a ".." component: the kernel resolves it after the symlinks
//     before it, which the build cannot see;
//   - lies in /proc or is one of /dev/fd, /dev/stdin, /dev/stdout,
//     /dev/stderr: /proc/self/root, /proc/PID/cwd and the descriptors'
//     links lead to any host path (runc's own root and its working
//     directory, the bundle);
//   - is the store directory, lies in it or holds it (/nix, /).
func SourceReach(source, storeDir string, isHostPath bool) (Reach, string) {
	if !isHostPath {
		return ReachNone, ""
	}
	if !path.IsAbs(source) {
		return ReachStore, "a relative source is taken from the bundle's directory, which is in the store when Nix builds it"
	}
	for _, part := range strings.Split(source, "/") {
		if part == ".." {
			return ReachStore, "its \"..\" is resolved on the host after the symlinks before it"
		}
	}
	clean := path.Clean(source)
	for _, magic := range []string{"/proc", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"} {
		if Within(clean, magic) {
			return ReachStore, "links in " + magic + " (/proc/self/root, /proc/PID/cwd, a descriptor's link) lead to any host path"
		}
	}
	if storeDir != "" {
		switch {
		case Within(clean, storeDir) && clean != storeDir:
			return ReachStore, "it lies in the store"
		case Within(storeDir, clean):
			return ReachStore, "it is or holds the store"
		}
	}
	return ReachUnknown, ""
}

// IsHostPathSource reports whether a mount of type typ and this source
// names a host path: a bind mount's source always does (runc takes a
// relative one from the bundle's directory); another filesystem's does
// when it is an absolute path, a block device or an image file, which the
// kernel opens on the host, unless the filesystem is one whose source is a
// mere label (tmpfs, proc, sysfs, devpts, mqueue, cgroup).
func IsHostPathSource(isBind bool, typ, source string) bool {
	if isBind {
		return true
	}
	switch typ {
	case "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2":
		return false
	}
	return strings.HasPrefix(source, "/")
}
