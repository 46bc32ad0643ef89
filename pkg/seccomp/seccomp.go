// Package seccomp gives a container the default seccomp profile of Docker
// and podman, or a profile in Docker's JSON format, as the runtime-spec's
// linux.seccomp section.
//
// The profile data come from github.com/moby/profiles/seccomp, the module
// Docker and podman maintain it in. Its own conversion (GetDefaultProfile,
// LoadProfile) adapts a profile to the machine it runs on: it keeps the
// rules for runtime.GOARCH and asks the running kernel its version for the
// rules with a minKernel condition. A bundle is built on one machine and
// run on another, possibly of another architecture, so this package does
// the conversion itself, from the module's exported profile types, for the
// bundle's target architecture, and never consults the build machine: the
// same spec and architecture give the same result everywhere.
//
// Kernel-version conditions are taken as satisfied, as on a current kernel:
// a rule that "includes" a minKernel is kept, one that "excludes" it is
// dropped. For rules that only allow syscalls a kernel added in that version
// this is harmless: on an older kernel the syscall does not exist, and
// runc ignores syscall names libseccomp does not know. One rule of the
// default profile is different: ptrace, process_vm_readv and
// process_vm_writev are allowed without CAP_SYS_PTRACE from kernel 4.8 on,
// because before 4.8 ptrace could be used to get around seccomp. A bundle
// run on a kernel older than 4.8 (e.g. CentOS 7's 3.10) therefore gets
// these three syscalls where Docker on that machine would deny them.
//
// The result is checked against what runc 1.1 accepts in linux.seccomp:
// its actions, operators and architectures, no filter flags (runc before
// 1.2 rejects every flag), argument indexes below six, and
// SCMP_ACT_NOTIFY only in rules, never for write, and with a listenerPath.
// defaultErrnoRet and errnoRet, which the default profile uses, are
// supported since runc 1.0.
package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"

	moby "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// Default returns Docker's default seccomp profile for a container with
// spec's capabilities, running on the GOARCH arch ("amd64", "arm64", ...).
//
// As in Docker, the syscalls a capability guards are allowed when the
// capability is in spec.Process.Capabilities.Bounding (e.g. mount and
// unshare with CAP_SYS_ADMIN, kcmp with CAP_SYS_PTRACE), the rules for
// other architectures are left out, and the filter covers arch and its
// compat architectures (amd64: SCMP_ARCH_X86_64, SCMP_ARCH_X86 and
// SCMP_ARCH_X32). A nil spec, process or capability set has no
// capabilities. The errno values the profile returns (EPERM by default,
// ENOSYS for clone3) are arch's numbers, not the build machine's.
//
// An arch the profile has no architecture entry for (386, arm, ppc64le,
// ...) is an error, where Docker on such a machine leaves architectures
// empty (the runtime's native one only); so is an arch runc 1.1 does not
// support (loong64).
func Default(spec *specs.Spec, arch string) (*specs.LinuxSeccomp, error) {
	t, err := lookupTarget(arch)
	if err != nil {
		return nil, fmt.Errorf("default seccomp profile: %w", err)
	}
	profile, err := defaultProfile()
	if err != nil {
		return nil, fmt.Errorf("default seccomp profile: %w", err)
	}
	if err := errnosForTarget(profile, t); err != nil {
		return nil, fmt.Errorf("default seccomp profile: %w", err)
	}
	out, err := convert(profile, spec, t)
	if err != nil {
		return nil, fmt.Errorf("default seccomp profile: %w", err)
	}
	return out, nil
}

