// Package container computes the container that a bundle or an image
// holds from the container options (see Options, which the Nix library
// passes to the builder as JSON) and the closure graph: the process (its
// arguments, environment, working directory, user, capabilities and
// limits), the users and groups, the directories, files and symlinks the
// root filesystem needs besides the closure, the writable directories, the
// mounts, the host name, the network, the resource limits, the platform,
// and the settings that only a runtime configuration carries (rootless
// ids, seccomp, extraConfig), kept for package specconv, which turns a
// Container into a runtime-spec configuration.
//
// Everything here is pure: New reads nothing but its arguments, and asks
// the store only whether a path is a directory, through StoreFS.
package container

import (
	"encoding/json"
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

	"github.com/oci-builder/oci-builder/pkg/store"
)

// DefaultHostname is the container's host name unless set.
const DefaultHostname = "container"

// maxDefaultPath bounds the default PATH: one environment string may not
// exceed 128 KiB (MAX_ARG_STRLEN) and no one wants to search more. Past it
// the default PATH holds only the bin directories of the paths the process
// mentions.
const maxDefaultPath = 64 << 10

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

// File is a file the root filesystem gets besides the closure.
type File struct {
	Path string
	Data []byte
}

// Symlink is a symlink the root filesystem gets.
type Symlink struct {
	Path, Target string
}

// StoreFS answers the one question New asks of the store: whether a path
// is a directory (following symlinks).
type StoreFS interface {
	IsDir(path string) bool
}

// Container is what New computes: the container a bundle or an image holds.
type Container struct {
	// StoreDir is the closure graph's store directory, "" without a graph.
	StoreDir string
	// Roots are the store paths the process mentions (see Mentions), in
	// order of first mention.
	Roots []string
	// Closure is the closure of Roots and of Options.Roots, sorted by path.
	Closure []*store.PathInfo
	// Process is the program the container runs and how.
	Process Process
	// OS and Arch are the platform as GOOS and GOARCH values (see Platform).
	OS, Arch string
	// SeccompArch is the architecture of the seccomp filter, a GOARCH
	// value (Options.SeccompArch, else Arch).
	SeccompArch string
	// Hostname is the host name, DefaultHostname unless set.
	Hostname string
	// HostNetwork is network "host": the container shares the host's
	// network, and gets the host's /etc/resolv.conf and /etc/hosts, instead
	// of a network namespace of its own.
	HostNetwork bool
	// Mounts are the system mounts (those of `runc spec`), the tmpfs mounts
	// of the writable directories and, with HostNetwork, the host's files,
	// then the user's mounts sorted by destination (a user mount at a
	// system mount's destination replaces it in place).
	Mounts []specs.Mount
	// FileMounts are the mount destinations that are files.
	FileMounts map[string]bool
	// Files are /etc/passwd, /etc/group and /etc/nsswitch.conf.
	Files []File
	// Dirs are the directories to create: the users' home directories and
	// the working directory, sorted. RootfsDirs says which of them the
	// root filesystem itself holds.
	Dirs []string
	// Symlinks are the writable directories (/tmp, /var/tmp, /run and the
	// process user's home): each a symlink to a tmpfs that Mounts mounts in
	// /dev (see TmpfsDir).
	Symlinks []Symlink
	// Resources are the cgroup limits set (memory, CPU, pids), nil when
	// none is.
	Resources *specs.LinuxResources
	// Annotations are the annotations option's, checked.
	Annotations map[string]string
	// Rootless are the host ids to make a rootless configuration for, nil
	// for none.
	Rootless *RootlessIDs
	// Seccomp is the seccomp option: nil for Docker's default profile.
	Seccomp *Seccomp
	// ExtraConfig is the extraConfig option, to merge into the runtime
	// configuration.
	ExtraConfig json.RawMessage
	// Warnings report options that were dropped or limited.
	Warnings []string
}

// Process is the program a container runs and how.
type Process struct {
	Args []string
	// Env is sorted: the env option's variables over the defaults HOME,
	// PATH (the closure's bin directories) and, with a terminal, TERM.
	Env []string
	// Cwd is the working directory, "/" by default.
	Cwd string
	// User is who the process runs as.
	User Identity
	// Capabilities are the capability sets chosen, nil when the options
	// choose none (a runtime configuration then gets `runc spec`'s).
	Capabilities *specs.LinuxCapabilities
	// Rlimits are the resource limits chosen, by type, sorted.
	Rlimits         []specs.POSIXRlimit
	NoNewPrivileges bool
	Terminal        bool
}

