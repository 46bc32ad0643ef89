// Package guard keeps a runtime configuration from letting its container
// change the Nix store: Harden makes every read-only mount recursively
// read-only and, for the writable mounts whose source the build cannot
// judge, adds the start check (a createRuntime hook that refuses to start
// the container when such a source reaches the store on the machine that
// runs it); Weakenings lists what remains that lets the container past the
// protections a bundle has by default, each one line, with the store modes
// that refuse it. The build warns of each weakening (package bundle) and
// `oci-builder validate` reports them.
//
// It does no I/O.
package guard

import (
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
)

// CheckCommand is the subcommand of oci-builder that the start check's hook
// runs: `oci-builder check-mounts --store-dir DIR -- SOURCE...`.
const CheckCommand = "check-mounts"

// The store modes a weakening can be refused in (package bundle's names).
const (
	// Hardlink: the rootfs's files are the host store's own inodes.
	Hardlink = "hardlink"
	// Bind: the container's store paths are the host store's, mounted.
	Bind = "bind"
)

// DefaultMaskedPaths are `runc spec`'s masked paths.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
	}
}

// DefaultReadonlyPaths are `runc spec`'s read-only paths.
func DefaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// Weakening is a setting that lets the container past the protections a
// bundle has by default.
type Weakening struct {
	// Msg says what it is and what it lets the container do, one line
	// naming the configuration field.
	Msg string
	// RefusedIn are the store modes that refuse it (Hardlink, Bind): those
	// where it would let the container change the host's store itself.
	RefusedIn []string
}

// Refused reports whether the store mode refuses w.
func (w Weakening) Refused(mode string) bool { return slices.Contains(w.RefusedIn, mode) }

// Harden changes spec so that no mount leaves a store path writable, for
// the store directory storeDir:
//
//   - a read-only bind mount becomes recursively read-only ("rro"), so that
//     what is mounted below its source on the host (/nix, /proc under /)
//     is read-only too;
//   - the host paths of writable mounts that cannot be judged at build
//     time (container.ReachUnknown: an absolute path that may be a symlink
//     into the store where the container runs; a block device) are checked
//     when the container starts: with checker, the path of an oci-builder
//     executable for the bundle's platform, a createRuntime hook runs
//     `checker check-mounts` on them, which fails (and runc then does not
//     start the container) when one of them is, holds or lies in the store
//     or the bundle. Without a checker (the bundle is for another
//     platform), such a bind mount becomes read-only unless its options
//     say "rw" (a weakening, which Weakenings reports), and it returns a
//     warning for each.
//
// Mounts whose source reaches the store (container.ReachStore) and are
// writable are left as they are: Weakenings reports them.
func Harden(spec *specs.Spec, storeDir, checker string) []string {
	var warnings, check []string
	for i := range spec.Mounts {
		m := &spec.Mounts[i]
		bind := isBind(*m)
		if bind && readOnly(*m) {
			m.Options = container.RecursiveReadOnly(m.Options)
			continue
		}
		reach, _, _ := container.MountReach(bind, m.Type, m.Source, m.Options, storeDir)
		if reach != container.ReachUnknown || readOnly(*m) {
			continue
		}
		switch {
		case checker != "":
			for _, p := range container.HostPaths(bind, m.Type, m.Source, m.Options) {
				if !slices.Contains(check, p) {
					check = append(check, p)
				}
			}
		case bind && !hasOption(*m, "rw") && !hasOption(*m, "rrw"):
			m.Options = container.RecursiveReadOnly(append(m.Options, "ro"))
			warnings = append(warnings, fmt.Sprintf("mount %s is read-only: nothing can check when the container starts that its source %s does not lead into the store (the bundle is for another platform than this oci-builder); give it the \"rw\" option to make it writable (which warns)", m.Destination, m.Source))
		}
	}
	if len(check) > 0 {
		if spec.Hooks == nil {
			spec.Hooks = &specs.Hooks{}
		}
		args := append([]string{"oci-builder", CheckCommand, "--store-dir", storeDir, "--"}, check...)
		spec.Hooks.CreateRuntime = append(spec.Hooks.CreateRuntime, specs.Hook{Path: checker, Args: args})
	}
	return warnings
}

// IsStartCheck reports whether h is the start check Harden adds.
func IsStartCheck(h specs.Hook) bool {
	return path.Base(h.Path) == "oci-builder" && len(h.Args) >= 5 && h.Args[1] == CheckCommand && h.Args[2] == "--store-dir"
}

// checked lists the sources the start checks of spec cover.
func checked(spec *specs.Spec) []string {
	var out []string
	if spec.Hooks == nil {
		return nil
	}
	for _, h := range spec.Hooks.CreateRuntime {
		if IsStartCheck(h) {
			if i := slices.Index(h.Args, "--"); i >= 0 {
				out = append(out, h.Args[i+1:]...)
			}
		}
	}
	return out
}

