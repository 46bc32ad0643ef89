package container

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The root filesystem is read-only, so the places programs write to are
// tmpfs mounts. runc 1.1 gives a tmpfs mounted on an existing directory
// that directory's mode, and a directory in the store is 0555, so a tmpfs
// on a /tmp made at build time would be writable by no one (and one runc
// made itself would be written into the store). Each one is therefore
// mounted in the /dev tmpfs, where the runtime makes the mountpoint and the
// mode option holds, and the rootfs has a symlink to it.
const (
	// TmpfsDir is /tmp's and /var/tmp's tmpfs, mode 1777.
	TmpfsDir = "/dev/tmp"
	// RunDir is /run's tmpfs, root's, mode 0755.
	RunDir = "/dev/run"
	// HomeDir is the process user's home directory's tmpfs, the user's,
	// mode 0700.
	HomeDir = "/dev/home"
)

// writableDir is a path of the container that is a symlink to a tmpfs.
type writableDir struct {
	path, target string
	// mount is the tmpfs at target, nil when another writableDir has it.
	mount *specs.Mount
}

// writableDirs lists the writable scratch directories of a container whose
// process runs as id: /tmp, /var/tmp, /run and the home directory, unless
// the home is the root directory, /var/empty (nobody's, empty by intent),
// in the store, or in another of them or in a system mount. A user mount
// at one of the paths replaces it; one that holds the store directory is
// left out, with a warning.
func writableDirs(id Identity, storeDir string, userMounts map[string]bool) ([]writableDir, []string) {
	tmp := &specs.Mount{Destination: TmpfsDir, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}}
	dirs := []writableDir{
		{path: "/tmp", target: TmpfsDir, mount: tmp},
		{path: "/var/tmp", target: TmpfsDir},
		{path: "/run", target: RunDir, mount: &specs.Mount{Destination: RunDir, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=0755"}}},
	}
	home := id.Home
	ownHome := home != "/" && home != "/var/empty" && (storeDir == "" || !Within(home, storeDir))
	for _, d := range dirs {
		ownHome = ownHome && !Within(home, d.path)
	}
	for _, m := range systemMounts() {
		ownHome = ownHome && !Within(home, m.Destination)
	}
	if ownHome {
		dirs = append(dirs, writableDir{path: home, target: HomeDir, mount: &specs.Mount{
			Destination: HomeDir, Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "mode=0700", fmt.Sprintf("uid=%d", id.UID), fmt.Sprintf("gid=%d", id.GID)},
		}})
	}
	// A user mount at /tmp replaces /tmp alone, as does a store inside it
	// (with a warning); /var/tmp then has its own tmpfs mount unless the
	// user mounts it too.
	noTmp := userMounts["/tmp"] || (storeDir != "" && Within(storeDir, "/tmp"))
	out := dirs[:0]
	var warnings []string
	for _, d := range dirs {
		if userMounts[d.path] {
			continue
		}
		if storeDir != "" && Within(storeDir, d.path) {
			warnings = append(warnings, fmt.Sprintf("no writable %s: the store directory %s is inside it", d.path, storeDir))
			continue
		}
		if d.mount == nil && noTmp {
			d.mount = &specs.Mount{Destination: d.target, Type: "tmpfs", Source: "tmpfs", Options: append([]string(nil), tmp.Options...)}
		}
		out = append(out, d)
	}
	return out, warnings
}

// throughSymlink rewrites a path inside one of the writable directories
// (not the directory itself) to the same path in its tmpfs, where the
// runtime can make a mountpoint or a program can find it.
// It returns the directory too.
func throughSymlink(p string, dirs []writableDir) (string, string, bool) {
	for _, d := range dirs {
		if rest, ok := strings.CutPrefix(p, d.path+"/"); ok {
			return d.target + "/" + rest, d.path, true
		}
	}
	return p, "", false
}