// Load is Default for profile, a seccomp profile in Docker's JSON format
// (that of moby's default.json and podman's seccomp.json): an object with
// defaultAction, optionally defaultErrnoRet, listenerPath,
// listenerMetadata, either architectures or archMap, and syscalls, whose
// rules may have includes and excludes conditions (caps, arches,
// minKernel). The old format, with one "name" per rule, is accepted.
//
// Malformed JSON, an unknown key (keys are compared case-sensitively), an
// action, operator or architecture runc 1.1 does not know, and a profile
// without defaultAction are errors. The profile's errno numbers are used
// as they are.
func Load(profile []byte, spec *specs.Spec, arch string) (*specs.LinuxSeccomp, error) {
	t, err := lookupTarget(arch)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	var p moby.Seccomp
	if err := strictjson.Unmarshal(profile, &p); err != nil {
		return nil, fmt.Errorf("decode seccomp profile: %w", err)
	}
	out, err := convert(&p, spec, t)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	return out, nil
}

// target is an architecture a bundle can be built for.
type target struct {
	goarch string
	// native is libseccomp's name for the architecture, the name that
	// includes.arches and excludes.arches in a profile use.
	native string
	// arch is the seccomp architecture.
	arch specs.Arch
	// enosys is the architecture's ENOSYS.
	enosys uint
}

// targets maps GOARCH to the seccomp architecture as moby's goToNative and
// nativeToSeccomp maps do (unexported there), so that conditions on
// arches match as in Docker. "mips3l64n32" is moby's spelling.
func targets() map[string]target {
	const enosys, enosysMIPS = 38, 89
	out := map[string]target{}
	for _, t := range []target{
		{"386", "x86", specs.ArchX86, enosys},
		{"amd64", "amd64", specs.ArchX86_64, enosys},
		{"arm", "arm", specs.ArchARM, enosys},
		{"arm64", "arm64", specs.ArchAARCH64, enosys},
		{"loong64", "loongarch64", specs.ArchLOONGARCH64, enosys},
		{"mips64", "mips64", specs.ArchMIPS64, enosysMIPS},
		{"mips64p32", "mips64n32", specs.ArchMIPS64N32, enosysMIPS},
		{"mips64le", "mipsel64", specs.ArchMIPSEL64, enosysMIPS},
		{"mips64p32le", "mips3l64n32", specs.ArchMIPSEL64N32, enosysMIPS},
		{"mipsle", "mipsel", specs.ArchMIPSEL, enosysMIPS},
		{"ppc", "ppc", specs.ArchPPC, enosys},
		{"ppc64", "ppc64", specs.ArchPPC64, enosys},
		{"ppc64le", "ppc64le", specs.ArchPPC64LE, enosys},
		{"riscv64", "riscv64", specs.ArchRISCV64, enosys},
		{"s390", "s390", specs.ArchS390, enosys},
		{"s390x", "s390x", specs.ArchS390X, enosys},
	} {
		out[t.goarch] = t
	}
	return out
}

func lookupTarget(goarch string) (target, error) {
	all := targets()
	if t, ok := all[goarch]; ok {
		return t, nil
	}
	known := make([]string, 0, len(all))
	for k := range all {
		known = append(known, k)
	}
	sort.Strings(known)
	return target{}, fmt.Errorf("unknown architecture %q (known: %s)", goarch, strings.Join(known, ", "))
}

// errnosForTarget rewrites the errno values of moby's default profile,
// which it takes from the build machine's syscall constants, to t's
// numbers. The profile uses EPERM and ENOSYS; ENOSYS is 38 on most
// architectures but 89 on mips. Any other value is an error, so that a
// newer profile cannot silently make the result depend on the build
// machine.
func errnosForTarget(p *moby.Seccomp, t target) error {
	conv := func(where string, e *uint) (*uint, error) {
		if e == nil {
			return nil, nil
		}
		var v uint
		switch syscall.Errno(*e) {
		case syscall.EPERM:
			v = 1
		case syscall.ENOSYS:
			v = t.enosys
		default:
			return nil, fmt.Errorf("%s: errno %d has no known number on %s", where, *e, t.goarch)
		}
		return &v, nil
	}
	var err error
	if p.DefaultErrnoRet, err = conv("defaultErrnoRet", p.DefaultErrnoRet); err != nil {
		return err
	}
	for i, call := range p.Syscalls {
		if call == nil {
			continue // convert reports it
		}
		if call.ErrnoRet, err = conv(fmt.Sprintf("syscalls[%d].errnoRet", i), call.ErrnoRet); err != nil {
			return err
		}
	}
	return nil
}

