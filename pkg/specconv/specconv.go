// Package specconv turns a container (package container) into an OCI
// runtime-spec configuration, as runc's libcontainer/specconv turns one
// into runc's own: it adds the security defaults of `runc spec` (masked and
// read-only paths, the default capabilities when the container chooses
// none, RLIMIT_NOFILE, the namespaces, the device rule), makes the
// configuration rootless when asked, merges extraConfig, and gives it its
// seccomp filter, computed last so that it matches the final capabilities.
//
// It does no I/O: it never imports os, io/fs, os/exec or path/filepath (a
// test checks).
package specconv

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/guard"
	"github.com/oci-builder/oci-builder/pkg/seccomp"
)

// RootfsDir is root.path: the bundle's root filesystem directory, relative
// to the bundle.
const RootfsDir = "rootfs"

// Annotations recording the platform, as image-spec's conversion writes them.
const (
	AnnotationOS   = "org.opencontainers.image.os"
	AnnotationArch = "org.opencontainers.image.architecture"
)

// ToSpec returns the runtime configuration of c and warnings for settings
// dropped or worth knowing about (rootless, no seccomp filter; package
// guard judges what the configuration lets the container do to the store). It fails on the first problem, naming it: a rootless
// transformation that cannot be made, an extraConfig that does not merge
// into a valid configuration or removes the process, a seccomp profile
// that does not load.
func ToSpec(c *container.Container) (*specs.Spec, []string, error) {
	var warnings []string
	annotations := map[string]string{AnnotationOS: c.OS, AnnotationArch: c.Arch}
	for k, v := range c.Annotations {
		annotations[k] = v
	}
	caps := defaultCapabilities()
	if c.Process.Capabilities != nil {
		caps = copyCapabilities(c.Process.Capabilities)
	}
	id := c.Process.User
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal:        c.Process.Terminal,
			Args:            append([]string(nil), c.Process.Args...),
			Env:             append([]string(nil), c.Process.Env...),
			Cwd:             c.Process.Cwd,
			User:            specs.User{UID: id.UID, GID: id.GID, AdditionalGids: append([]uint32(nil), id.AdditionalGids...)},
			Capabilities:    caps,
			Rlimits:         rlimits(c.Process.Rlimits),
			NoNewPrivileges: c.Process.NoNewPrivileges,
		},
		Root:     &specs.Root{Path: RootfsDir, Readonly: true},
		Hostname: c.Hostname,
		Mounts:   copyMounts(c.Mounts),
		Linux: &specs.Linux{
			Resources:     resources(c.Resources),
			Namespaces:    namespaces(c.HostNetwork),
			MaskedPaths:   guard.DefaultMaskedPaths(),
			ReadonlyPaths: guard.DefaultReadonlyPaths(),
		},
		Annotations: annotations,
	}
	if c.Rootless != nil {
		w, err := MakeRootless(spec, *c.Rootless)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
	}
	if len(c.ExtraConfig) > 0 {
		var err error
		if spec, err = MergeConfig(spec, c.ExtraConfig); err != nil {
			return nil, nil, err
		}
		if spec.Process == nil {
			return nil, nil, errors.New("extraConfig: process is missing: the container needs a process (extraConfig may change it, not remove it)")
		}
	}
	arch := c.SeccompArch
	if arch == "" {
		arch = c.Arch
	}
	w, err := applySeccomp(spec, c.Seccomp, arch)
	if err != nil {
		return nil, nil, err
	}
	warnings = append(warnings, w...)
	return spec, warnings, nil
}

// Config is the runtime configuration of the container of opts alone, with
// no closure graph (container.New(nil, opts, nil)): no closure, no store
// directory and no default PATH.
func Config(opts container.Options) (*specs.Spec, []string, error) {
	c, err := container.New(nil, opts, nil)
	if err != nil {
		return nil, nil, err
	}
	return ToSpec(c)
}

