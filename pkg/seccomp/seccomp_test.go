//go:build linux

package seccomp_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	moby "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/schema"
	"github.com/oci-builder/oci-builder/pkg/seccomp"
	"github.com/oci-builder/oci-builder/pkg/specconv"
)

// specWith is a spec whose bounding set is caps.
func specWith(caps ...string) *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
}

// bundleCaps are pkg/bundle's default capabilities, those of `runc spec`.
var bundleCaps = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// allowed reports whether some rule allows name whatever its arguments.
func allowed(s *specs.LinuxSeccomp, name string) bool {
	for _, r := range s.Syscalls {
		if r.Action == specs.ActAllow && len(r.Args) == 0 && slices.Contains(r.Names, name) {
			return true
		}
	}
	return false
}

// rules are the rules that name name.
func rules(s *specs.LinuxSeccomp, name string) []specs.LinuxSyscall {
	var out []specs.LinuxSyscall
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, name) {
			out = append(out, r)
		}
	}
	return out
}

func TestDefault(t *testing.T) {
	common := []string{"read", "write", "execve", "exit_group", "openat", "mmap", "futex", "rt_sigreturn", "ptrace", "process_vm_readv"}
	neverWithoutAdmin := []string{"unshare", "mount", "umount2", "setns", "keyctl", "add_key", "request_key", "bpf", "kexec_load", "pivot_root", "open_by_handle_at", "reboot"}
	tests := []struct {
		name      string
		spec      *specs.Spec
		arch      string
		arches    []specs.Arch
		allow     []string
		deny      []string // in no rule at all
		clone3    *uint    // errnoRet of the clone3 rule, nil for no ERRNO rule
		maskClone bool     // clone allowed only without namespace flags
	}{
		{
			name:      "amd64 default caps",
			spec:      specWith(bundleCaps...),
			arch:      "amd64",
			arches:    []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			allow:     append(slices.Clone(common), "arch_prctl", "modify_ldt"),
			deny:      append(slices.Clone(neverWithoutAdmin), "kcmp", "pidfd_getfd", "process_madvise", "arm_fadvise64_64", "set_tls", "chroot", "syslog"),
			clone3:    ptr(38),
			maskClone: true,
		},
		{
			name:      "arm64 default caps",
			spec:      specWith(bundleCaps...),
			arch:      "arm64",
			arches:    []specs.Arch{specs.ArchAARCH64, specs.ArchARM},
			allow:     append(slices.Clone(common), "arm_fadvise64_64", "set_tls", "cacheflush"),
			deny:      append(slices.Clone(neverWithoutAdmin), "arch_prctl", "modify_ldt", "kcmp"),
			clone3:    ptr(38),
			maskClone: true,
		},
		{
			name:   "amd64 CAP_SYS_ADMIN",
			spec:   specWith("CAP_SYS_ADMIN"),
			arch:   "amd64",
			arches: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			allow:  append(slices.Clone(common), "unshare", "mount", "umount2", "setns", "clone", "clone3", "bpf", "sethostname"),
			// keyctl and friends stay denied whatever the capabilities.
			deny: []string{"keyctl", "add_key", "request_key", "kexec_load", "reboot", "kcmp"},
		},
		{
			name:      "amd64 CAP_SYS_PTRACE",
			spec:      specWith("CAP_SYS_PTRACE"),
			arch:      "amd64",
			arches:    []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			allow:     append(slices.Clone(common), "kcmp", "pidfd_getfd", "process_madvise", "process_vm_writev"),
			deny:      neverWithoutAdmin,
			clone3:    ptr(38),
			maskClone: true,
		},
		{
			name:      "mips64 uses its own ENOSYS",
			spec:      specWith(bundleCaps...),
			arch:      "mips64",
			arches:    []specs.Arch{specs.ArchMIPS64, specs.ArchMIPS, specs.ArchMIPS64N32},
			allow:     common,
			deny:      append(slices.Clone(neverWithoutAdmin), "arch_prctl", "set_tls"),
			clone3:    ptr(89),
			maskClone: true,
		},
		{
			name:      "s390x",
			spec:      specWith(bundleCaps...),
			arch:      "s390x",
			arches:    []specs.Arch{specs.ArchS390X, specs.ArchS390},
			allow:     append(slices.Clone(common), "s390_runtime_instr"),
			deny:      neverWithoutAdmin,
			clone3:    ptr(38),
			maskClone: true,
		},
		{name: "nil spec", spec: nil, arch: "amd64", arches: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}, allow: common, deny: neverWithoutAdmin, clone3: ptr(38), maskClone: true},
		{name: "nil process", spec: &specs.Spec{}, arch: "amd64", arches: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}, allow: common, deny: neverWithoutAdmin, clone3: ptr(38), maskClone: true},
		{name: "nil capabilities", spec: &specs.Spec{Process: &specs.Process{}}, arch: "arm64", arches: []specs.Arch{specs.ArchAARCH64, specs.ArchARM}, allow: common, deny: neverWithoutAdmin, clone3: ptr(38), maskClone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := seccomp.Default(tc.spec, tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != 1 {
				t.Errorf("default action %s errno %v, want SCMP_ACT_ERRNO with EPERM (1)", s.DefaultAction, s.DefaultErrnoRet)
			}
			if len(s.Flags) != 0 {
				t.Errorf("flags %v, want none (runc 1.1 rejects them)", s.Flags)
			}
			if !slices.Equal(s.Architectures, tc.arches) {
				t.Errorf("architectures %v, want %v", s.Architectures, tc.arches)
			}
			for _, n := range tc.allow {
				if !allowed(s, n) {
					t.Errorf("%s is not allowed", n)
				}
			}
			for _, n := range tc.deny {
				if r := rules(s, n); len(r) != 0 {
					t.Errorf("%s has rules %+v, want none", n, r)
				}
			}
			var clone3 *uint
			for _, r := range rules(s, "clone3") {
				if r.Action == specs.ActErrno {
					clone3 = r.ErrnoRet
				}
			}
			if (clone3 == nil) != (tc.clone3 == nil) || clone3 != nil && *clone3 != *tc.clone3 {
				t.Errorf("clone3 ERRNO rule returns %v, want %v", deref(clone3), deref(tc.clone3))
			}
			if got := !allowed(s, "clone") && len(rules(s, "clone")) > 0; got != tc.maskClone {
				t.Errorf("clone allowed only with arguments: %v, want %v (rules %+v)", got, tc.maskClone, rules(s, "clone"))
			}
		})
	}
}