// convert does what moby's setupSeccomp does, for target t rather than the
// running machine, with kernel conditions taken as satisfied, and without
// modifying p. The rules keep the profile's order.
func convert(p *moby.Seccomp, spec *specs.Spec, t target) (*specs.LinuxSeccomp, error) {
	if p.DefaultAction == "" {
		return nil, errors.New("no defaultAction")
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return nil, errors.New("both architectures and archMap are set: use one of them")
	}
	if len(p.LinuxSeccomp.Syscalls) > 0 {
		// moby's Seccomp.Syscalls shadows this field; only a profile
		// built in Go can set it.
		return nil, errors.New("the embedded LinuxSeccomp.Syscalls is set: use Seccomp.Syscalls")
	}
	out := &specs.LinuxSeccomp{
		DefaultAction:    p.DefaultAction,
		DefaultErrnoRet:  copyUint(p.DefaultErrnoRet),
		Flags:            slices.Clone(p.Flags),
		ListenerPath:     p.ListenerPath,
		ListenerMetadata: p.ListenerMetadata,
	}
	if len(p.ArchMap) > 0 {
		i := slices.IndexFunc(p.ArchMap, func(a moby.Architecture) bool { return a.Arch == t.arch })
		if i < 0 {
			listed := make([]string, 0, len(p.ArchMap))
			for _, a := range p.ArchMap {
				listed = append(listed, string(a.Arch))
			}
			return nil, fmt.Errorf("architecture %s (%s) is not in the profile's archMap (%s)", t.goarch, t.arch, strings.Join(listed, ", "))
		}
		out.Architectures = append([]specs.Arch{t.arch}, p.ArchMap[i].SubArches...)
	} else {
		out.Architectures = slices.Clone(p.Architectures)
	}

	caps := boundingSet(spec)
	for i, call := range p.Syscalls {
		where := fmt.Sprintf("syscalls[%d]", i)
		if call == nil {
			return nil, fmt.Errorf("%s is null", where)
		}
		names := call.Names
		// The old profile format has one name per rule; moby keeps the
		// deprecated field to read it, and so does Load.
		//lint:ignore SA1019 reading old-format profiles is the point
		if old := call.Name; old != "" {
			if len(names) > 0 {
				return nil, fmt.Errorf("%s: both name and names are set: use names", where)
			}
			names = []string{old}
		}
		rule := specs.LinuxSyscall{
			Names:    slices.Clone(names),
			Action:   call.Action,
			ErrnoRet: copyUint(call.ErrnoRet),
			Args:     slices.Clone(call.Args),
		}
		// Every rule is checked, also those left out for this target, so
		// that a bad profile fails whatever the architecture.
		if err := checkRule(rule, out.ListenerPath); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if applies(call, t, caps) {
			out.Syscalls = append(out.Syscalls, rule)
		}
	}
	if err := checkSeccomp(out); err != nil {
		return nil, err
	}
	return out, nil
}

// applies reports whether call's conditions hold for target t and the
// bounding capabilities caps, as moby's setupSeccomp decides: excludes
// drops the rule if any of its conditions holds, includes keeps it only if
// all of them hold. minKernel conditions hold (see the package comment).
func applies(call *moby.Syscall, t target, caps map[string]bool) bool {
	if ex := call.Excludes; ex != nil {
		if slices.Contains(ex.Arches, t.native) {
			return false
		}
		for _, c := range ex.Caps {
			if caps[c] {
				return false
			}
		}
		if ex.MinKernel != nil {
			return false
		}
	}
	if in := call.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, t.native) {
			return false
		}
		for _, c := range in.Caps {
			if !caps[c] {
				return false
			}
		}
	}
	return true
}

