package validate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/specconv"
	"github.com/oci-builder/oci-builder/pkg/validate"
)

// goodBundle writes a valid bundle: a rootfs with an executable script, its
// interpreter, the system mountpoints and /data for a bind mount of a host
// directory.
func goodBundle(t *testing.T) (string, *specs.Spec) {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"proc", "dev", "sys", "data", "bin", "srv", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(rootfs, "bin/sh"), []byte("\x7fELF"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "bin/script"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.Symlink("/bin/script", filepath.Join(rootfs, "bin/link"))
	os.WriteFile(filepath.Join(rootfs, "etc/hosts"), nil, 0o444)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "tool"), []byte("\x7fELF"), 0o755)
	hostFile := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hostFile, []byte("127.0.0.1 localhost\n"), 0o644)

	spec, _, err := specconv.Config(container.Options{
		Args:   []string{"/bin/link", "arg"},
		Env:    map[string]string{"PATH": "/bin:/data"},
		Mounts: []container.Mount{{Destination: "/data", Source: host}, {Destination: "/etc/hosts", Source: hostFile, IsFile: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, spec
}

func write(t *testing.T, dir string, spec *specs.Spec) {
	t.Helper()
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestValidBundle(t *testing.T) {
	dir, spec := goodBundle(t)
	write(t, dir, spec)
	r := validate.Bundle(dir, "/nix/store")
	if !r.Valid() || r.SchemaVersion != "1.3.0" || r.Program != "/bin/link" {
		t.Fatalf("report %+v", r)
	}
	// A program found through PATH, in a bind mount.
	spec.Process.Args = []string{"tool"}
	write(t, dir, spec)
	if r := validate.Bundle(dir, "/nix/store"); !r.Valid() || r.Program != "/data/tool" {
		t.Fatalf("report %+v", r)
	}
}

// TestBrokenBundles breaks a good bundle in one way per case and checks
// the problems reported, all of them. "[LAST]" in a problem stands for the
// index of the last mount.
func TestBrokenBundles(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, dir string, s *specs.Spec)
		want   []string
	}{
		{"root missing", func(t *testing.T, dir string, s *specs.Spec) { s.Root.Path = "nowhere" },
			[]string{`root.path "nowhere": no such file or directory`}},
		{"root a file", func(t *testing.T, dir string, s *specs.Spec) {
			os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
			s.Root.Path = "file"
		}, []string{`root.path "file" is not a directory`}},
		{"program missing", func(t *testing.T, dir string, s *specs.Spec) { s.Process.Args = []string{"/bin/nope"} },
			[]string{`process.args[0] "/bin/nope" does not exist in the container`}},
		{"program not executable", func(t *testing.T, dir string, s *specs.Spec) {
			os.Chmod(filepath.Join(dir, "rootfs/bin/sh"), 0o644)
			s.Process.Args = []string{"/bin/sh"}
		}, []string{`process.args[0] "/bin/sh" is not executable`}},
		{"program a directory", func(t *testing.T, dir string, s *specs.Spec) { s.Process.Args = []string{"/srv"} },
			[]string{`process.args[0] "/srv" is not a regular file`}},
		{"program not in PATH", func(t *testing.T, dir string, s *specs.Spec) { s.Process.Args = []string{"missing"} },
			[]string{`process.args[0] "missing" is not found in the container's PATH "/bin:/data"`}},
		{"interpreter missing", func(t *testing.T, dir string, s *specs.Spec) {
			os.WriteFile(filepath.Join(dir, "rootfs/bin/script"), []byte("#!/usr/bin/env python\n"), 0o755)
		}, []string{`the interpreter of /bin/link "/usr/bin/env" does not exist in the container`}},
		{"empty args", func(t *testing.T, dir string, s *specs.Spec) { s.Process.Args = nil },
			[]string{"process.args is empty: there is no program to run"}},
		{"relative cwd", func(t *testing.T, dir string, s *specs.Spec) { s.Process.Cwd = "srv" },
			[]string{`process.cwd "srv" is not an absolute path`}},
		{"missing cwd", func(t *testing.T, dir string, s *specs.Spec) { s.Process.Cwd = "/opt/app" },
			[]string{`process.cwd "/opt/app" is not a directory in the container`}},
		{"relative destination", func(t *testing.T, dir string, s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "rel", Type: "tmpfs", Source: "tmpfs"})
		}, []string{"mounts[LAST] (rel): destination is not an absolute path"}},
		{"missing mountpoint and bind source", func(t *testing.T, dir string, s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/cache", Type: "none", Source: "/no/such/dir", Options: []string{"rbind"}})
		}, []string{`mounts[LAST] (/cache): bind source "/no/such/dir": no such file or directory`, "mounts[LAST] (/cache): mountpoint does not exist in the rootfs"}},
		{"file source on directory mountpoint", func(t *testing.T, dir string, s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv", Type: "bind", Source: "/etc/hostname", Options: []string{"bind"}})
		}, []string{"mounts[LAST] (/srv): bind source is a file but the mountpoint is a directory"}},
		{"dot-dot destination", func(t *testing.T, dir string, s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv/../etc", Type: "tmpfs", Source: "tmpfs"})
		}, []string{`mounts[LAST] (/srv/../etc): destination contains ".."`}},
		{"user namespace without mappings", func(t *testing.T, dir string, s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, []string{"linux.uidMappings: a user namespace is used but no uid is mapped", "linux.gidMappings: a user namespace is used but no gid is mapped"}},
		{"unmapped ids", func(t *testing.T, dir string, s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5}}
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 1000, Size: 1}, {ContainerID: 1000, HostID: 2000, Size: 5}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1000, HostID: 1000, Size: 1}}
		}, []string{
			"linux.uidMappings[0] and [1] overlap inside the container",
			"linux.uidMappings: container uid 0 is not mapped (the runtime needs container root)",
			"linux.gidMappings[0] and [1] overlap on the host",
			"linux.gidMappings: the process's gid 5 is not mapped",
		}},
		{"mappings without user namespace", func(t *testing.T, dir string, s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, []string{"linux.uidMappings/gidMappings are set but there is no user namespace"}},
		{"hostname without uts", func(t *testing.T, dir string, s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:2]
		}, []string{"hostname is set but there is no uts namespace to set it in"}},
		{"schema and root together", func(t *testing.T, dir string, s *specs.Spec) {
			s.Root.Path = "nowhere"
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, []string{
			"config.json does not match the runtime-spec 1.3.0 schema: /linux/namespaces/5/type: value must be one of 'mount', 'pid', 'network', 'uts', 'ipc', 'user', 'cgroup', 'time'",
			`root.path "nowhere": no such file or directory`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, spec := goodBundle(t)
			tc.break_(t, dir, spec)
			write(t, dir, spec)
			r := validate.Bundle(dir, "/nix/store")
			last := fmt.Sprintf("[%d]", len(spec.Mounts)-1)
			for i := range tc.want {
				tc.want[i] = strings.ReplaceAll(tc.want[i], "[LAST]", last)
			}
			if !reflect.DeepEqual(r.Problems, tc.want) {
				t.Fatalf("problems\n%s\nwant\n%s", strings.Join(r.Problems, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestUnreadableConfigs(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"missing", "", "config.json: no such file or directory"},
		{"not json", "{", "config.json: not valid JSON: unexpected end of JSON input"},
		{"an array", "[]", "config.json: not a JSON object but a JSON array"},
		{"a number for the version", `{"ociVersion":5}`, "config.json: ociVersion is a JSON number, not a string"},
		{"unknown version", `{"ociVersion":"9.0.0","root":{"path":"rootfs"}}`, `config.json: no schema for ociVersion "9.0.0"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.config != "" {
				os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o644)
			}
			r := validate.Bundle(dir, "/nix/store")
			if r.Valid() || !strings.HasPrefix(r.Problems[0], tc.want) {
				t.Fatalf("problems %q, want %q first", r.Problems, tc.want)
			}
		})
	}
}

// TestNixpkgsConfig validates the config nixpkgs' buildContainer writes: its
// ociVersion 1.0.0 is checked against the 1.0.2 schema, which rejects the
// null options.
func TestNixpkgsConfig(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("../schema/testdata/nixpkgs-config.json")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
	os.Mkdir(filepath.Join(dir, "rootfs"), 0o755)
	r := validate.Bundle(dir, "/nix/store")
	if r.SchemaVersion != "1.0.2" || len(r.Problems) == 0 || r.Problems[0] != "config.json does not match the runtime-spec 1.0.2 schema: /mounts/4/options: got null, want array" {
		t.Fatalf("report %+v", r)
	}
}

// defaultSpec is the configuration the builder writes by default.
func defaultSpec(t *testing.T) *specs.Spec {
	t.Helper()
	spec, _, err := specconv.Config(container.Options{Args: []string{"/bin/sh"}})
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// seccompProfile is a small profile with a rule of each kind runc 1.1
// accepts.
func seccompProfile() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		ListenerPath:  "/run/agent.sock",
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
			{Names: []string{"mount"}, Action: specs.ActNotify},
			{Names: []string{"reboot"}, Action: specs.ActKillProcess},
			{Names: []string{"ptrace"}, Action: specs.ActLog},
		},
	}
}

// TestSpecValid checks configurations runc 1.1 runs.
func TestSpecValid(t *testing.T) {
	tests := []struct {
		name   string
		config func(t *testing.T) *specs.Spec
	}{
		{"default", defaultSpec},
		{"rootless", func(t *testing.T) *specs.Spec {
			uid, gid := uint32(1000), uint32(100)
			spec, _, err := specconv.Config(container.Options{Args: []string{"/bin/sh"}, User: &container.ID{Num: &uid}, Group: &container.ID{Num: &gid},
				Rootless: &container.RootlessIDs{UID: 1000, GID: 100, SubUIDs: &container.IDRange{Start: 100000, Count: 65536}, SubGIDs: &container.IDRange{Start: 100000, Count: 65536}}})
			if err != nil {
				t.Fatal(err)
			}
			return spec
		}},
		{"rootless without subordinate ids", func(t *testing.T) *specs.Spec {
			spec, _, err := specconv.Config(container.Options{Args: []string{"/bin/sh"}, Rootless: &container.RootlessIDs{UID: 1000, GID: 100}})
			if err != nil {
				t.Fatal(err)
			}
			return spec
		}},
		{"seccomp", func(t *testing.T) *specs.Spec {
			spec := defaultSpec(t)
			spec.Linux.Seccomp = seccompProfile()
			return spec
		}},
		{"capabilities and limits at their bounds", func(t *testing.T) *specs.Spec {
			spec := defaultSpec(t)
			p := spec.Process
			p.User = specs.User{UID: 2147483647, GID: 2147483647, AdditionalGids: []uint32{0, 2147483647}}
			// Permitted beyond bounding is accepted: execve drops it.
			p.Capabilities.Permitted = append(p.Capabilities.Permitted, "CAP_SYS_ADMIN")
			p.Capabilities.Inheritable = []string{"CAP_KILL"}
			p.Capabilities.Ambient = []string{"CAP_KILL"}
			p.Rlimits = append(p.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_CORE", Soft: 0, Hard: 1 << 20})
			p.Args = append(p.Args, strings.Repeat("a", 131071))
			p.Env = append(p.Env, "BIG="+strings.Repeat("b", 131071-4), "MULTI=line one\nline two")
			spec.Domainname = "example.org"
			spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/srv", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=0755", "size=1m"}})
			return spec
		}},
		{"no linux section and no hostname", func(t *testing.T) *specs.Spec {
			spec := defaultSpec(t)
			spec.Linux, spec.Hostname = nil, ""
			return spec
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if problems := validate.Spec(tc.config(t)); len(problems) != 0 {
				t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
			}
		})
	}
}

// TestSpecProblems breaks the default configuration in one way per case;
// Spec must report that one problem.
func TestSpecProblems(t *testing.T) {
	big := strings.Repeat("x", 131071)
	tests := []struct {
		name   string
		break_ func(s *specs.Spec)
		want   string
	}{
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process is missing"},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path is missing"},
		{"empty root path", func(s *specs.Spec) { s.Root.Path = "" }, "root.path is missing"},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args is empty"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "srv" }, `process.cwd "srv" is not an absolute path`},

		{"uid -1", func(s *specs.Spec) { s.Process.User.UID = 4294967295 }, "process.user.uid 4294967295 is out of range"},
		{"uid 2^31", func(s *specs.Spec) { s.Process.User.UID = 1 << 31 }, "process.user.uid 2147483648 is out of range"},
		{"gid -1", func(s *specs.Spec) { s.Process.User.GID = 4294967295 }, "process.user.gid 4294967295 is out of range"},
		{"additional gid -1", func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{5, 4294967295} },
			"process.user.additionalGids[1] 4294967295 is out of range"},

		{"effective not permitted", func(s *specs.Spec) {
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_CHOWN")
		}, "process.capabilities.effective has CAP_CHOWN, which is not in permitted"},
		{"inheritable not bounding", func(s *specs.Spec) { s.Process.Capabilities.Inheritable = []string{"CAP_CHOWN"} },
			"process.capabilities.inheritable has CAP_CHOWN, which is not in bounding"},
		{"ambient not inheritable", func(s *specs.Spec) { s.Process.Capabilities.Ambient = []string{"CAP_KILL"} },
			"process.capabilities.ambient has CAP_KILL, which is not in inheritable"},
		{"ambient not permitted", func(s *specs.Spec) {
			c := s.Process.Capabilities
			c.Bounding = append(c.Bounding, "CAP_CHOWN")
			c.Inheritable, c.Ambient = []string{"CAP_CHOWN"}, []string{"CAP_CHOWN"}
		}, "process.capabilities.ambient has CAP_CHOWN, which is not in permitted"},
		{"unknown capability", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FLY")
		}, `process.capabilities.bounding[3] "CAP_FLY" is not a known capability`},
		{"lowercase capability", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "cap_chown")
		}, `"cap_chown" is not a known capability`},

		{"argument too long", func(s *specs.Spec) { s.Process.Args = append(s.Process.Args, big+"x") },
			"process.args[1] is 131072 bytes, over the 131071 bytes"},
		{"variable too long", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "X="+big) },
			"process.env[1] \"X=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"... is 131073 bytes, over the 131071 bytes"},
		{"arguments too long together", func(s *specs.Spec) {
			for range 16 {
				s.Process.Args = append(s.Process.Args, big)
			}
		}, "process.args and process.env take 2097331 bytes (each string with its NUL, 8 per pointer), over the 2084576 allowed: execve accepts 2097152 with RLIMIT_STACK 8388608"},
		{"arguments too long for a small stack", func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_STACK", Soft: 1 << 20, Hard: 1 << 20})
			s.Process.Args = append(s.Process.Args, big, big)
		}, "over the 249568 allowed: execve accepts 262144 with RLIMIT_STACK 1048576"},
		{"NUL in an argument", func(s *specs.Spec) { s.Process.Args = append(s.Process.Args, "a\x00b") },
			`process.args[1] "a\x00b" contains a NUL byte`},

		{"variable without =", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "NOEQ") },
			`process.env[1] "NOEQ" is not NAME=VALUE`},
		{"variable with empty name", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "=x") },
			`process.env[1] "=x" has an empty name`},
		{"newline in a name", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "A\nB=x") },
			`process.env[1] name "A\nB" contains a control character`},
		{"NUL in a name", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "A\x00B=x") },
			`process.env[1] name "A\x00B" contains a control character`},
		{"NUL in a value", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "A=x\x00y") },
			"process.env[1] (A) value contains a NUL byte"},
		{"variable not UTF-8", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "A=\xff") },
			`process.env[1] "A=\xff" is not valid UTF-8`},

		{"hostname without uts", func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:2] },
			"hostname is set but there is no uts namespace to set it in"},
		{"hostname without linux", func(s *specs.Spec) { s.Linux = nil },
			"hostname is set but there is no uts namespace to set it in"},
		{"domainname without uts", func(s *specs.Spec) {
			s.Hostname, s.Domainname, s.Linux.Namespaces = "", "example.org", s.Linux.Namespaces[:2]
		}, "domainname is set but there is no uts namespace to set it in"},
		{"hostname too long", func(s *specs.Spec) { s.Hostname = strings.Repeat("h", 65) },
			"is 65 bytes, over the 64 sethostname accepts"},
		{"namespace twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "linux.namespaces: pid is listed twice"},
		{"time namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}, `linux.namespaces[5].type "time" is not a namespace runc 1.1 supports`},
		{"mappings without user namespace", func(s *specs.Spec) {
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, "linux.uidMappings/gidMappings are set but there is no user namespace"},
		{"user namespace without mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, "linux.gidMappings: a user namespace is used but no gid is mapped"},

		{"unknown rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_FUN"})
		}, `process.rlimits[1].type "RLIMIT_FUN" is not a known resource limit`},
		{"soft above hard", func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 4096 },
			"process.rlimits[0] (RLIMIT_NOFILE): soft limit 4096 is above the hard limit 1024"},
		{"rlimit twice", func(s *specs.Spec) { s.Process.Rlimits = append(s.Process.Rlimits, s.Process.Rlimits[0]) },
			"process.rlimits[1]: RLIMIT_NOFILE is listed twice"},

		{"mount at the root", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/", Type: "tmpfs", Source: "tmpfs"})
		}, "(/): destination is the root directory"},
		{"mount at a relative path", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "srv", Type: "tmpfs", Source: "tmpfs"})
		}, "(srv): destination is not an absolute path"},
		{"mount through ..", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv/..", Type: "tmpfs", Source: "tmpfs"})
		}, `(/srv/..): destination contains ".."`},
		{"mount options joined", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid,nodev"}})
		}, `(/srv): option "nosuid,nodev" is not a single mount option`},
		{"empty mount option", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", ""}})
		}, `(/srv): option "" is not a single mount option`},
		{"bind type without bind option", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv", Type: "bind", Source: "/srv", Options: []string{"ro"}})
		}, `(/srv): type "bind" without a "bind" or "rbind" option`},

		{"seccomp default action", func(s *specs.Spec) { s.Linux.Seccomp.DefaultAction = "SCMP_ACT_DENY" },
			`linux.seccomp.defaultAction "SCMP_ACT_DENY" is not a seccomp action runc 1.1 accepts`},
		{"seccomp notify by default", func(s *specs.Spec) { s.Linux.Seccomp.DefaultAction = specs.ActNotify },
			"linux.seccomp.defaultAction is SCMP_ACT_NOTIFY, which runc 1.1 refuses as the default action"},
		{"seccomp rule action", func(s *specs.Spec) { s.Linux.Seccomp.Syscalls[3].Action = "SCMP_ACT_KILL_ALL" },
			`linux.seccomp.syscalls[3].action "SCMP_ACT_KILL_ALL" is not a seccomp action runc 1.1 accepts`},
		{"seccomp notify without listener", func(s *specs.Spec) { s.Linux.Seccomp.ListenerPath = "" },
			"linux.seccomp.syscalls[2].action is SCMP_ACT_NOTIFY, which needs linux.seccomp.listenerPath"},
		{"seccomp notify for write", func(s *specs.Spec) { s.Linux.Seccomp.Syscalls[2].Names = []string{"mount", "write"} },
			"linux.seccomp.syscalls[2].action is SCMP_ACT_NOTIFY, which runc 1.1 refuses for the write syscall"},
		{"seccomp rule without names", func(s *specs.Spec) { s.Linux.Seccomp.Syscalls[3].Names = nil },
			"linux.seccomp.syscalls[3].names is empty"},
		{"seccomp architecture", func(s *specs.Spec) { s.Linux.Seccomp.Architectures = []specs.Arch{specs.ArchRISCV64} },
			`linux.seccomp.architectures[0] "SCMP_ARCH_RISCV64" is not an architecture runc 1.1 knows`},
		{"seccomp operator", func(s *specs.Spec) { s.Linux.Seccomp.Syscalls[1].Args[0].Op = "SCMP_CMP_LIKE" },
			`linux.seccomp.syscalls[1].args[0].op "SCMP_CMP_LIKE" is not a comparison runc 1.1 accepts`},
		{"seccomp argument index", func(s *specs.Spec) { s.Linux.Seccomp.Syscalls[1].Args[0].Index = 6 },
			"linux.seccomp.syscalls[1].args[0].index 6 is not an argument index"},
		{"seccomp flags", func(s *specs.Spec) { s.Linux.Seccomp.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog} },
			"linux.seccomp.flags is set, and runc 1.1 supports no seccomp flags"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := defaultSpec(t)
			if spec.Linux != nil {
				spec.Linux.Seccomp = seccompProfile()
			}
			tc.break_(spec)
			problems := validate.Spec(spec)
			if len(problems) != 1 || !strings.Contains(problems[0], tc.want) {
				t.Fatalf("problems\n%s\nwant one with %q", strings.Join(problems, "\n"), tc.want)
			}
		})
	}
	if problems := validate.Spec(nil); len(problems) != 1 {
		t.Errorf("a nil configuration: problems %q", problems)
	}
}

// TestSpecInBundle checks that Bundle reports Spec's problems, and once
// where the schema finds the same field wrong.
func TestSpecInBundle(t *testing.T) {
	dir, spec := goodBundle(t)
	spec.Process.User.UID = 4294967295
	spec.Linux.Seccomp = seccompProfile()
	spec.Linux.Seccomp.Syscalls[3].Action = "SCMP_ACT_KILL_ALL"
	write(t, dir, spec)
	r := validate.Bundle(dir, "/nix/store")
	want := []string{
		"config.json does not match the runtime-spec 1.3.0 schema: /linux/seccomp/syscalls/3/action: value must be one of 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY'",
		"process.user.uid 4294967295 is out of range (0 to 2147483647)",
	}
	if !reflect.DeepEqual(r.Problems, want) {
		t.Fatalf("problems\n%s\nwant\n%s", strings.Join(r.Problems, "\n"), strings.Join(want, "\n"))
	}
}

// bindStoreBundle writes a bundle as storeMode "bind" makes it: a rootfs
// with an empty nix/store, and a config that mounts a tmpfs there and
// bind-mounts store paths read-only from a store elsewhere, here x and y
// but not the missing one. x has a program, a script whose interpreter is
// in the missing path, and symlinks to y and to the missing path.
func bindStoreBundle(t *testing.T) (dir string, spec *specs.Spec, x, y, missing string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{"proc", "dev", "sys", "nix/store", "opt"} {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	x = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"
	y = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-y"
	missing = "/nix/store/cccccccccccccccccccccccccccccccc-missing"
	hostStore := filepath.Join(dir, "host")
	files := []struct {
		path, data, link string
	}{
		{path: x + "/bin/prog", data: "\x7fELF"},
		{path: x + "/bin/script", data: "#!" + missing + "/bin/sh\n"},
		{path: x + "/bin/to-y", link: "../../" + path.Base(y) + "/bin/tool"},
		{path: x + "/bin/to-missing", link: missing + "/bin/tool"},
		{path: y + "/bin/tool", data: "\x7fELF"},
		{path: "/rootfs/opt/tool", data: "\x7fELF"},
	}
	for _, f := range files {
		host := filepath.Join(hostStore, f.path)
		if strings.HasPrefix(f.path, "/rootfs/") {
			host = filepath.Join(dir, f.path)
		}
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if f.link != "" {
			err = os.Symlink(f.link, host)
		} else {
			err = os.WriteFile(host, []byte(f.data), 0o555)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	spec = defaultSpec(t)
	spec.Process.Args = []string{x + "/bin/prog"}
	spec.Mounts = append(spec.Mounts, specs.Mount{
		Destination: "/nix/store", Type: "tmpfs", Source: "tmpfs",
		Options: []string{"nosuid", "nodev", "noexec", "mode=0555", "nr_inodes=3"},
	})
	for _, p := range []string{x, y} {
		spec.Mounts = append(spec.Mounts, specs.Mount{
			Destination: p, Type: "none", Source: filepath.Join(hostStore, p),
			Options: []string{"rbind", "ro", "nosuid", "nodev"},
		})
	}
	return dir, spec, x, y, missing
}

// TestBindStore checks programs, interpreters, working directories and
// PATH lookups through the bind mounts of storeMode "bind" and in the tmpfs
// under them, where only their mountpoints exist.
func TestBindStore(t *testing.T) {
	tests := []struct {
		name    string
		change  func(s *specs.Spec, x, y, missing string)
		program string   // Report.Program when valid, "{x}" standing for x
		want    []string // the problems, "{x}" and "{missing}" standing for x and missing
	}{
		{"program in a bound path", func(s *specs.Spec, x, y, missing string) {}, "{x}/bin/prog", nil},
		{"program found through PATH", func(s *specs.Spec, x, y, missing string) {
			s.Process.Args = []string{"prog"}
			s.Process.Env = append(s.Process.Env, "PATH="+missing+"/bin:"+x+"/bin")
		}, "{x}/bin/prog", nil},
		{"symlink to another bound path", func(s *specs.Spec, x, y, missing string) {
			s.Process.Args = []string{x + "/bin/to-y"}
		}, "{x}/bin/to-y", nil},
		{"working directory a bound path or the store", func(s *specs.Spec, x, y, missing string) {
			s.Process.Cwd = "/nix/store"
			s.Process.Args = []string{"../.." + x + "/bin/prog"}
		}, "{x}/bin/prog", nil},
		{"bind source relative to the bundle", func(s *specs.Spec, x, y, missing string) {
			s.Mounts[len(s.Mounts)-2].Source = "host" + x
		}, "{x}/bin/prog", nil},
		{"tmpfs with tmpcopyup holds the rootfs's files", func(s *specs.Spec, x, y, missing string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/opt", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup"}})
			s.Process.Args = []string{"/opt/tool"}
		}, "/opt/tool", nil},
		{"working directory in proc", func(s *specs.Spec, x, y, missing string) {
			s.Process.Cwd = "/proc/sys"
		}, "{x}/bin/prog", nil},

		{"store path not bound", func(s *specs.Spec, x, y, missing string) {
			s.Process.Args = []string{missing + "/bin/x"}
		}, "", []string{`process.args[0] "{missing}/bin/x" does not exist in the container: it lies in the tmpfs mounted at /nix/store`}},
		{"missing file in a bound path", func(s *specs.Spec, x, y, missing string) {
			s.Process.Args = []string{x + "/bin/nope"}
		}, "", []string{`process.args[0] "{x}/bin/nope" does not exist in the container`}},
		{"interpreter in a path not bound", func(s *specs.Spec, x, y, missing string) {
			s.Process.Args = []string{x + "/bin/script"}
		}, "", []string{`the interpreter of {x}/bin/script "{missing}/bin/sh" does not exist in the container: it lies in the tmpfs mounted at /nix/store`}},
		{"symlink to a path not bound", func(s *specs.Spec, x, y, missing string) {
			s.Process.Args = []string{x + "/bin/to-missing"}
		}, "", []string{`process.args[0] "{x}/bin/to-missing" does not exist in the container: it lies in the tmpfs mounted at /nix/store`}},
		{"the store directory as the program", func(s *specs.Spec, x, y, missing string) {
			s.Process.Args = []string{"/nix/store"}
		}, "", []string{`process.args[0] "/nix/store" is not a regular file`}},
		{"PATH only through paths not bound", func(s *specs.Spec, x, y, missing string) {
			s.Process.Args = []string{"prog"}
			s.Process.Env = append(s.Process.Env, "PATH="+missing+"/bin")
		}, "", []string{`process.args[0] "prog" is not found in the container's PATH "{missing}/bin"`}},
		{"working directory not bound", func(s *specs.Spec, x, y, missing string) {
			s.Process.Cwd = missing
		}, "", []string{`process.cwd "{missing}" is not a directory in the container: it lies in the tmpfs mounted at /nix/store`}},
		{"tmpfs without tmpcopyup is empty", func(s *specs.Spec, x, y, missing string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/opt", Type: "tmpfs", Source: "tmpfs"})
			s.Process.Args = []string{"/opt/tool"}
		}, "", []string{`process.args[0] "/opt/tool" does not exist in the container: it lies in the tmpfs mounted at /opt`}},
		{"program in the /dev/shm tmpfs", func(s *specs.Spec, x, y, missing string) {
			s.Process.Args = []string{"/dev/shm/prog"}
		}, "", []string{`process.args[0] "/dev/shm/prog" does not exist in the container: it lies in the tmpfs mounted at /dev/shm`}},
		{"noexec tmpfs with tmpcopyup", func(s *specs.Spec, x, y, missing string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/opt", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "noexec"}})
			s.Process.Args = []string{"/opt/tool"}
		}, "", []string{`process.args[0] "/opt/tool" is not executable: the mount at /opt has the noexec option`}},
		{"noexec bind mount", func(s *specs.Spec, x, y, missing string) {
			m := &s.Mounts[len(s.Mounts)-2]
			m.Options = append(m.Options, "noexec")
		}, "", []string{`process.args[0] "{x}/bin/prog" is not executable: the mount at {x} has the noexec option`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, spec, x, y, missing := bindStoreBundle(t)
			tc.change(spec, x, y, missing)
			write(t, dir, spec)
			r := validate.Bundle(dir, "/nix/store")
			expand := strings.NewReplacer("{x}", x, "{missing}", missing).Replace
			var want []string
			for _, w := range tc.want {
				want = append(want, expand(w))
			}
			if !reflect.DeepEqual(r.Problems, want) {
				t.Fatalf("problems\n%s\nwant\n%s", strings.Join(r.Problems, "\n"), strings.Join(want, "\n"))
			}
			if r.Valid() && r.Program != expand(tc.program) {
				t.Fatalf("program %q, want %q", r.Program, expand(tc.program))
			}
		})
	}
}

// TestAtBuild: a bind source missing where the bundle is built (a host
// path, absent in a Nix sandbox) is a problem for Bundle, not for AtBuild,
// which cannot see under it.
func TestAtBuild(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rootfs", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"/data/prog"}, Cwd: "/"},
		Mounts:  []specs.Mount{{Destination: "/data", Type: "bind", Source: filepath.Join(dir, "absent"), Options: []string{"rbind"}}},
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := validate.Bundle(dir, "/nix/store"); r.Valid() {
		t.Fatal("Bundle accepts a missing bind source")
	}
	if r := validate.AtBuild(dir, "/nix/store"); !r.Valid() {
		t.Fatalf("AtBuild: %q", r.Problems)
	}
}

// TestWeakenings checks that validate reports, as warnings that leave the
// bundle valid, each setting that lets the container past a bundle's
// protections, and none for a bundle without them.
func TestWeakenings(t *testing.T) {
	base := func(t *testing.T) (string, *specs.Spec) {
		dir, spec := goodBundle(t)
		// Read-only mounts, as a build makes them.
		for i := range spec.Mounts {
			if spec.Mounts[i].Type == "none" {
				spec.Mounts[i].Options = append(spec.Mounts[i].Options, "ro", "rro")
			}
		}
		return dir, spec
	}
	bindOf := func(dest, source string, options ...string) specs.Mount {
		return specs.Mount{Destination: dest, Type: "none", Source: source, Options: append([]string{"rbind"}, options...)}
	}
	tests := []struct {
		name   string
		change func(*specs.Spec)
		want   string // "" for no warning
	}{
		{"none", func(*specs.Spec) {}, ""},
		{"writable root", func(s *specs.Spec) { s.Root.Readonly = false }, "root.readonly is false"},
		{"CAP_SYS_ADMIN", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		}, "process.capabilities has CAP_SYS_ADMIN"},
		{"CAP_SYS_MODULE", func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_SYS_MODULE"} }, "process.capabilities has CAP_SYS_MODULE"},
		{"CAP_DAC_READ_SEARCH, read-only mounts", func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_DAC_READ_SEARCH"} }, ""},
		{"CAP_DAC_READ_SEARCH, a writable mount", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = []string{"CAP_DAC_READ_SEARCH"}
			s.Mounts = append(s.Mounts, bindOf("/srv", "/var/lib"))
		}, "process.capabilities has CAP_DAC_READ_SEARCH with the writable mount /srv"},
		{"readonlyPaths emptied", func(s *specs.Spec) { s.Linux.ReadonlyPaths = nil }, "linux.readonlyPaths lacks /proc/bus, /proc/fs, /proc/irq, /proc/sys, /proc/sysrq-trigger"},
		{"maskedPaths emptied", func(s *specs.Spec) { s.Linux.MaskedPaths = []string{} }, "linux.maskedPaths lacks /proc/acpi"},
		{"a hook", func(s *specs.Spec) { s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/sh"}}} }, "hooks.prestart[0] runs /bin/sh on the host"},
		{"the start check", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, bindOf("/srv", "/var/lib"))
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/nix/store/x-oci-builder/bin/oci-builder", Args: []string{"oci-builder", "check-mounts", "--store-dir", "/nix/store", "--", "/var/lib"}}}}
		}, ""},
		{"a writable bind no start check covers", func(s *specs.Spec) { s.Mounts = append(s.Mounts, bindOf("/srv", "/var/lib")) }, "mounts[12] (/srv): source /var/lib is mounted writable and nothing checks when the container starts"},
		{"a writable bind of the store", func(s *specs.Spec) { s.Mounts = append(s.Mounts, bindOf("/srv", "/nix/store", "rw")) }, "mounts[12] (/srv): source /nix/store may reach the store (it is or holds the store) and is mounted writable"},
		{"a writable bind of a /proc link", func(s *specs.Spec) { s.Mounts = append(s.Mounts, bindOf("/srv", "/proc/self/root")) }, "mounts[12] (/srv): source /proc/self/root may reach the store"},
		{"a writable relative bind", func(s *specs.Spec) { s.Mounts = append(s.Mounts, bindOf("/srv", "rootfs")) }, "mounts[12] (/srv): source rootfs may reach the store (a relative source"},
		{"a read-only bind of / that is not recursive", func(s *specs.Spec) { s.Mounts = append(s.Mounts, bindOf("/srv", "/", "ro")) }, "mounts[12] (/srv): read-only but not recursively"},
		{"no pid namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.PIDNamespace })
		}, "linux.namespaces has no pid namespace: the container sees the host's processes"},
		{"the host's pid namespace joined", func(s *specs.Spec) {
			for i := range s.Linux.Namespaces {
				if s.Linux.Namespaces[i].Type == specs.PIDNamespace {
					s.Linux.Namespaces[i].Path = "/proc/1/ns/pid"
				}
			}
		}, "joins the pid namespace at /proc/1/ns/pid, which may be the host's"},
		{"a block device", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv", Type: "ext4", Source: "/dev/vda"})
		}, "mounts[12] (/srv): a filesystem (type ext4) from the host's /dev/vda"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, spec := base(t)
			tc.change(spec)
			write(t, dir, spec)
			r := validate.Bundle(dir, "/nix/store")
			warned := strings.Join(r.Warnings, "\n")
			if tc.want == "" && warned != "" || !strings.Contains(warned, tc.want) {
				t.Fatalf("warnings %q, want %q", warned, tc.want)
			}
			// Weakenings are no problems (the mounts' own may be: their
			// sources, absent here).
			for _, p := range r.Problems {
				if !strings.Contains(p, "(/srv)") {
					t.Errorf("problem %q", p)
				}
			}
		})
	}
}
