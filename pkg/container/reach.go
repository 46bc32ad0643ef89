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
// when it is a block device or an image file, which the kernel opens on
// the host (a relative one from runc's working directory, the bundle's
// rootfs: "../../../dev/vda", or through a symlink there), unless the
// filesystem is one whose source is no path (virtualFilesystem) or the
// source is a word without a slash (it can only name a file of the
// bundle's rootfs, which holds no device).
func IsHostPathSource(isBind bool, typ, source string) bool {
	if isBind {
		return true
	}
	if virtualFilesystem(typ) || typ == "overlay" {
		return false
	}
	return strings.Contains(source, "/") || source == "." || source == ".."
}

// virtualFilesystem reports whether a filesystem of type typ reads no host
// path: its source is a label (tmpfs, proc, sysfs, devpts, mqueue, cgroup),
// a server's export (nfs, cifs, ceph) or a device tag (9p, virtiofs).
func virtualFilesystem(typ string) bool {
	switch typ {
	case "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2",
		"nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "9p", "virtiofs":
		return true
	}
	return false
}

// HostPaths lists the host paths through which a mount of type typ with
// this source and these options (runtime-spec form) writes on the host:
// its source when IsHostPathSource says it names one, and the paths its
// options name: overlay's upperdir and workdir (what the container writes
// goes there; its lowerdirs are only read), and for other filesystems
// that read host paths every option value with a slash (ext4's
// journal_path).
func HostPaths(isBind bool, typ, source string, options []string) []string {
	var out []string
	if IsHostPathSource(isBind, typ, source) {
		out = append(out, source)
	}
	if isBind || virtualFilesystem(typ) {
		return out
	}
	for _, o := range options {
		key, value, ok := strings.Cut(o, "=")
		switch {
		case !ok || value == "":
		case typ == "overlay":
			if key == "upperdir" || key == "workdir" {
				out = append(out, value)
			}
		case strings.Contains(value, "/"):
			out = append(out, value)
		}
	}
	return out
}

// MountReach judges a mount from the host paths it writes through
// (HostPaths): ReachStore, naming the path and the reason, when one of
// them reaches the store (SourceReach), else ReachUnknown when it has any,
// else ReachNone. An overlay's upperdir and workdir always count as
// reaching the store: the kernel writes into its workdir as it mounts it,
// before a start check (which runc runs once the mounts are made) could
// see where a symlink there leads.
func MountReach(isBind bool, typ, source string, options []string, storeDir string) (reach Reach, culprit, why string) {
	paths := HostPaths(isBind, typ, source, options)
	for _, p := range paths {
		r, w := SourceReach(p, storeDir, true)
		if r == ReachStore {
			return r, p, w
		}
		if r > reach {
			reach, culprit = r, p
		}
	}
	if reach != ReachNone && !isBind && typ == "overlay" {
		return ReachStore, culprit, "an overlay's workdir is written as it is mounted, before the start check could see where it leads"
	}
	return reach, culprit, ""
}
