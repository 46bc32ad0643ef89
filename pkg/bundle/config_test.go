package bundle_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestConfigGolden compares config.json for a set of options with the files
// in testdata/golden; run with -update to rewrite them after a deliberate
// change, then review the diff.
func TestConfigGolden(t *testing.T) {
	v, err := schema.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts bundle.Options
	}{
		{"nixpkgs-defaults", bundle.Options{Args: []string{"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bash-5.2/bin/bash"}, OS: "linux", Arch: "x86_64"}},
		{"mounts-readonly", bundle.Options{
			Args:     []string{"/bin/sh", "-c", "cat /data/f"},
			Readonly: ptr(false),
			Arch:     "aarch64",
			Mounts: []bundle.Mount{
				{Destination: "/var/data/", Source: "/srv/data", Options: []string{"ro"}},
				{Destination: "/data", Type: "none", Source: "/var/lib/mydata", Options: []string{"bind"}},
				{Destination: "/etc/resolv.conf", Source: "/etc/resolv.conf", IsFile: true},
				{Destination: "/dev/shm", Type: "tmpfs", Options: []string{"nosuid", "nodev", "size=1g"}},
				{Destination: "/scratch", Type: "tmpfs"},
			},
		}},
		{"everything", bundle.Options{
			Args:         []string{"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app/bin/app", "--serve"},
			Arch:         "amd64",
			Env:          map[string]string{"PATH": "/custom/bin", "LANG": "C.UTF-8"},
			WorkingDir:   "/srv/app/",
			Hostname:     "web-1",
			Terminal:     true,
			User:         &bundle.ID{Name: "app"},
			ExtraGroups:  map[string]bundle.GroupEntry{"audio": {GID: 29, Members: []string{"app"}}},
			Capabilities: &bundle.Capabilities{Bounding: []string{"net_bind_service", "CAP_CHOWN"}, Effective: []string{"NET_BIND_SERVICE"}, Permitted: []string{"NET_BIND_SERVICE"}},
			Rlimits:      map[string]bundle.Rlimit{"nofile": {Soft: 4096, Hard: 8192}, "RLIMIT_NPROC": {Soft: 100, Hard: 100}},
			Network:      "host",
			Resources:    &bundle.Resources{Memory: ptr(bundle.Size(256 << 20)), CPU: ptr(0.5), Pids: ptr(int64(64))},
			Annotations:  map[string]string{"org.example/owner": "team"},
			ExtraConfig:  []byte(`{"process":{"oomScoreAdj":100},"linux":{"sysctl":{"net.ipv4.ip_forward":"0"},"maskedPaths":null}}`),
		}},
		{"rootless", bundle.Options{
			Args:      []string{"/bin/app"},
			Arch:      "x86_64",
			User:      ptr(bundle.ID{Num: ptr(uint32(1000))}),
			Resources: &bundle.Resources{Pids: ptr(int64(10))},
			Rootless:  &bundle.RootlessIDs{UID: 1234, GID: 100, SubUIDs: &bundle.IDRange{Start: 100000, Count: 65536}, SubGIDs: &bundle.IDRange{Start: 200000, Count: 65536}},
			Tmp:       ptr(false),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := bundle.Config(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bundle.MarshalConfig(spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Validate(got); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(got, []byte("null")) || bytes.Contains(got, []byte(`"platform"`)) {
				t.Fatalf("config has null or platform:\n%s", got)
			}
			golden := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("config.json differs from %s (run go test -update and review):\n%s", golden, got)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestConfigErrors(t *testing.T) {
	args := []string{"/bin/sh"}
	tests := []struct {
		name string
		opts bundle.Options
		want string
	}{
		{"no args", bundle.Options{}, "args is empty: the container needs a program to run"},
		{"empty program", bundle.Options{Args: []string{""}}, "args[0] is empty"},
		{"relative destination", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "data", Source: "/x"}}}, `mount destination "data" is not an absolute path`},
		{"dot dot", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/data/../etc", Source: "/x"}}}, `mount destination "/data/../etc" contains ".."`},
		{"root", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "//", Source: "/x"}}}, `mount destination "//" is the root directory`},
		{"no source", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/data"}}}, "mount /data: a bind mount needs a source"},
		{"bind option, no source", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/data", Type: "ext4", Options: []string{"bind"}}}}, "mount /data: a bind mount needs a source"},
		{"twice", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/a", Source: "/x"}, {Destination: "/a/", Source: "/y"}}}, "mount destination /a is given twice"},
		{"empty option", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/a", Source: "/x", Options: []string{""}}}}, `option "" is not a single mount option`},
		{"comma option", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/a", Source: "/x", Options: []string{"ro,nosuid"}}}}, `option "ro,nosuid"`},
		{"bad arch", bundle.Options{Args: args, Arch: "z80"}, `arch "z80" is not a known architecture`},
		// config.json cannot carry these faithfully (found by FuzzConfig
		// and FuzzCheckDestination).
		{"arg not UTF-8", bundle.Options{Args: []string{"/bin/sh", "\xff"}}, `args[1] "\xff" is not valid UTF-8`},
		{"NUL in arg", bundle.Options{Args: []string{"/bin/sh\x00x"}}, `args[0] "/bin/sh\x00x" contains a NUL byte`},
		{"NUL in destination", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/a\x00b", Source: "/x"}}}, `mount destination "/a\x00b" contains a NUL byte`},
		{"destination not UTF-8", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/\xc7", Source: "/x"}}}, `mount destination "/\xc7" is not valid UTF-8`},
		{"source not UTF-8", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/a", Source: "/\xc7"}}}, `mount /a: source "/\xc7" is not valid UTF-8`},
		{"type with NUL", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/a", Type: "tmpfs\x00"}}}, `mount /a: type "tmpfs\x00" contains a NUL byte`},
		{"option not UTF-8", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/a", Source: "/x", Options: []string{"ro\xff"}}}}, `mount /a: option "ro\xff" is not valid UTF-8`},
		{"bad os", bundle.Options{Args: args, OS: "windows"}, `os "windows" is not supported`},
		{"relative workingDir", bundle.Options{Args: args, WorkingDir: "srv"}, `workingDir "srv" is not an absolute path`},
		{"bad hostname", bundle.Options{Args: args, Hostname: "a b"}, `hostname "a b" is not a valid host name`},
		{"bad env name", bundle.Options{Args: args, Env: map[string]string{"A=B": "x"}}, `env: "A=B" is not a valid variable name`},
		{"bad user", bundle.Options{Args: args, User: &bundle.ID{Name: "Bad User"}}, `user "Bad User" is not a valid user name or number`},
		{"bad group", bundle.Options{Args: args, Group: &bundle.ID{Name: "a:b"}}, `group "a:b" is not a valid group name or number`},
		{"bad capability", bundle.Options{Args: args, Capabilities: &bundle.Capabilities{Effective: []string{"CAP_FLY"}}}, `capabilities.effective: unknown capability "CAP_FLY"`},
		{"bad rlimit", bundle.Options{Args: args, Rlimits: map[string]bundle.Rlimit{"files": {Soft: 1, Hard: 1}}}, `rlimits: unknown limit "files"`},
		{"soft above hard", bundle.Options{Args: args, Rlimits: map[string]bundle.Rlimit{"nofile": {Soft: 10, Hard: 1}}}, "rlimits.nofile: soft limit 10 is above the hard limit 1"},
		{"bad network", bundle.Options{Args: args, Network: "bridge"}, `network "bridge" is not "private" or "host"`},
		{"bad cpu", bundle.Options{Args: args, Resources: &bundle.Resources{CPU: ptr(-1.0)}}, "resources.cpu -1 is not a positive number of CPUs"},
		{"bad pids", bundle.Options{Args: args, Resources: &bundle.Resources{Pids: ptr(int64(0))}}, "resources.pids 0 is not positive"},
		{"extraConfig typo", bundle.Options{Args: args, ExtraConfig: []byte(`{"proces":{"args":["x"]}}`)}, `extraConfig: unknown field "proces" (known: `},
		{"extraConfig nested typo", bundle.Options{Args: args, ExtraConfig: []byte(`{"linux":{"resources":{"memory":{"limt":1}}}}`)}, `extraConfig: unknown field "limt" in /linux/resources/memory`},
		{"extraConfig case", bundle.Options{Args: args, ExtraConfig: []byte(`{"Hostname":"x"}`)}, `extraConfig: unknown field "Hostname"`},
		{"extraConfig type", bundle.Options{Args: args, ExtraConfig: []byte(`{"hostname":1}`)}, "extraConfig: json: cannot unmarshal number"},
		{"extraConfig not object", bundle.Options{Args: args, ExtraConfig: []byte(`[1]`)}, "extraConfig must be a JSON object"},
		{"bad extra user", bundle.Options{Args: args, ExtraUsers: map[string]bundle.UserEntry{"x": {UID: 5, Home: "rel"}}}, "extraUsers.x: home"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.Config(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPlatform(t *testing.T) {
	tests := []struct{ os, arch, wantOS, wantArch string }{
		{"linux", "x86_64", "linux", "amd64"},
		{"", "aarch64", "linux", "arm64"},
		{"linux", "arm64", "linux", "arm64"},
		{"linux", "i686", "linux", "386"},
		{"linux", "armv7l", "linux", "arm"},
		{"linux", "powerpc64le", "linux", "ppc64le"},
		{"linux", "riscv64", "linux", "riscv64"},
		{"linux", "s390x", "linux", "s390x"},
	}
	for _, tc := range tests {
		gotOS, gotArch, err := bundle.Platform(tc.os, tc.arch)
		if err != nil || gotOS != tc.wantOS || gotArch != tc.wantArch {
			t.Errorf("Platform(%q, %q) = %q, %q, %v; want %q, %q", tc.os, tc.arch, gotOS, gotArch, err, tc.wantOS, tc.wantArch)
		}
	}
}

func TestDecodeOptions(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"unknown option", `{"args":["/bin/sh"],"readOnly":true}`, `unknown option "readOnly" (known: annotations, arch, args, capabilities, env,`},
		{"unknown mount field", `{"args":["/bin/sh"],"mounts":[{"destination":"/a","sorce":"/x"}]}`, `unknown option "sorce" in /mounts/0`},
		{"wrong type", `{"args":"/bin/sh"}`, `option "args": expected []string, got JSON string`},
		{"trailing", `{"args":["/bin/sh"]} {}`, "trailing data"},
		{"not json", `{`, "container options: unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.DecodeOptions([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	opts, err := bundle.DecodeOptions([]byte(`{"args":["/bin/sh","-c","x"],"mounts":[{"destination":"/a","source":"/x","isFile":true}],"readonly":true,"os":"linux","arch":"x86_64"}`))
	if err != nil || len(opts.Args) != 3 || !opts.Mounts[0].IsFile || opts.Readonly == nil || !*opts.Readonly || opts.Arch != "x86_64" {
		t.Fatalf("decoded %+v, %v", opts, err)
	}
}