// New computes the container for opts. The closure is that of every store
// path the process mentions (see Mentions), which must all be in g, and
// PATH defaults to the closure's bin directories that fsys shows, those of
// the mentioned paths first. With a nil g the container has no closure and
// no store directory, and with a nil fsys no default PATH. It fails on the
// first problem, naming the option.
func New(g *store.Graph, opts Options, fsys StoreFS) (*Container, error) {
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
	if err := opts.Rootless.check(); err != nil {
		return nil, err
	}
	acct, id, err := resolveAccounts(opts)
	if err != nil {
		return nil, err
	}
	seccompArch := arch
	var archWarning string
	if opts.SeccompArch != "" {
		if _, seccompArch, err = Platform(opts.OS, opts.SeccompArch); err != nil {
			return nil, fmt.Errorf("seccompArch: %w", err)
		}
		if seccompArch != arch {
			archWarning = fmt.Sprintf("arch %q is metadata (as nixpkgs'): the seccomp filter is for %s, the platform the bundle is built for", opts.Arch, seccompArch)
		}
	}
	c := &Container{
		OS: osName, Arch: arch, SeccompArch: seccompArch, FileMounts: map[string]bool{},
		Rootless: opts.Rootless, Seccomp: opts.Seccomp, ExtraConfig: opts.ExtraConfig,
	}
	if g != nil {
		c.StoreDir = g.StoreDir()
	}
	if archWarning != "" {
		c.Warnings = append(c.Warnings, archWarning)
	}

	cwd := "/"
	if opts.WorkingDir != "" {
		if cwd, err = cleanAbs("workingDir", opts.WorkingDir); err != nil {
			return nil, err
		}
	}
	c.Hostname = DefaultHostname
	if opts.Hostname != "" {
		if !validHostname(opts.Hostname) {
			return nil, fmt.Errorf("hostname %q is not a valid host name", opts.Hostname)
		}
		c.Hostname = opts.Hostname
	}
	env, err := environment(opts, id)
	if err != nil {
		return nil, err
	}
	var caps *specs.LinuxCapabilities
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

	switch opts.Network {
	case "", "private":
	case "host":
		c.HostNetwork = true
	default:
		return nil, fmt.Errorf("network %q is not \"private\" or \"host\"", opts.Network)
	}
	if c.Mounts, err = c.mounts(opts, id, cwd); err != nil {
		return nil, err
	}
	if c.Resources, err = linuxResources(opts.Resources); err != nil {
		return nil, err
	}
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
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[k] = v
	}
	if opts.Readonly != nil && !*opts.Readonly {
		c.Warnings = append(c.Warnings, "readonly = false: the root filesystem stays read-only, so that no container can write into the store; /tmp, /var/tmp, /run and the home directory are writable tmpfs mounts, and `oci-builder writable BUNDLE DIR` makes a copy with a writable root outside the store")
	}

	if g != nil {
		if c.Roots, err = roots(g, opts); err != nil {
			return nil, err
		}
		if c.Closure, err = g.Closure(append(append([]string(nil), c.Roots...), opts.Roots...)); err != nil {
			return nil, err
		}
		if _, set := env["PATH"]; !set {
			p, warning, err := defaultPath(c.Roots, c.Closure, fsys)
			if err != nil {
				return nil, err
			}
			if p != "" {
				env["PATH"] = p
			}
			if warning != "" {
				c.Warnings = append(c.Warnings, warning)
			}
		}
	}
	c.Process = Process{
		Args:            append([]string(nil), opts.Args...),
		Env:             sortedEnv(env),
		Cwd:             cwd,
		User:            id,
		Capabilities:    caps,
		Rlimits:         limits,
		NoNewPrivileges: noNewPrivs,
		Terminal:        opts.Terminal,
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

// mounts computes the container's mounts, symlinks and file mounts for a
// process running as id in cwd (see Container.Mounts).
func (c *Container) mounts(opts Options, id Identity, cwd string) ([]specs.Mount, error) {
	userMounts := make(map[string]bool)
	for _, m := range opts.Mounts {
		if dest, err := CheckDestination(m.Destination); err == nil {
			userMounts[dest] = true
		}
	}
	system := systemMounts()
	var writable []writableDir
	if opts.Tmp == nil || *opts.Tmp {
		var warnings []string
		writable, warnings = writableDirs(id, c.StoreDir, userMounts)
		c.Warnings = append(c.Warnings, warnings...)
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
	if c.HostNetwork {
		for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
			if !userMounts[f] {
				system = append(system, specs.Mount{Destination: f, Type: "none", Source: f, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
				c.FileMounts[f] = true
			}
		}
	}
	return mergeMounts(system, userList, c.StoreDir)
}

// RootfsDirs lists the directories of Dirs that the root filesystem holds
// itself when mounts (the container's, or those of the runtime
// configuration made from it) are mounted: not the root, not in the store
// directory, not at or under a mount's destination or a symlink.
func (c *Container) RootfsDirs(mounts []specs.Mount) []string {
	var out []string
	for _, d := range c.Dirs {
		if d == "/" || (c.StoreDir != "" && Within(d, c.StoreDir)) {
			continue
		}
		skip := false
		for _, m := range mounts {
			skip = skip || Within(d, m.Destination)
		}
		for _, l := range c.Symlinks {
			skip = skip || Within(d, l.Path)
		}
		if !skip {
			out = append(out, d)
		}
	}
	return out
}

// Mention is a string given to the process that may name store paths.
type Mention struct {
	// Option names where it comes from: "args[1]", "env.PATH",
	// "workingDir", "extraConfig.process.args[0]",
	// "extraConfig.process.env[2]", "extraConfig.process.cwd".
	Option string
	Value  string
}

// Mentions lists the strings of opts that may name the store paths the
// process needs, as the Nix library takes the closure's roots from them:
// the arguments, the environment's values (by name) and the working
// directory, then the arguments, environment and working directory that
// extraConfig's process sets (extraConfig can change the process). An
// extraConfig that is not a JSON object of that shape adds nothing here
// (package specconv refuses it).
func Mentions(opts Options) []Mention {
	var out []Mention
	for i, a := range opts.Args {
		out = append(out, Mention{fmt.Sprintf("args[%d]", i), a})
	}
	for _, k := range sortedKeys(opts.Env) {
		out = append(out, Mention{"env." + k, opts.Env[k]})
	}
	if opts.WorkingDir != "" {
		out = append(out, Mention{"workingDir", opts.WorkingDir})
	}
	var extra struct {
		Process map[string]json.RawMessage `json:"process"`
	}
	if json.Unmarshal(opts.ExtraConfig, &extra) != nil {
		return out
	}
	// Keys as in config.json, matched exactly.
	var args, env []string
	var cwd string
	if json.Unmarshal(extra.Process["args"], &args) == nil {
		for i, a := range args {
			out = append(out, Mention{fmt.Sprintf("extraConfig.process.args[%d]", i), a})
		}
	}
	if json.Unmarshal(extra.Process["env"], &env) == nil {
		for i, e := range env {
			out = append(out, Mention{fmt.Sprintf("extraConfig.process.env[%d]", i), e})
		}
	}
	if json.Unmarshal(extra.Process["cwd"], &cwd) == nil && cwd != "" {
		out = append(out, Mention{"extraConfig.process.cwd", cwd})
	}
	return out
}

// roots finds the store paths the process mentions in g, in order of first
// mention.
func roots(g *store.Graph, opts Options) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, m := range Mentions(opts) {
		refs, err := g.FindReferences(m.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Option, err)
		}
		for _, r := range refs {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// defaultPath is the default PATH and a warning: the bin directories of the
// closure, those of the roots first. When that would be longer than
// maxDefaultPath, only the roots' (with a warning), and when even those
// are, an error.
func defaultPath(roots []string, closure []*store.PathInfo, fsys StoreFS) (string, string, error) {
	p := binDirs(roots, closure, fsys)
	if len(p) <= maxDefaultPath {
		return p, "", nil
	}
	// A closure with thousands of bin directories: the ones of the paths
	// the process mentions are what it needs.
	full := len(p)
	p = binDirs(roots, nil, fsys)
	if len(p) > maxDefaultPath {
		return "", "", fmt.Errorf("the default PATH would be %d bytes long: set env.PATH", len(p))
	}
	return p, fmt.Sprintf("PATH holds only the bin directories of the store paths the process mentions: with every bin directory of the closure it would be %d bytes long (the bound is %d); set env.PATH to choose", full, maxDefaultPath), nil
}

// binDirs joins the bin directories of the roots, in the order they are
// mentioned, then of the closure's other paths, by path.
func binDirs(roots []string, closure []*store.PathInfo, fsys StoreFS) string {
	if fsys == nil {
		return ""
	}
	var dirs []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			if bin := p + "/bin"; fsys.IsDir(bin) {
				dirs = append(dirs, bin)
			}
		}
	}
	for _, r := range roots {
		add(r)
	}
	for _, info := range closure {
		add(info.Path)
	}
	return strings.Join(dirs, ":")
}

// environment is the process's environment but for the default PATH: the
// user's variables over the defaults HOME and (with a terminal) TERM.
func environment(opts Options, id Identity) (map[string]string, error) {
	vars := map[string]string{"HOME": id.Home}
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
	return vars, nil
}

// sortedEnv renders an environment as NAME=VALUE strings, sorted by name.
func sortedEnv(vars map[string]string) []string {
	out := make([]string, 0, len(vars))
	for _, k := range sortedKeys(vars) {
		out = append(out, k+"="+vars[k])
	}
	return out
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

// linuxResources checks the user's limits and gives them as cgroup
// settings, nil when there are none.
func linuxResources(r *Resources) (*specs.LinuxResources, error) {
	if r == nil {
		return nil, nil
	}
	out := &specs.LinuxResources{}
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
		pids := *r.Pids
		out.Pids = &specs.LinuxPids{Limit: &pids}
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

// isBind reports whether the user's mount m is a bind mount: in the
// options' model a missing type and "none" mean a bind mount (nixpkgs'
// manual writes them so); in config.json only a bind or rbind option (or
// the type bind) does, which is what validate checks.
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
	if storeDir != "" && Within(dest, storeDir) {
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
		out.Options = RecursiveReadOnly(out.Options)
		if reach, why := SourceReach(m.Source, storeDir, true); reach == ReachStore {
			for _, o := range opts {
				if o == "rw" || o == "rrw" {
					return specs.Mount{}, fmt.Errorf("mount %s: source %s may reach the store (%s), which is never mounted writable: drop the %q option", dest, m.Source, why, o)
				}
			}
			out.Options = ensureOptions(out.Options, "ro", "rro")
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
	// A filesystem mount writes through its host paths even read-only (an
	// overlay's workdir): none may reach the store.
	if reach, culprit, why := MountReach(false, out.Type, out.Source, out.Options, storeDir); reach == ReachStore {
		return specs.Mount{}, fmt.Errorf("mount %s: a filesystem (type %s) through the host path %s, which may reach the store (%s): the store is mounted only by read-only bind mounts", dest, out.Type, culprit, why)
	}
	return out, nil
}

// RecursiveReadOnly gives a bind mount that is read-only the recursive
// read-only option too ("rro", which runc 1.1 applies with mount_setattr,
// Linux 5.12 and later): "ro" alone covers the top of the mount, not what
// is mounted below its source on the host (a separate /nix under "/", or
// /proc, whose /proc/sys lets root run programs on the host).
func RecursiveReadOnly(opts []string) []string {
	for _, o := range opts {
		if o == "ro" || o == "rro" {
			return ensureOptions(opts, "ro", "rro")
		}
	}
	return opts
}

// ensureOptions appends to opts each of want it lacks.
func ensureOptions(opts []string, want ...string) []string {
	for _, w := range want {
		has := false
		for _, o := range opts {
			has = has || o == w
		}
		if !has {
			opts = append(opts, w)
		}
	}
	return opts
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

// Within reports whether the clean absolute path p is dir or lies under it
// (every absolute path lies under "/").
func Within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}
