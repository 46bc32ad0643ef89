package bundle

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/seccomp"
)

// RootfsDir is the bundle's root filesystem directory, relative to the bundle.
const RootfsDir = "rootfs"

// Annotations recording the platform, as image-spec's conversion writes them.
const (
	AnnotationOS   = "org.opencontainers.image.os"
	AnnotationArch = "org.opencontainers.image.architecture"
)

// DefaultHostname is the container's host name unless set.
const DefaultHostname = "container"

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

// File is a file the rootfs gets besides the closure.
type File struct {
	Path string
	Data []byte
}

// Symlink is a symlink the rootfs gets.
type Symlink struct {
	Path, Target string
}

// Container is a runtime configuration and what the rootfs needs for it
// besides the closure.
type Container struct {
	Spec *specs.Spec
	// Identity is who the process runs as.
	Identity Identity
	// Files are /etc/passwd, /etc/group and /etc/nsswitch.conf.
	Files []File
	// Dirs are directories to create: home directories, the working
	// directory.
	Dirs []string
	// Symlinks is /tmp when the container has a writable /tmp.
	Symlinks []Symlink
	// FileMounts are the mount destinations that are files.
	FileMounts map[string]bool
	// Warnings report settings that were dropped.
	Warnings []string
}

// Config builds the runtime configuration for opts without a default PATH.
// It fails on the first problem, naming it.
func Config(opts Options) (*specs.Spec, error) {
	c, err := Configure(opts, "")
	if err != nil {
		return nil, err
	}
	return c.Spec, nil
}

// Configure builds the container for opts. defaultPath is PATH unless the
// options set it (empty: no PATH).
func Configure(opts Options, defaultPath string) (*Container, error) {
	return configure(opts, defaultPath, "")
}

