package bundle

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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
func MakeRootless(spec *specs.Spec, ids RootlessIDs) ([]string, error) {
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
	uidMap, uidOK := idMappings(ids.UID, ids.SubUIDs, append([]uint32{user.UID}, 0))
	gidMap, gidOK := idMappings(ids.GID, ids.SubGIDs, append([]uint32{user.GID}, user.AdditionalGids...))
	if !uidOK || !gidOK {
		warnings = append(warnings, fmt.Sprintf("rootless: the process runs as root inside the user namespace, not as %d:%d: "+
			"mapping those needs subordinate ids covering them (/etc/subuid, /etc/subgid)", user.UID, user.GID))
		user.UID, user.GID, user.AdditionalGids = 0, 0, nil
		uidMap, _ = idMappings(ids.UID, nil, nil)
		gidMap, _ = idMappings(ids.GID, nil, nil)
	}
	spec.Linux.UIDMappings = uidMap
	spec.Linux.GIDMappings = gidMap
	mounts := spec.Mounts[:0]
	for _, m := range spec.Mounts {
		if m.Destination == "/sys" && m.Type == "sysfs" {
			m = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
		var opts []string
		for _, o := range m.Options {
			if strings.HasPrefix(o, "uid=") || strings.HasPrefix(o, "gid=") {
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

// idMappings maps container id 0 to host and, with subordinate ids,
// container ids 1 to sub.Count to them. It reports whether every id in need
// is mapped.
func idMappings(host uint32, sub *IDRange, need []uint32) ([]specs.LinuxIDMapping, bool) {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: 1}}
	if sub != nil && sub.Count > 0 {
		m = append(m, specs.LinuxIDMapping{ContainerID: 1, HostID: sub.Start, Size: sub.Count})
	}
	for _, id := range need {
		mapped := false
		for _, r := range m {
			mapped = mapped || (id >= r.ContainerID && id-r.ContainerID < r.Size)
		}
		if !mapped {
			return m, false
		}
	}
	return m, true
}
