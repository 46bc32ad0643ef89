package validate

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/seccomp"
)

// Limits execve(2) puts on the new program's arguments and environment.
const (
	// maxArgStrlen is MAX_ARG_STRLEN: the most bytes one argument or
	// environment string may have, its terminating NUL included.
	maxArgStrlen = 32 * 4096
	// argMaxFloor is ARG_MAX: the space for strings and pointers that
	// execve allows whatever the stack limit.
	argMaxFloor = 32 * 4096
	// argMaxCeiling is 3/4 of _STK_LIM: the most it allows.
	argMaxCeiling = 6 << 20
	// defaultStack is the usual RLIMIT_STACK, 8 MiB, assumed when the
	// config does not set one: execve then allows 2 MiB.
	defaultStack = 8 << 20
	// execReserve is kept out of that space for what gets there besides
	// process.args and process.env: the path of the program, which the
	// kernel copies too, HOME, which runc adds when env has none, and the
	// interpreter, its argument and the script path a #! line adds, each
	// at most PATH_MAX (4096) or the #! line's 256 bytes, with their
	// pointers.
	execReserve = 3*4096 + 256 + 4*8
	// maxID is the largest uid or gid runc 1.1 accepts for the process.
	maxID = 1<<31 - 1
	// maxHostname is the most bytes sethostname(2) and setdomainname(2)
	// take.
	maxHostname = 64
)

// knownNamespaces are the namespaces runc 1.1 can create or join (no time
// namespace, which the runtime-spec has since 1.2).
func knownNamespaces() []specs.LinuxNamespaceType {
	return []specs.LinuxNamespaceType{
		specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
		specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace,
	}
}

// problem is a problem found in the configuration and the field it is
// about, as the JSON pointer the schema names it with ("/process/user/uid"),
// so that Bundle does not report what the schema already did.
type problem struct {
	field string
	msg   string
}

// Spec checks a runtime configuration as runc 1.1 would before creating
// the container, without looking at the bundle's files: that process and
// root are there; the process's ids, capabilities, rlimits, arguments and
// environment (sizes included); the namespaces, hostname and id mappings;
// mount destinations and options; the seccomp profile. It returns every
// problem found, one line each naming the field, or nil. It does not check
// the schema of the ociVersion, the rootfs, the program or the mountpoints,
// which Bundle does too.
func Spec(spec *specs.Spec) []string {
	var out []string
	for _, p := range specProblems(spec) {
		out = append(out, p.msg)
	}
	return out
}

func specProblems(spec *specs.Spec) []problem {
	s := &specChecker{spec: spec}
	if spec == nil {
		s.addf("", "the configuration is missing")
		return s.out
	}
	if spec.Root == nil || spec.Root.Path == "" {
		s.addf("/root/path", "root.path is missing")
	}
	s.process()
	s.namespaces()
	s.mounts()
	s.seccomp()
	return s.out
}

type specChecker struct {
	spec *specs.Spec
	out  []problem
}

func (s *specChecker) addf(field, format string, args ...any) {
	s.out = append(s.out, problem{field: field, msg: fmt.Sprintf(format, args...)})
}

// short quotes s for a one-line message, cut to its first 40 bytes.
func short(s string) string {
	if len(s) <= 40 {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:40]) + "..."
}

func (s *specChecker) process() {
	p := s.spec.Process
	if p == nil {
		s.addf("/process", "process is missing")
		return
	}
	if !path.IsAbs(p.Cwd) {
		s.addf("/process/cwd", "process.cwd %q is not an absolute path", p.Cwd)
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		s.addf("/process/args", "process.args is empty: there is no program to run")
	}
	s.user(p.User)
	s.capabilities(p.Capabilities)
	s.rlimits(p.Rlimits)
	s.argsAndEnv(p)
}

// user refuses ids runc 1.1 refuses ("uids and gids must be in range
// 0-2147483647"), (uint32)-1 among them, which setuid and setgid take
// as "leave unchanged".
func (s *specChecker) user(u specs.User) {
	if u.UID > maxID {
		s.addf("/process/user/uid", "process.user.uid %d is out of range (0 to %d)", u.UID, maxID)
	}
	if u.GID > maxID {
		s.addf("/process/user/gid", "process.user.gid %d is out of range (0 to %d)", u.GID, maxID)
	}
	for i, g := range u.AdditionalGids {
		if g > maxID {
			s.addf(fmt.Sprintf("/process/user/additionalGids/%d", i), "process.user.additionalGids[%d] %d is out of range (0 to %d)", i, g, maxID)
		}
	}
}