// configure is Configure for a closure in storeDir ("" when unknown), where
// the process user's home gets no tmpfs.
func configure(opts Options, defaultPath, storeDir string) (*Container, error) {
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
	acct, id, err := resolveAccounts(opts)
	if err != nil {
		return nil, err
	}
	c := &Container{Identity: id, FileMounts: map[string]bool{}}

	cwd := "/"
	if opts.WorkingDir != "" {
		if cwd, err = cleanAbs("workingDir", opts.WorkingDir); err != nil {
			return nil, err
		}
	}
	hostname := DefaultHostname
	if opts.Hostname != "" {
		if !validHostname(opts.Hostname) {
			return nil, fmt.Errorf("hostname %q is not a valid host name", opts.Hostname)
		}
		hostname = opts.Hostname
	}
	env, err := environment(opts, defaultPath, id)
	if err != nil {
		return nil, err
	}
	caps := defaultCapabilities()
	if opts.Capabilities != nil {
		if caps, err = normalizeCapabilities(opts.Capabilities); err != nil {
			return nil, err
		}
	}
	limits, err := rlimits(opts.Rlimits)
	if err != nil {
		return nil, err
	}
	noNewPrivs := true
	if opts.NoNewPrivileges != nil {
		noNewPrivs = *opts.NoNewPrivileges
	}

	hostNetwork := false
	switch opts.Network {
	case "", "private":
	case "host":
		hostNetwork = true
	default:
		return nil, fmt.Errorf("network %q is not \"private\" or \"host\"", opts.Network)
	}

	userMounts := make(map[string]bool)
	for _, m := range opts.Mounts {
		if dest, err := CheckDestination(m.Destination); err == nil {
			userMounts[dest] = true
		}
	}
	system := systemMounts()
	var writable []writableDir
	if opts.Tmp == nil || *opts.Tmp {
		writable = writableDirs(id, storeDir, userMounts)
	}
	for _, w := range writable {
		if w.mount != nil {
			system = append(system, *w.mount)
		}
		c.Symlinks = append(c.Symlinks, Symlink{Path: w.path, Target: w.target})
	}
	if _, dir, ok := throughSymlink(cwd, writable); ok {
		return nil, fmt.Errorf("workingDir %s is inside %s, an empty tmpfs when the container starts: use %s itself or a directory outside it", cwd, dir, dir)
	}
	// User mounts inside a writable directory go into its tmpfs, through
	// the symlink, where the runtime makes their mountpoints.
	userList := make([]Mount, len(opts.Mounts))
	for i, m := range opts.Mounts {
		if dest, err := CheckDestination(m.Destination); err == nil {
			if via, _, ok := throughSymlink(dest, writable); ok {
				m.Destination = via
			}
			if m.IsFile {
				c.FileMounts[m.Destination] = true
			}
		}
		userList[i] = m
	}
	if hostNetwork {
		for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
			if !userMounts[f] {
				system = append(system, specs.Mount{Destination: f, Type: "none", Source: f, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
				c.FileMounts[f] = true
			}
		}
	}
	mounts, err := mergeMounts(system, userList, storeDir)
	if err != nil {
		return nil, err
	}

	namespaces := []specs.LinuxNamespace{{Type: specs.PIDNamespace}}
	if !hostNetwork {
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	namespaces = append(namespaces,
		specs.LinuxNamespace{Type: specs.MountNamespace},
		specs.LinuxNamespace{Type: specs.IPCNamespace},
		specs.LinuxNamespace{Type: specs.UTSNamespace},
	)
	resources, err := linuxResources(opts.Resources)
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{AnnotationOS: osName, AnnotationArch: arch}
	for k, v := range opts.Annotations {
		if k == "" {
			return nil, errors.New("annotations: empty key")
		}
		if err := checkString("annotation key", k); err != nil {
			return nil, err
		}
		if err := checkString("annotations."+k, v); err != nil {
			return nil, err
		}
		annotations[k] = v
	}

	c.Spec = &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal:        opts.Terminal,
			Args:            append([]string(nil), opts.Args...),
			Env:             env,
			Cwd:             cwd,
			User:            specs.User{UID: id.UID, GID: id.GID, AdditionalGids: id.AdditionalGids},
			Capabilities:    caps,
			Rlimits:         limits,
			NoNewPrivileges: noNewPrivs,
		},
		Root:     &specs.Root{Path: RootfsDir, Readonly: true},
		Hostname: hostname,
		Mounts:   mounts,
		Linux: &specs.Linux{
			Resources:     resources,
			Namespaces:    namespaces,
			MaskedPaths:   maskedPaths(),
			ReadonlyPaths: readonlyPaths(),
		},
		Annotations: annotations,
	}
	if opts.Readonly != nil && !*opts.Readonly {
		c.Warnings = append(c.Warnings, "readonly = false: the root filesystem stays read-only, so that no container can write into the store; /tmp, /var/tmp, /run and the home directory are writable tmpfs mounts, and `oci-builder writable BUNDLE DIR` makes a copy with a writable root outside the store")
	}
	if opts.Rootless != nil {
		w, err := MakeRootless(c.Spec, *opts.Rootless)
		if err != nil {
			return nil, err
		}
		c.Warnings = append(c.Warnings, w...)
	}
	if len(opts.ExtraConfig) > 0 {
		if c.Spec, err = MergeConfig(c.Spec, opts.ExtraConfig); err != nil {
			return nil, err
		}
		if c.Spec.Process == nil {
			return nil, errors.New("extraConfig: process is missing: the container needs a process (extraConfig may change it, not remove it)")
		}
		if c.Spec.Root != nil && !c.Spec.Root.Readonly {
			c.Warnings = append(c.Warnings, "extraConfig sets root.readonly to false: the container can write into this bundle's rootfs, in the Nix store when Nix builds it")
		}
	}
	if err := applySeccomp(c, opts.Seccomp, arch); err != nil {
		return nil, err
	}
	if caps := c.Spec.Process; caps != nil && caps.Capabilities != nil {
		for _, name := range caps.Capabilities.Bounding {
			if name == "CAP_SYS_ADMIN" {
				c.Warnings = append(c.Warnings, "capabilities include CAP_SYS_ADMIN: the container can remount its root filesystem writable and write into this bundle's rootfs")
			}
		}
	}

	c.Files = []File{
		{Path: "/etc/passwd", Data: acct.passwd()},
		{Path: "/etc/group", Data: acct.group()},
		{Path: "/etc/nsswitch.conf", Data: []byte("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n")},
	}
	c.Dirs = acct.homes()
	if cwd != "/" {
		c.Dirs = append(c.Dirs, cwd)
	}
	sort.Strings(c.Dirs)
	return c, nil
}

// applySeccomp gives the container its system call filter, adjusted to
// its final capabilities (after extraConfig): Docker's default profile, the
// user's, or none. A filter that extraConfig sets is kept as it is.
func applySeccomp(c *Container, opt *Seccomp, arch string) error {
	if c.Spec.Linux == nil {
		return nil
	}
	if c.Spec.Linux.Seccomp != nil {
		if opt != nil {
			return errors.New("seccomp: extraConfig sets linux.seccomp too: give one of them")
		}
		return nil
	}
	switch {
	case opt != nil && opt.Profile != nil:
		sc, err := seccomp.Load(opt.Profile, c.Spec, arch)
		if err != nil {
			return fmt.Errorf("seccomp: %w", err)
		}
		c.Spec.Linux.Seccomp = sc
	case opt != nil && opt.Name == SeccompUnconfined:
	default:
		sc, err := seccomp.Default(c.Spec, arch)
		if err != nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("no seccomp filter: %v", err))
			return nil
		}
		c.Spec.Linux.Seccomp = sc
	}
	return nil
}