func ptr(v uint) *uint { return &v }

func deref(p *uint) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

// TestDefaultReproducible checks that the result depends only on the spec
// and the target: two calls agree byte for byte, and the digests below,
// computed once, hold on any build machine. They change only with the
// moby/profiles/seccomp version; update them then.
func TestDefaultReproducible(t *testing.T) {
	tests := []struct {
		arch string
		caps []string
	}{
		{"amd64", bundleCaps},
		{"arm64", bundleCaps},
		{"amd64", []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}},
	}
	want := map[string]string{
		"amd64 " + strings.Join(bundleCaps, ","): "e75b0a54fe6172503aff0ca92469a262e4a3e4786b88793980461ff92a75fce4",
		"arm64 " + strings.Join(bundleCaps, ","): "cf3fbf5754fa280e0affc32a7ef42b4bbdaf3cc48954db583228c31a2d31586c",
		"amd64 CAP_SYS_ADMIN,CAP_SYS_PTRACE":     "13f1c78307160ca88385c2c711e56e65c135ce07d31869ec84a2caec0c2e4d44",
	}
	seen := map[string]string{}
	for _, tc := range tests {
		key := tc.arch + " " + strings.Join(tc.caps, ",")
		t.Run(key, func(t *testing.T) {
			a, err := seccomp.Default(specWith(tc.caps...), tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			b, err := seccomp.Default(specWith(tc.caps...), tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			ja, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			jb, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ja, jb) {
				t.Fatal("two calls give different JSON")
			}
			sum := sha256.Sum256(ja)
			got := hex.EncodeToString(sum[:])
			if prev, ok := seen[got]; ok {
				t.Errorf("same JSON as %s", prev)
			}
			seen[got] = key
			if got != want[key] {
				t.Errorf("sha256 of the JSON (%d bytes) is %s, want %s", len(ja), got, want[key])
			}
		})
	}
}

