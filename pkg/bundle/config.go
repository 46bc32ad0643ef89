package bundle

import (
	"errors"
	"fmt"
	"path"
	"runtime"
	"sort"
	"strings"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RootfsDir is the bundle's root filesystem directory, relative to the bundle.
const RootfsDir = "rootfs"

// Annotations recording the platform, as image-spec's conversion writes them.
const (
	AnnotationOS   = "org.opencontainers.image.os"
	AnnotationArch = "org.opencontainers.image.architecture"
)

// systemMounts are the mounts every container gets, those of `runc spec`
// (and nixpkgs' buildContainer, whose /dev/pts mode=755 is runc's 0620 here).
func systemMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

// Config builds the runtime configuration for opts. It checks the options
// and fails on the first problem, naming it.
func Config(opts Options) (*specs.Spec, error) {
	if len(opts.Args) == 0 {
		return nil, errors.New("args is empty: the container needs a program to run")
	}
	if opts.Args[0] == "" {
		return nil, errors.New("args[0] is empty: the container needs a program to run")
	}
	for i, a := range opts.Args {
		if err := checkString(fmt.Sprintf("args[%d]", i), a); err != nil {
			return nil, err
		}
	}
	osName, arch, err := Platform(opts.OS, opts.Arch)
	if err != nil {
		return nil, err
	}
	mounts, err := mergeMounts(systemMounts(), opts.Mounts)
	if err != nil {
		return nil, err
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: append([]string(nil), opts.Args...),
			Cwd:  "/",
			User: specs.User{UID: 0, GID: 0},
		},
		Root:   &specs.Root{Path: RootfsDir, Readonly: opts.Readonly},
		Mounts: mounts,
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
			},
		},
		Annotations: map[string]string{AnnotationOS: osName, AnnotationArch: arch},
	}
	return spec, nil
}

// Platform maps the os and arch options to GOOS/GOARCH values. Nix's system
// names are accepted for compatibility with nixpkgs, whose default arch is
// "x86_64". Only Linux bundles can be written.
func Platform(osName, arch string) (string, string, error) {
	switch osName {
	case "", "linux":
		osName = "linux"
	default:
		return "", "", fmt.Errorf("os %q is not supported: oci-builder writes Linux bundles", osName)
	}
	if arch == "" {
		return osName, runtime.GOARCH, nil
	}
	switch arch {
	case "amd64", "x86_64":
		arch = "amd64"
	case "arm64", "aarch64":
		arch = "arm64"
	case "386", "i386", "i486", "i586", "i686":
		arch = "386"
	case "arm", "armv5tel", "armv6l", "armv7l", "armv7a":
		arch = "arm"
	case "riscv64":
	case "ppc64le", "powerpc64le":
		arch = "ppc64le"
	case "ppc64", "powerpc64":
		arch = "ppc64"
	case "s390x":
	case "mips64le", "mips64el":
		arch = "mips64le"
	case "loong64", "loongarch64":
		arch = "loong64"
	default:
		return "", "", fmt.Errorf("arch %q is not a known architecture (use a GOARCH value such as amd64 or arm64)", arch)
	}
	return osName, arch, nil
}

// checkString refuses what config.json cannot carry faithfully: bytes that
// are not UTF-8, which JSON encoding would replace, and NUL bytes, which no
// path, mount option or argument passed to the kernel can hold.
func checkString(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s %q contains a NUL byte", what, s)
	}
	return nil
}

// CheckDestination checks a mount destination: absolute, without "." or
// ".." components, not the root itself, valid UTF-8 without NUL bytes. It
// returns the cleaned path.
func CheckDestination(dest string) (string, error) {
	if err := checkString("mount destination", dest); err != nil {
		return "", err
	}
	if !strings.HasPrefix(dest, "/") {
		return "", fmt.Errorf("mount destination %q is not an absolute path", dest)
	}
	for _, part := range strings.Split(dest, "/") {
		if part == ".." || part == "." {
			return "", fmt.Errorf("mount destination %q contains %q", dest, part)
		}
	}
	clean := path.Clean(dest)
	if clean == "/" {
		return "", fmt.Errorf("mount destination %q is the root directory", dest)
	}
	return clean, nil
}

func isBind(m Mount) bool {
	if m.Type == "" || m.Type == "none" || m.Type == "bind" || m.Type == "rbind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// specMount checks a user mount and gives its runtime-spec form.
func specMount(m Mount) (specs.Mount, error) {
	dest, err := CheckDestination(m.Destination)
	if err != nil {
		return specs.Mount{}, err
	}
	if err := checkString("mount "+dest+": type", m.Type); err != nil {
		return specs.Mount{}, err
	}
	if err := checkString("mount "+dest+": source", m.Source); err != nil {
		return specs.Mount{}, err
	}
	for _, o := range m.Options {
		if o == "" || strings.Contains(o, ",") {
			return specs.Mount{}, fmt.Errorf("mount %s: option %q is not a single mount option", dest, o)
		}
		if err := checkString("mount "+dest+": option", o); err != nil {
			return specs.Mount{}, err
		}
	}
	out := specs.Mount{Destination: dest, Type: m.Type, Source: m.Source}
	if isBind(m) {
		if m.Source == "" {
			return specs.Mount{}, fmt.Errorf("mount %s: a bind mount needs a source", dest)
		}
		if out.Type == "" {
			out.Type = "none"
		}
		opts := m.Options
		if opts == nil {
			opts = []string{"rbind", "nosuid", "nodev"}
		}
		hasBind := false
		for _, o := range opts {
			hasBind = hasBind || o == "bind" || o == "rbind"
		}
		if !hasBind {
			opts = append([]string{"rbind"}, opts...)
		}
		out.Options = append([]string(nil), opts...)
		return out, nil
	}
	if out.Source == "" {
		out.Source = m.Type
	}
	out.Options = append([]string(nil), m.Options...)
	if len(out.Options) == 0 {
		out.Options = nil
	}
	return out, nil
}

// mergeMounts appends the user mounts, sorted by destination so that a
// parent is mounted before what is mounted inside it, to the system mounts;
// a user mount replaces a system mount with the same destination in place.
func mergeMounts(system []specs.Mount, user []Mount) ([]specs.Mount, error) {
	converted := make([]specs.Mount, 0, len(user))
	seen := map[string]bool{}
	for _, m := range user {
		sm, err := specMount(m)
		if err != nil {
			return nil, err
		}
		if seen[sm.Destination] {
			return nil, fmt.Errorf("mount destination %s is given twice", sm.Destination)
		}
		seen[sm.Destination] = true
		converted = append(converted, sm)
	}
	sort.SliceStable(converted, func(i, j int) bool { return converted[i].Destination < converted[j].Destination })
	out := make([]specs.Mount, 0, len(system)+len(converted))
	replaced := map[string]bool{}
	for _, s := range system {
		for _, u := range converted {
			if u.Destination == s.Destination {
				s = u
				replaced[u.Destination] = true
			}
		}
		out = append(out, s)
	}
	for _, u := range converted {
		if !replaced[u.Destination] {
			out = append(out, u)
		}
	}
	return out, nil
}
