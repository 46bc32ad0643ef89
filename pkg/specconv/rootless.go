package specconv

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
)

// MakeRootless changes spec so that the host user ids.UID:ids.GID can run
// it without privileges, as `runc spec --rootless` does: a user namespace
// mapping container root to that user, /sys bind-mounted instead of a new
// sysfs, no uid=/gid= mount options, and no cgroup resources (an
// unprivileged user cannot set them without delegation).
//
// The runtime needs container root mapped. A process user other than root
// is mapped through the subordinate ids (container ids 1 and up to
// SubUIDs/SubGIDs, which runc sets up with newuidmap/newgidmap); without
// them the process runs as root inside the user namespace, which is still
// the unprivileged user on the host. It returns a warning for each setting
// dropped or changed.
func MakeRootless(spec *specs.Spec, ids container.RootlessIDs) ([]string, error) {
	if spec.Process == nil || spec.Linux == nil {
		return nil, fmt.Errorf("rootless: the configuration has no process or linux section")
	}
	var warnings []string
	hasUserNS := false
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			hasUserNS = true
			if ns.Path != "" {
				return nil, fmt.Errorf("rootless: the configuration joins an existing user namespace (%s)", ns.Path)
			}
		}
	}
	if !hasUserNS {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	}
	user := &spec.Process.User
	uidMap, uidOK := idMappings(ids.UID, 0, ids.SubUIDs, append([]uint32{user.UID}, 0))
	gidMap, gidOK := idMappings(ids.GID, 0, ids.SubGIDs, append([]uint32{user.GID}, user.AdditionalGids...))
	if !uidOK || !gidOK {
		warnings = append(warnings, fmt.Sprintf("rootless: the process runs as root inside the user namespace, not as %d:%d: "+
			"mapping those needs subordinate ids covering them (/etc/subuid, /etc/subgid)", user.UID, user.GID))
		user.UID, user.GID, user.AdditionalGids = 0, 0, nil
		uidMap, _ = idMappings(ids.UID, 0, nil, nil)
		gidMap, _ = idMappings(ids.GID, 0, nil, nil)
	}
	if user.UID != 0 {
		// runc 1.1 run by an unprivileged user cannot call setgroups, and
		// needs container group 0 to be a group of that user (it chowns
		// the process's stdio pipes to it), so the user's own groups stay
		// the process's supplementary groups, the first seen as group 0.
		warnings = append(warnings, fmt.Sprintf("rootless: the process (uid %d) keeps the supplementary groups of the user who runs runc, that user's own group seen as group 0 (root): an unprivileged runc 1.1 cannot drop them", user.UID))
	}
	spec.Linux.UIDMappings = uidMap
	spec.Linux.GIDMappings = gidMap
	mounts := spec.Mounts[:0]
	for _, m := range spec.Mounts {
		if m.Destination == "/sys" && m.Type == "sysfs" {
			m = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro", "rro"}}
		}
		// uid= and gid= options name container ids: those left unmapped
		// would make the mount fail.
		var opts []string
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "uid="); ok && !mappedID(uidMap, v) {
				continue
			}
			if v, ok := strings.CutPrefix(o, "gid="); ok && !mappedID(gidMap, v) {
				continue
			}
			opts = append(opts, o)
		}
		m.Options = opts
		mounts = append(mounts, m)
	}
	spec.Mounts = mounts
	if r := spec.Linux.Resources; r != nil {
		if r.Memory != nil || r.CPU != nil || r.Pids != nil {
			warnings = append(warnings, "rootless: dropping resources (memory, cpu, pids limits): an unprivileged runtime cannot apply cgroup limits")
		}
		spec.Linux.Resources = nil
	}
	return warnings, nil
}

// idMappings maps container id own to host and, with subordinate ids, the
// container ids around it, from 0, to them in order: container ids 0 to
// sub.Count are mapped, own to host. It reports whether every id in need is
// mapped.
func idMappings(host, own uint32, sub *container.IDRange, need []uint32) ([]specs.LinuxIDMapping, bool) {
	var m []specs.LinuxIDMapping
	if sub == nil || sub.Count == 0 {
		m = []specs.LinuxIDMapping{{ContainerID: own, HostID: host, Size: 1}}
	} else {
		below := min(own, sub.Count)
		if below > 0 {
			m = append(m, specs.LinuxIDMapping{ContainerID: 0, HostID: sub.Start, Size: below})
		}
		m = append(m, specs.LinuxIDMapping{ContainerID: own, HostID: host, Size: 1})
		if above := sub.Count - below; above > 0 && own < ^uint32(0) {
			m = append(m, specs.LinuxIDMapping{ContainerID: own + 1, HostID: sub.Start + below, Size: min(above, ^uint32(0)-own)})
		}
	}
	for _, id := range need {
		if !inMappings(m, id) {
			return m, false
		}
	}
	return m, true
}

func inMappings(m []specs.LinuxIDMapping, id uint32) bool {
	for _, r := range m {
		if id >= r.ContainerID && uint64(id) < uint64(r.ContainerID)+uint64(r.Size) {
			return true
		}
	}
	return false
}

// mappedID reports whether the decimal container id v is in m.
func mappedID(m []specs.LinuxIDMapping, v string) bool {
	id, err := strconv.ParseUint(v, 10, 32)
	return err == nil && inMappings(m, uint32(id))
}