// capabilities checks the names and what capset(2) and prctl(2) need:
// runc 1.1 applies the bounding set, then capset(effective, permitted,
// inheritable), which fails with EPERM when effective is not within
// permitted or inheritable not within bounding, then raises each ambient
// capability, which is silently left out unless it is both permitted and
// inheritable. A permitted capability outside bounding is accepted (execve
// drops it).
func (s *specChecker) capabilities(c *specs.LinuxCapabilities) {
	if c == nil {
		return
	}
	sets := []struct {
		name  string
		names []string
	}{
		{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable},
		{"permitted", c.Permitted}, {"ambient", c.Ambient},
	}
	for _, set := range sets {
		for i, n := range set.names {
			if !slices.Contains(container.KnownCapabilities(), n) {
				s.addf(fmt.Sprintf("/process/capabilities/%s/%d", set.name, i), "process.capabilities.%s[%d] %q is not a known capability", set.name, i, n)
			}
		}
	}
	subset := func(set string, names []string, of string, within []string, why string) {
		for i, n := range names {
			if slices.Contains(container.KnownCapabilities(), n) && !slices.Contains(within, n) {
				s.addf(fmt.Sprintf("/process/capabilities/%s/%d", set, i), "process.capabilities.%s has %s, which is not in %s: %s", set, n, of, why)
			}
		}
	}
	subset("effective", c.Effective, "permitted", c.Permitted, "capset fails with EPERM")
	subset("inheritable", c.Inheritable, "bounding", c.Bounding, "capset fails with EPERM")
	subset("ambient", c.Ambient, "permitted", c.Permitted, "runc cannot raise it and silently leaves it out")
	subset("ambient", c.Ambient, "inheritable", c.Inheritable, "runc cannot raise it and silently leaves it out")
}

func (s *specChecker) rlimits(limits []specs.POSIXRlimit) {
	seen := map[string]bool{}
	for i, l := range limits {
		field := fmt.Sprintf("/process/rlimits/%d", i)
		if !slices.Contains(container.KnownRlimits(), l.Type) {
			s.addf(field+"/type", "process.rlimits[%d].type %q is not a known resource limit", i, l.Type)
			continue
		}
		if seen[l.Type] {
			s.addf(field+"/type", "process.rlimits[%d]: %s is listed twice", i, l.Type)
		}
		seen[l.Type] = true
		if l.Soft > l.Hard {
			s.addf(field+"/soft", "process.rlimits[%d] (%s): soft limit %d is above the hard limit %d", i, l.Type, l.Soft, l.Hard)
		}
	}
}

// argLimit returns the stack limit the process starts with (runc sets the
// rlimits before execve) and the space execve(2) gives the strings and
// pointers of the arguments and environment then: a quarter of it, within
// ARG_MAX and 6 MiB.
func argLimit(limits []specs.POSIXRlimit) (stack, limit uint64) {
	stack = defaultStack
	for _, l := range limits {
		if l.Type == "RLIMIT_STACK" {
			stack = l.Soft
		}
	}
	return stack, max(min(stack/4, argMaxCeiling), argMaxFloor)
}

// argsAndEnv checks each argument and environment string and their total
// size against what execve(2) accepts, and that each environment entry is
// NAME=VALUE as runc 1.1 needs and a shell can use.
func (s *specChecker) argsAndEnv(p *specs.Process) {
	total := uint64(8 * (len(p.Args) + len(p.Env) + 2)) // a pointer each, and two NULLs
	for i, a := range p.Args {
		field := fmt.Sprintf("/process/args/%d", i)
		total += uint64(len(a)) + 1
		if len(a) >= maxArgStrlen {
			s.addf(field, "process.args[%d] is %d bytes, over the %d bytes execve accepts in one argument (MAX_ARG_STRLEN)", i, len(a), maxArgStrlen-1)
		}
		if strings.IndexByte(a, 0) >= 0 {
			s.addf(field, "process.args[%d] %s contains a NUL byte", i, short(a))
		}
	}
	for i, e := range p.Env {
		field := fmt.Sprintf("/process/env/%d", i)
		total += uint64(len(e)) + 1
		if len(e) >= maxArgStrlen {
			s.addf(field, "process.env[%d] %s is %d bytes, over the %d bytes execve accepts in one variable (MAX_ARG_STRLEN)", i, short(e), len(e), maxArgStrlen-1)
		}
		name, value, ok := strings.Cut(e, "=")
		switch {
		case !utf8.ValidString(e):
			s.addf(field, "process.env[%d] %s is not valid UTF-8", i, short(e))
		case !ok:
			s.addf(field, "process.env[%d] %s is not NAME=VALUE", i, short(e))
		case name == "":
			s.addf(field, "process.env[%d] %s has an empty name", i, short(e))
		case strings.IndexFunc(name, unicode.IsControl) >= 0:
			s.addf(field, "process.env[%d] name %s contains a control character", i, short(name))
		case strings.IndexByte(value, 0) >= 0:
			s.addf(field, "process.env[%d] (%s) value contains a NUL byte", i, name)
		}
	}
	stack, limit := argLimit(p.Rlimits)
	if total > limit-execReserve {
		s.addf("/process/args", "process.args and process.env take %d bytes (each string with its NUL, 8 per pointer), over the %d allowed: execve accepts %d with RLIMIT_STACK %d, less %d for the program path, HOME and a #! interpreter",
			total, limit-execReserve, limit, stack, uint64(execReserve))
	}
}