// Weakenings lists the weakenings of spec for the store directory
// storeDir, in the order of the configuration's fields:
//
//   - a writable root filesystem (refused in hardlink mode, whose rootfs
//     files are the store's);
//   - CAP_SYS_ADMIN (it remounts any mount writable) and CAP_SYS_MODULE (it
//     loads code into the kernel), refused in hardlink and bind mode;
//   - CAP_DAC_READ_SEARCH with a writable mount of a host path:
//     open_by_handle_at opens any file of that mount's filesystem for
//     writing, the store's files when it is the store's filesystem
//     (refused in hardlink and bind mode);
//   - hooks other than the start check: programs run on the host, as the
//     user who runs runc, when the container starts or stops;
//   - a writable mount whose source reaches the store, a bind mount that
//     is read-only but not recursively, a filesystem mount of a host path
//     (a block device: the store's filesystem if it is its device), a
//     writable bind mount of a host path that no start check covers;
//   - runc spec's masked or read-only paths left out (/proc/sys writable
//     lets root in the container run a program as root on the host);
//   - host devices given to the container (linux.devices) or allowed by
//     its device cgroup (linux.resources.devices): the store's disk, the
//     host's memory;
//   - no pid namespace of its own (none, or one joined by path, which may
//     be the host's): the container sees the host's processes and, as
//     root, signals them (the nix-daemon among them).
func Weakenings(spec *specs.Spec, storeDir string) []Weakening {
	var out []Weakening
	add := func(refused []string, format string, args ...any) {
		out = append(out, Weakening{Msg: fmt.Sprintf(format, args...), RefusedIn: refused})
	}
	if spec.Root != nil && !spec.Root.Readonly {
		add([]string{Hardlink}, "root.readonly is false: the container can write into the bundle's rootfs (in the store when Nix builds it; in hardlink mode, the store's own files)")
	}
	covered := checked(spec)
	var writable []string // the destinations of writable mounts of host paths
	for i, m := range spec.Mounts {
		where := fmt.Sprintf("mounts[%d] (%s)", i, m.Destination)
		bind := isBind(m)
		paths := container.HostPaths(bind, m.Type, m.Source, m.Options)
		reach, culprit, why := container.MountReach(bind, m.Type, m.Source, m.Options, storeDir)
		ro := readOnly(m)
		if len(paths) > 0 && !ro {
			writable = append(writable, m.Destination)
		}
		switch {
		case reach == container.ReachNone:
		case !bind && reach == container.ReachStore:
			add(nil, "%s: a filesystem (type %s) from the host's %s, which may reach the store (%s): the container can change store paths", where, m.Type, culprit, why)
		case !bind:
			add(nil, "%s: a filesystem (type %s) from the host's %s: if it is the store's device or leads into the store, the container can %s the store's files", where, m.Type, strings.Join(paths, ", "), map[bool]string{true: "read", false: "change"}[ro])
		case reach == container.ReachStore && !ro:
			add(nil, "%s: source %s may reach the store (%s) and is mounted writable: the container can change store paths", where, m.Source, why)
		case ro && !hasOption(m, "rro"):
			add(nil, "%s: read-only but not recursively (no \"rro\" option): what is mounted below %s on the host (/proc under /, a separate /nix) stays writable", where, m.Source)
		case reach == container.ReachUnknown && !ro && !slices.Contains(covered, m.Source):
			add(nil, "%s: source %s is mounted writable and nothing checks when the container starts that it does not lead into the store (a symlink on that host)", where, m.Source)
		}
	}
	caps := capabilities(spec)
	if caps["CAP_SYS_ADMIN"] {
		add([]string{Hardlink, Bind}, "process.capabilities has CAP_SYS_ADMIN: the container can remount its root filesystem and the store's mounts writable (mount -o remount,bind,rw)")
	}
	if caps["CAP_SYS_MODULE"] {
		add([]string{Hardlink, Bind}, "process.capabilities has CAP_SYS_MODULE: the container can load code into the host's kernel")
	}
	if caps["CAP_DAC_READ_SEARCH"] && len(writable) > 0 {
		add([]string{Hardlink, Bind}, "process.capabilities has CAP_DAC_READ_SEARCH with the writable mount %s: open_by_handle_at opens any file of its filesystem for writing, the store's files if it is the store's filesystem", strings.Join(writable, ", "))
	}
	if spec.Hooks != nil {
		for _, set := range []struct {
			name  string
			hooks []specs.Hook
		}{
			//lint:ignore SA1019 runc 1.1 still runs prestart hooks: they are reported too
			{"prestart", spec.Hooks.Prestart}, {"createRuntime", spec.Hooks.CreateRuntime},
			{"createContainer", spec.Hooks.CreateContainer}, {"startContainer", spec.Hooks.StartContainer},
			{"poststart", spec.Hooks.Poststart}, {"poststop", spec.Hooks.Poststop},
		} {
			for i, h := range set.hooks {
				if set.name == "createRuntime" && IsStartCheck(h) {
					continue
				}
				add(nil, "hooks.%s[%d] runs %s on the host, as the user who runs runc (root), outside every protection of the container", set.name, i, h.Path)
			}
		}
	}
	var masked, readonly []string
	if spec.Linux != nil {
		masked, readonly = spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths
	}
	if missing := lacking(DefaultReadonlyPaths(), readonly); len(missing) > 0 {
		add(nil, "linux.readonlyPaths lacks %s: root in the container can write there (/proc/sys/kernel/core_pattern runs a program as root on the host)", strings.Join(missing, ", "))
	}
	if missing := lacking(DefaultMaskedPaths(), masked); len(missing) > 0 {
		add(nil, "linux.maskedPaths lacks %s: the container can read them (kernel memory, keys, timers of the host)", strings.Join(missing, ", "))
	}
	if spec.Linux != nil {
		for i, d := range spec.Linux.Devices {
			add(nil, "linux.devices[%d] makes the host's device %s %d:%d at %s: a block device may be the store's disk, a character device the host's memory (/dev/mem)", i, d.Type, d.Major, d.Minor, d.Path)
		}
		if r := spec.Linux.Resources; r != nil {
			for i, d := range r.Devices {
				if d.Allow {
					add(nil, "linux.resources.devices[%d] allows %q access to %s: a block device may be the store's disk, a character device the host's memory (/dev/mem)", i, d.Access, deviceRule(d))
				}
			}
		}
	}
	if msg := pidNamespace(spec); msg != "" {
		add(nil, "%s: the container sees the host's processes and, as root, can signal them (the nix-daemon among them)", msg)
	}
	return out
}