// TestDefaultMatchesMoby compares Default for the machine running the test
// with moby's own GetDefaultProfile, which converts for that machine, on a
// kernel that satisfies every minKernel condition of the profile.
func TestDefaultMatchesMoby(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("no comparison on %s", runtime.GOARCH)
	}
	var uts syscall.Utsname
	if err := syscall.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	var release []byte
	for _, c := range uts.Release {
		if c == 0 {
			break
		}
		release = append(release, byte(c))
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(release), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", release, err)
	}
	if major < 4 || major == 4 && minor < 8 {
		t.Skipf("kernel %s is older than the profile's minKernel 4.8", release)
	}
	for _, caps := range [][]string{nil, bundleCaps, {"CAP_SYS_ADMIN"}, {"CAP_SYS_PTRACE", "CAP_SYS_CHROOT", "CAP_SYSLOG"}} {
		want, err := moby.GetDefaultProfile(specWith(caps...))
		if err != nil {
			t.Fatal(err)
		}
		got, err := seccomp.Default(specWith(caps...), runtime.GOARCH)
		if err != nil {
			t.Fatal(err)
		}
		jw, _ := json.Marshal(want)
		jg, _ := json.Marshal(got)
		if !bytes.Equal(jw, jg) {
			t.Errorf("caps %v: Default differs from moby's GetDefaultProfile:\n got %s\nwant %s", caps, jg, jw)
		}
	}
}