// boundingSet is the container's bounding capability set; a nil spec,
// process or capability set has none.
func boundingSet(spec *specs.Spec) map[string]bool {
	caps := map[string]bool{}
	if spec == nil || spec.Process == nil || spec.Process.Capabilities == nil {
		return caps
	}
	for _, c := range spec.Process.Capabilities.Bounding {
		caps[c] = true
	}
	return caps
}

func copyUint(p *uint) *uint {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// RuncActions are the actions runc 1.1 knows (libcontainer/seccomp).
func RuncActions() []specs.LinuxSeccompAction {
	return []specs.LinuxSeccompAction{
		specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap,
		specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
	}
}

// RuncOperators are the argument operators runc 1.1 knows.
func RuncOperators() []specs.LinuxSeccompOperator {
	return []specs.LinuxSeccompOperator{
		specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
	}
}

// RuncArches are the seccomp architectures runc 1.1.5 accepts: not
// SCMP_ARCH_RISCV64 (a riscv64 bundle gets no default filter, with a
// warning) nor SCMP_ARCH_LOONGARCH64 (runc 1.4); pkg/validate checks them
// too.
func RuncArches() []specs.Arch {
	return []specs.Arch{
		specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
		specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
		specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X,
	}
}

// maxArgs is the number of syscall arguments; runc 1.1 indexes a
// six-element array with an argument's index.
const maxArgs = 6

// checkRule checks one rule against what runc 1.1 and the runtime-spec
// schema accept.
func checkRule(r specs.LinuxSyscall, listenerPath string) error {
	if len(r.Names) == 0 {
		return errors.New("no syscall names")
	}
	for _, n := range r.Names {
		if n == "" {
			return errors.New("empty syscall name")
		}
	}
	if !slices.Contains(RuncActions(), r.Action) {
		return fmt.Errorf("unknown action %q (known: %s)", r.Action, joinStrings(RuncActions()))
	}
	if r.Action == specs.ActNotify {
		if listenerPath == "" {
			return fmt.Errorf("%s needs the profile's listenerPath", specs.ActNotify)
		}
		if slices.Contains(r.Names, "write") {
			return fmt.Errorf("runc does not allow %s for write", specs.ActNotify)
		}
	}
	for j, a := range r.Args {
		if a.Index >= maxArgs {
			return fmt.Errorf("args[%d]: index %d is not below %d", j, a.Index, maxArgs)
		}
		if !slices.Contains(RuncOperators(), a.Op) {
			return fmt.Errorf("args[%d]: unknown operator %q (known: %s)", j, a.Op, joinStrings(RuncOperators()))
		}
	}
	return nil
}

// checkSeccomp checks the parts of s other than its rules against what
// runc 1.1 accepts.
func checkSeccomp(s *specs.LinuxSeccomp) error {
	if !slices.Contains(RuncActions(), s.DefaultAction) {
		return fmt.Errorf("defaultAction: unknown action %q (known: %s)", s.DefaultAction, joinStrings(RuncActions()))
	}
	if s.DefaultAction == specs.ActNotify {
		return fmt.Errorf("defaultAction: runc does not allow %s as the default action", specs.ActNotify)
	}
	if len(s.Flags) > 0 {
		return fmt.Errorf("flags %s: runc 1.1 supports no seccomp filter flags", joinStrings(s.Flags))
	}
	for _, a := range s.Architectures {
		if !slices.Contains(RuncArches(), a) {
			return fmt.Errorf("architecture %q is not supported by runc 1.1 (supported: %s)", a, joinStrings(RuncArches()))
		}
	}
	return nil
}

func joinStrings[S ~string](s []S) string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return strings.Join(out, ", ")
}