// MarshalConfig renders a configuration as config.json's bytes: indented,
// with a final newline, the same bytes for the same spec.
func MarshalConfig(spec *specs.Spec) ([]byte, error) {
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("encode config.json: %w", err)
	}
	return append(data, '\n'), nil
}

// applySeccomp gives the configuration its system call filter, adjusted to
// its final capabilities (after extraConfig): Docker's default profile, the
// user's, or none. A filter that extraConfig sets is kept as it is. A
// default profile the arch has none for is a warning.
func applySeccomp(spec *specs.Spec, opt *container.Seccomp, arch string) ([]string, error) {
	if spec.Linux == nil {
		return nil, nil
	}
	if spec.Linux.Seccomp != nil {
		if opt != nil {
			return nil, errors.New("seccomp: extraConfig sets linux.seccomp too: give one of them")
		}
		return nil, nil
	}
	switch {
	case opt != nil && opt.Profile != nil:
		sc, err := seccomp.Load(opt.Profile, spec, arch)
		if err != nil {
			return nil, fmt.Errorf("seccomp: %w", err)
		}
		spec.Linux.Seccomp = sc
	case opt != nil && opt.Name == container.SeccompUnconfined:
	default:
		sc, err := seccomp.Default(spec, arch)
		if err != nil {
			return []string{fmt.Sprintf("no seccomp filter: %v", err)}, nil
		}
		spec.Linux.Seccomp = sc
	}
	return nil, nil
}

// defaultCapabilities are `runc spec`'s.
func defaultCapabilities() *specs.LinuxCapabilities {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.LinuxCapabilities{
		Bounding:  append([]string(nil), caps...),
		Effective: append([]string(nil), caps...),
		Permitted: append([]string(nil), caps...),
	}
}

func copyCapabilities(c *specs.LinuxCapabilities) *specs.LinuxCapabilities {
	dup := func(s []string) []string { return append([]string(nil), s...) }
	return &specs.LinuxCapabilities{
		Bounding: dup(c.Bounding), Effective: dup(c.Effective), Inheritable: dup(c.Inheritable),
		Permitted: dup(c.Permitted), Ambient: dup(c.Ambient),
	}
}

// rlimits are the chosen limits over `runc spec`'s RLIMIT_NOFILE of 1024,
// sorted by type.
func rlimits(chosen []specs.POSIXRlimit) []specs.POSIXRlimit {
	byType := map[string]specs.POSIXRlimit{"RLIMIT_NOFILE": {Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024}}
	for _, l := range chosen {
		byType[l.Type] = l
	}
	out := make([]specs.POSIXRlimit, 0, len(byType))
	for _, l := range byType {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// resources adds the container's limits to `runc spec`'s deny-all device
// rule (the runtime still provides the standard devices).
func resources(r *specs.LinuxResources) *specs.LinuxResources {
	out := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	if r != nil {
		out.Memory, out.CPU, out.Pids = r.Memory, r.CPU, r.Pids
	}
	return out
}

// namespaces are `runc spec`'s, without the network namespace for the
// host's network.
func namespaces(hostNetwork bool) []specs.LinuxNamespace {
	out := []specs.LinuxNamespace{{Type: specs.PIDNamespace}}
	if !hostNetwork {
		out = append(out, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	return append(out,
		specs.LinuxNamespace{Type: specs.MountNamespace},
		specs.LinuxNamespace{Type: specs.IPCNamespace},
		specs.LinuxNamespace{Type: specs.UTSNamespace},
	)
}

// copyMounts copies mounts so that changing the configuration (MakeRootless
// rewrites options) leaves the container as it was.
func copyMounts(mounts []specs.Mount) []specs.Mount {
	out := make([]specs.Mount, len(mounts))
	for i, m := range mounts {
		m.Options = append([]string(nil), m.Options...)
		if len(m.Options) == 0 {
			m.Options = nil
		}
		out[i] = m
	}
	return out
}