func TestDefaultArch(t *testing.T) {
	tests := []struct {
		arch, wantErr string
	}{
		{"", `unknown architecture ""`},
		{"sparc64", `unknown architecture "sparc64" (known: 386, amd64,`},
		{"x86_64", `unknown architecture "x86_64"`},
		{"ppc64le", "architecture ppc64le (SCMP_ARCH_PPC64LE) is not in the profile's archMap"},
		{"386", "architecture 386 (SCMP_ARCH_X86) is not in the profile's archMap"},
		{"loong64", `architecture "SCMP_ARCH_LOONGARCH64" is not supported by runc 1.1`},
		{"riscv64", `architecture "SCMP_ARCH_RISCV64" is not supported by runc 1.1`},
		{"mips64le", ""},
	}
	for _, tc := range tests {
		t.Run(tc.arch, func(t *testing.T) {
			s, err := seccomp.Default(specWith(), tc.arch)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(s.Architectures) == 0 {
					t.Error("no architectures")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	const custom = `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 1,
		"archMap": [
			{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
			{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": null}
		],
		"syscalls": [
			{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW", "comment": "basics"},
			{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
			{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["statmount"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6.8"}},
			{"names": ["uselib"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.0"}},
			{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}
		]
	}`
	const oldFormat = `{
		"defaultAction": "SCMP_ACT_KILL_PROCESS",
		"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
		"syscalls": [
			{"name": "read", "action": "SCMP_ACT_ALLOW", "args": []},
			{"name": "personality", "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
		]
	}`
	errno := func(v uint) *uint { return &v }
	tests := []struct {
		name    string
		profile string
		spec    *specs.Spec
		arch    string
		want    *specs.LinuxSeccomp
	}{
		{
			name: "amd64 no caps", profile: custom, spec: specWith(), arch: "amd64",
			want: &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno, DefaultErrnoRet: errno(1),
				Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
					{Names: []string{"arch_prctl"}, Action: specs.ActAllow},
					{Names: []string{"ptrace"}, Action: specs.ActAllow},
					{Names: []string{"statmount"}, Action: specs.ActAllow},
					{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: errno(13), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: specs.OpEqualTo}}},
				},
			},
		},
		{
			name: "arm64 CAP_SYS_ADMIN", profile: custom, spec: specWith("CAP_SYS_ADMIN"), arch: "arm64",
			want: &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno, DefaultErrnoRet: errno(1),
				Architectures: []specs.Arch{specs.ArchAARCH64},
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
					{Names: []string{"mount"}, Action: specs.ActAllow},
					{Names: []string{"statmount"}, Action: specs.ActAllow},
					{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: errno(13), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: specs.OpEqualTo}}},
				},
			},
		},
		{
			name: "old format, nil process", profile: oldFormat, spec: &specs.Spec{}, arch: "arm64",
			want: &specs.LinuxSeccomp{
				DefaultAction: specs.ActKillProcess,
				Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"read"}, Action: specs.ActAllow},
					{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}},
				},
			},
		},
		{
			name: "notify with listener", spec: nil, arch: "amd64",
			profile: `{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock", "listenerMetadata": "m",
				"syscalls": [{"names": ["mknod"], "action": "SCMP_ACT_NOTIFY"}]}`,
			want: &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock", ListenerMetadata: "m",
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mknod"}, Action: specs.ActNotify}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := seccomp.Load([]byte(tc.profile), tc.spec, tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			// Compare as JSON: empty and nil slices are the same there.
			jg, _ := json.Marshal(got)
			jw, _ := json.Marshal(tc.want)
			if !bytes.Equal(jg, jw) {
				t.Errorf("got  %s\nwant %s", jg, jw)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	const rule = `{"names": ["read"], "action": "SCMP_ACT_ALLOW"}`
	tests := []struct {
		name, profile, arch, wantErr string
	}{
		{"empty", ``, "amd64", "decode seccomp profile"},
		{"malformed", `{"defaultAction": "SCMP_ACT_ERRNO",`, "amd64", "decode seccomp profile: unexpected EOF"},
		{"trailing data", `{"defaultAction": "SCMP_ACT_ERRNO"} {}`, "amd64", "trailing data"},
		{"wrong type", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}`, "amd64", "cannot unmarshal object"},
		{"unknown top-level field", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": 1}`, "amd64", `unknown field "defaultErrno"`},
		{"key case differs", `{"DefaultAction": "SCMP_ACT_ERRNO"}`, "amd64", `unknown field "DefaultAction"`},
		{"unknown rule field", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [` + rule + `, {"names": ["x"], "action": "SCMP_ACT_ALLOW", "errno": 1}]}`, "amd64", `unknown field "errno" in /syscalls/1`},
		{"unknown filter field", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"capabilities": ["CAP_KILL"]}}]}`, "amd64", `unknown field "capabilities" in /syscalls/0/includes`},
		{"bad kernel version", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "six"}}]}`, "amd64", "invalid kernel version"},
		{"no default action", `{"syscalls": [` + rule + `]}`, "amd64", "no defaultAction"},
		{"no default action, no rules", `{}`, "amd64", "no defaultAction"},
		{"null", `null`, "amd64", "no defaultAction"},
		{"unknown default action", `{"defaultAction": "SCMP_ACT_DENY"}`, "amd64", `defaultAction: unknown action "SCMP_ACT_DENY" (known: SCMP_ACT_KILL,`},
		{"unknown rule action", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [` + rule + `, {"names": ["x"], "action": "allow"}]}`, "amd64", `syscalls[1]: unknown action "allow"`},
		{"bad action in a rule for another arch", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_NOPE", "includes": {"arches": ["s390x"]}}]}`, "amd64", `unknown action "SCMP_ACT_NOPE"`},
		{"unknown operator", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_IN"}]}]}`, "amd64", `args[0]: unknown operator "SCMP_CMP_IN"`},
		{"argument index", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`, "amd64", "index 6 is not below 6"},
		{"no names", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}`, "amd64", "syscalls[0]: no syscall names"},
		{"empty name", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_ALLOW"}]}`, "amd64", "empty syscall name"},
		{"null rule", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [null]}`, "amd64", "syscalls[0] is null"},
		{"name and names", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}`, "amd64", "both name and names"},
		{"architectures and archMap", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}]}`, "amd64", "both architectures and archMap"},
		{"arch not in archMap", `{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}]}`, "arm64", "architecture arm64 (SCMP_ARCH_AARCH64) is not in the profile's archMap (SCMP_ARCH_X86_64)"},
		{"unknown arch", `{"defaultAction": "SCMP_ACT_ERRNO"}`, "amd64p32", `unknown architecture "amd64p32"`},
		{"architecture runc 1.1 lacks", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_LOONGARCH64"]}`, "amd64", `architecture "SCMP_ARCH_LOONGARCH64" is not supported by runc 1.1`},
		{"unknown architecture name", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["x86_64"]}`, "amd64", `architecture "x86_64" is not supported`},
		{"flags", `{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}`, "amd64", "flags SECCOMP_FILTER_FLAG_SPEC_ALLOW: runc 1.1 supports no seccomp filter flags"},
		{"notify without listener", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mknod"], "action": "SCMP_ACT_NOTIFY"}]}`, "amd64", "SCMP_ACT_NOTIFY needs the profile's listenerPath"},
		{"notify for write", `{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/l", "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}`, "amd64", "SCMP_ACT_NOTIFY for write"},
		{"notify as default", `{"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/l"}`, "amd64", "as the default action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := seccomp.Load([]byte(tc.profile), specWith("CAP_SYS_ADMIN"), tc.arch)
			if err == nil {
				j, _ := json.Marshal(s)
				t.Fatalf("no error; got %s", j)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestLoadDefaultJSON loads moby's default profile in its JSON form, as
// a user would pass the module's default.json, and expects Default's
// result.
func TestLoadDefaultJSON(t *testing.T) {
	profile, err := json.Marshal(moby.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		got, err := seccomp.Load(profile, specWith(bundleCaps...), arch)
		if err != nil {
			t.Fatal(err)
		}
		want, err := seccomp.Default(specWith(bundleCaps...), arch)
		if err != nil {
			t.Fatal(err)
		}
		jg, _ := json.Marshal(got)
		jw, _ := json.Marshal(want)
		if !bytes.Equal(jg, jw) {
			t.Errorf("%s: Load(default profile JSON) differs from Default", arch)
		}
	}
}

// TestSchema checks that a bundle config with the result validates against
// the runtime-spec schema the bundles declare.
func TestSchema(t *testing.T) {
	v, err := schema.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		caps []string
		arch string
		load string
	}{
		{name: "amd64", arch: "amd64"},
		{name: "arm64", arch: "arm64"},
		{name: "amd64 CAP_SYS_ADMIN", arch: "amd64", caps: []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}},
		{name: "custom profile", arch: "amd64", load: `{"defaultAction": "SCMP_ACT_KILL", "syscalls": [{"name": "read", "action": "SCMP_ACT_ALLOW", "args": []}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := container.Options{Args: []string{"/bin/true"}, Arch: tc.arch}
			if tc.caps != nil {
				opts.Capabilities = &container.Capabilities{Bounding: tc.caps, Effective: tc.caps, Permitted: tc.caps}
			}
			spec, _, err := specconv.Config(opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.load != "" {
				spec.Linux.Seccomp, err = seccomp.Load([]byte(tc.load), spec, tc.arch)
			} else {
				spec.Linux.Seccomp, err = seccomp.Default(spec, tc.arch)
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.caps != nil && !allowed(spec.Linux.Seccomp, "mount") {
				t.Error("the bundle's CAP_SYS_ADMIN did not allow mount")
			}
			config, err := specconv.MarshalConfig(spec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(config, []byte(`"seccomp"`)) {
				t.Fatal("config has no seccomp section")
			}
			if err := v.Validate(config); err != nil {
				t.Fatal(err)
			}
		})
	}
}