// pidNamespace says how spec's process lacks a pid namespace of its own
// ("linux.namespaces has no pid namespace", "... joins the pid namespace
// at P"), or "" when it has one.
func pidNamespace(spec *specs.Spec) string {
	if spec.Linux == nil {
		return "linux.namespaces has no pid namespace"
	}
	for i, ns := range spec.Linux.Namespaces {
		if ns.Type != specs.PIDNamespace {
			continue
		}
		if ns.Path != "" {
			return fmt.Sprintf("linux.namespaces[%d] joins the pid namespace at %s, which may be the host's", i, ns.Path)
		}
		return ""
	}
	return "linux.namespaces has no pid namespace"
}

// deviceRule names the devices a cgroup rule covers: "all devices", "block
// devices 254:*", "character device 1:1".
func deviceRule(d specs.LinuxDeviceCgroup) string {
	kind := map[string]string{"b": "block device", "c": "character device"}[d.Type]
	if kind == "" {
		return "all devices"
	}
	number := func(n *int64) string {
		if n == nil || *n < 0 {
			return "*"
		}
		return fmt.Sprint(*n)
	}
	major, minor := number(d.Major), number(d.Minor)
	if major == "*" || minor == "*" {
		kind += "s"
	}
	return kind + " " + major + ":" + minor
}

// lacking lists the paths of want that have is lacks.
func lacking(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

// capabilities are the capabilities of every set of the process.
func capabilities(spec *specs.Spec) map[string]bool {
	out := map[string]bool{}
	if spec.Process == nil || spec.Process.Capabilities == nil {
		return out
	}
	c := spec.Process.Capabilities
	for _, set := range [][]string{c.Bounding, c.Effective, c.Inheritable, c.Permitted, c.Ambient} {
		for _, n := range set {
			out[n] = true
		}
	}
	return out
}

// isBind reports whether runc 1.1 bind-mounts m: of type bind or rbind, or
// with a bind or rbind option.
func isBind(m specs.Mount) bool {
	return m.Type == "bind" || m.Type == "rbind" || hasOption(m, "bind") || hasOption(m, "rbind")
}

// readOnly reports whether m is mounted read-only: the last of its "ro",
// "rw", "rro" and "rrw" options decides, as in runc.
func readOnly(m specs.Mount) bool {
	ro := false
	for _, o := range m.Options {
		switch o {
		case "ro", "rro":
			ro = true
		case "rw", "rrw":
			ro = false
		}
	}
	return ro
}

func hasOption(m specs.Mount, option string) bool { return slices.Contains(m.Options, option) }