func (s *specChecker) namespaces() {
	var l *specs.Linux
	if s.spec.Linux != nil {
		l = s.spec.Linux
	} else {
		l = &specs.Linux{}
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		if !slices.Contains(knownNamespaces(), ns.Type) {
			s.addf(fmt.Sprintf("/linux/namespaces/%d/type", i), "linux.namespaces[%d].type %q is not a namespace runc 1.1 supports", i, ns.Type)
			continue
		}
		if seen[ns.Type] {
			s.addf(fmt.Sprintf("/linux/namespaces/%d", i), "linux.namespaces: %s is listed twice", ns.Type)
		}
		seen[ns.Type] = true
	}
	if s.spec.Hostname != "" {
		if !seen[specs.UTSNamespace] {
			s.addf("/hostname", "hostname is set but there is no uts namespace to set it in")
		}
		if len(s.spec.Hostname) > maxHostname {
			s.addf("/hostname", "hostname %s is %d bytes, over the %d sethostname accepts", short(s.spec.Hostname), len(s.spec.Hostname), maxHostname)
		}
	}
	if s.spec.Domainname != "" {
		if !seen[specs.UTSNamespace] {
			s.addf("/domainname", "domainname is set but there is no uts namespace to set it in")
		}
		if len(s.spec.Domainname) > maxHostname {
			s.addf("/domainname", "domainname %s is %d bytes, over the %d setdomainname accepts", short(s.spec.Domainname), len(s.spec.Domainname), maxHostname)
		}
	}
	if !seen[specs.UserNamespace] {
		if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
			s.addf("/linux/uidMappings", "linux.uidMappings/gidMappings are set but there is no user namespace")
		}
		return
	}
	var user specs.User
	if s.spec.Process != nil {
		user = s.spec.Process.User
	}
	s.mappings("uid", l.UIDMappings, []uint32{0, user.UID})
	s.mappings("gid", l.GIDMappings, append([]uint32{0, user.GID}, user.AdditionalGids...))
}

func (s *specChecker) mappings(kind string, m []specs.LinuxIDMapping, need []uint32) {
	name := "linux." + kind + "Mappings"
	field := "/linux/" + kind + "Mappings"
	if len(m) == 0 {
		s.addf(field, "%s: a user namespace is used but no %s is mapped", name, kind)
		return
	}
	for i, a := range m {
		if a.Size == 0 {
			s.addf(fmt.Sprintf("%s/%d/size", field, i), "%s[%d] has size 0", name, i)
		}
		for j := i + 1; j < len(m); j++ {
			b := m[j]
			if overlap(a.ContainerID, a.Size, b.ContainerID, b.Size) {
				s.addf(fmt.Sprintf("%s/%d", field, j), "%s[%d] and [%d] overlap inside the container", name, i, j)
			}
			if overlap(a.HostID, a.Size, b.HostID, b.Size) {
				s.addf(fmt.Sprintf("%s/%d", field, j), "%s[%d] and [%d] overlap on the host", name, i, j)
			}
		}
	}
	reported := map[uint32]bool{}
	for _, id := range need {
		mapped := false
		for _, r := range m {
			mapped = mapped || (id >= r.ContainerID && uint64(id) < uint64(r.ContainerID)+uint64(r.Size))
		}
		if !mapped && !reported[id] {
			reported[id] = true
			if id == 0 {
				s.addf(field, "%s: container %s 0 is not mapped (the runtime needs container root)", name, kind)
			} else {
				s.addf(field, "%s: the process's %s %d is not mapped", name, kind, id)
			}
		}
	}
}