// environment is the process's environment, sorted: the user's variables
// over the defaults PATH, HOME and (with a terminal) TERM.
func environment(opts Options, defaultPath string, id Identity) ([]string, error) {
	vars := map[string]string{"HOME": id.Home}
	if defaultPath != "" {
		vars["PATH"] = defaultPath
	}
	if opts.Terminal {
		vars["TERM"] = "xterm"
	}
	for k, v := range opts.Env {
		if !validEnvName(k) {
			return nil, fmt.Errorf("env: %q is not a valid variable name (it must be non-empty, without '=' or control characters such as a newline)", k)
		}
		if err := checkString("env."+k, v); err != nil {
			return nil, err
		}
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for _, k := range sortedKeys(vars) {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

// validEnvName accepts what a process can read back as one variable: a
// non-empty name without '=' or control characters, valid UTF-8.
func validEnvName(k string) bool {
	if k == "" || !utf8.ValidString(k) {
		return false
	}
	for _, r := range k {
		if r == '=' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func validHostname(h string) bool {
	return len(h) <= 64 && regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`).MatchString(h)
}

// linuxResources adds the user's limits to `runc spec`'s deny-all device
// rule (the runtime still provides the standard devices).
func linuxResources(r *Resources) (*specs.LinuxResources, error) {
	out := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	if r == nil {
		return out, nil
	}
	if r.Memory != nil {
		limit := int64(*r.Memory)
		out.Memory = &specs.LinuxMemory{Limit: &limit}
	}
	if r.CPU != nil {
		if *r.CPU <= 0 || *r.CPU > 1<<20 {
			return nil, fmt.Errorf("resources.cpu %v is not a positive number of CPUs", *r.CPU)
		}
		period := uint64(100000)
		quota := int64(*r.CPU*float64(period) + 0.5)
		if quota < 1000 {
			return nil, fmt.Errorf("resources.cpu %v is below 0.01 CPU", *r.CPU)
		}
		out.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if r.Pids != nil {
		if *r.Pids <= 0 {
			return nil, fmt.Errorf("resources.pids %d is not positive", *r.Pids)
		}
		out.Pids = &specs.LinuxPids{Limit: r.Pids}
	}
	return out, nil
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

// cleanAbs checks an absolute path option (valid UTF-8 without NUL bytes,
// without "." or ".." components) and returns it cleaned.
func cleanAbs(what, p string) (string, error) {
	if err := checkString(what, p); err != nil {
		return "", err
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%s %q is not an absolute path", what, p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." {
			return "", fmt.Errorf("%s %q contains %q", what, p, part)
		}
	}
	return path.Clean(p), nil
}

// CheckDestination checks a mount destination: absolute, without "." or
// ".." components, not the root itself, valid UTF-8 without NUL bytes. It
// returns the cleaned path.
func CheckDestination(dest string) (string, error) {
	clean, err := cleanAbs("mount destination", dest)
	if err != nil {
		return "", err
	}
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

// specMount checks a user mount and gives its runtime-spec form. With a
// storeDir, a destination inside it is refused (it would add to or change
// the container's store) and a bind mount of a store path is read-only.
func specMount(m Mount, storeDir string) (specs.Mount, error) {
	dest, err := CheckDestination(m.Destination)
	if err != nil {
		return specs.Mount{}, err
	}
	if storeDir != "" && within(dest, storeDir) {
		return specs.Mount{}, fmt.Errorf("mount destination %s is inside the store directory %s, which holds only the closure: mount it elsewhere", dest, storeDir)
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
		if storeDir != "" && within(path.Clean(m.Source), storeDir) {
			ro := false
			for _, o := range opts {
				if o == "rw" {
					return specs.Mount{}, fmt.Errorf("mount %s: source %s is in the store, which is never mounted writable: drop the \"rw\" option", dest, m.Source)
				}
				ro = ro || o == "ro"
			}
			if !ro {
				out.Options = append(out.Options, "ro")
			}
		}
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

// mergeMounts appends the user mounts (see specMount for storeDir), sorted by destination so that a
// parent is mounted before what is mounted inside it, to the system mounts;
// a user mount replaces a system mount with the same destination in place.
func mergeMounts(system []specs.Mount, user []Mount, storeDir string) ([]specs.Mount, error) {
	converted := make([]specs.Mount, 0, len(user))
	seen := map[string]bool{}
	for _, m := range user {
		sm, err := specMount(m, storeDir)
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