func overlap(a, an, b, bn uint32) bool {
	return uint64(a) < uint64(b)+uint64(bn) && uint64(b) < uint64(a)+uint64(an)
}

// mounts checks each destination (absolute, without "..", not the root
// itself), that a mount of type bind has a bind option (runc 1.1 takes a
// bind mount's type from its options), and that each option is a single
// mount option.
func (s *specChecker) mounts() {
	for i, m := range s.spec.Mounts {
		where := fmt.Sprintf("mounts[%d] (%s)", i, m.Destination)
		field := fmt.Sprintf("/mounts/%d/destination", i)
		switch {
		case !path.IsAbs(m.Destination):
			s.addf(field, "%s: destination is not an absolute path", where)
		case strings.Contains(m.Destination+"/", "/../"):
			s.addf(field, "%s: destination contains \"..\"", where)
		case path.Clean(m.Destination) == "/":
			s.addf(field, "%s: destination is the root directory", where)
		}
		if (m.Type == "bind" || m.Type == "rbind") && !hasBindOption(m) {
			s.addf(fmt.Sprintf("/mounts/%d/options", i), "%s: type %q without a \"bind\" or \"rbind\" option, which runc 1.1 mounts as a filesystem of that type (no such device)", where, m.Type)
		}
		for j, o := range m.Options {
			if o == "" || strings.Contains(o, ",") {
				s.addf(fmt.Sprintf("/mounts/%d/options/%d", i, j), "%s: option %q is not a single mount option", where, o)
			}
		}
	}
}

// seccomp checks the profile against what runc 1.1 accepts.
func (s *specChecker) seccomp() {
	if s.spec.Linux == nil || s.spec.Linux.Seccomp == nil {
		return
	}
	sc := s.spec.Linux.Seccomp
	switch {
	case !slices.Contains(seccomp.RuncActions(), sc.DefaultAction):
		s.addf("/linux/seccomp/defaultAction", "linux.seccomp.defaultAction %q is not a seccomp action runc 1.1 accepts", sc.DefaultAction)
	case sc.DefaultAction == specs.ActNotify:
		s.addf("/linux/seccomp/defaultAction", "linux.seccomp.defaultAction is SCMP_ACT_NOTIFY, which runc 1.1 refuses as the default action")
	}
	for i, a := range sc.Architectures {
		if !slices.Contains(seccomp.RuncArches(), a) {
			s.addf(fmt.Sprintf("/linux/seccomp/architectures/%d", i), "linux.seccomp.architectures[%d] %q is not an architecture runc 1.1 knows", i, a)
		}
	}
	if len(sc.Flags) > 0 {
		s.addf("/linux/seccomp/flags", "linux.seccomp.flags is set, and runc 1.1 supports no seccomp flags")
	}
	for i, call := range sc.Syscalls {
		where := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		field := fmt.Sprintf("/linux/seccomp/syscalls/%d", i)
		if len(call.Names) == 0 {
			s.addf(field+"/names", "%s.names is empty: the rule names no syscall", where)
		}
		switch {
		case !slices.Contains(seccomp.RuncActions(), call.Action):
			s.addf(field+"/action", "%s.action %q is not a seccomp action runc 1.1 accepts", where, call.Action)
		case call.Action == specs.ActNotify && sc.ListenerPath == "":
			s.addf(field+"/action", "%s.action is SCMP_ACT_NOTIFY, which needs linux.seccomp.listenerPath", where)
		case call.Action == specs.ActNotify && slices.Contains(call.Names, "write"):
			s.addf(field+"/action", "%s.action is SCMP_ACT_NOTIFY, which runc 1.1 refuses for the write syscall", where)
		}
		for j, a := range call.Args {
			if a.Index >= 6 {
				s.addf(fmt.Sprintf("%s/args/%d/index", field, j), "%s.args[%d].index %d is not an argument index (0 to 5)", where, j, a.Index)
			}
			if !slices.Contains(seccomp.RuncOperators(), a.Op) {
				s.addf(fmt.Sprintf("%s/args/%d/op", field, j), "%s.args[%d].op %q is not a comparison runc 1.1 accepts", where, j, a.Op)
			}
		}
	}
}
