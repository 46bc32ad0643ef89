package specconv_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/schema"
	"github.com/oci-builder/oci-builder/pkg/specconv"
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
		opts container.Options
	}{
		{"nixpkgs-defaults", container.Options{Args: []string{"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bash-5.2/bin/bash"}, OS: "linux", Arch: "x86_64"}},
		{"mounts-readonly", container.Options{
			Args:     []string{"/bin/sh", "-c", "cat /data/f"},
			Readonly: ptr(false),
			Arch:     "aarch64",
			Mounts: []container.Mount{
				{Destination: "/var/data/", Source: "/srv/data", Options: []string{"ro"}},
				{Destination: "/data", Type: "none", Source: "/var/lib/mydata", Options: []string{"bind"}},
				{Destination: "/etc/resolv.conf", Source: "/etc/resolv.conf", IsFile: true},
				{Destination: "/dev/shm", Type: "tmpfs", Options: []string{"nosuid", "nodev", "size=1g"}},
				{Destination: "/scratch", Type: "tmpfs"},
			},
		}},
		{"everything", container.Options{
			Args:         []string{"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app/bin/app", "--serve"},
			Arch:         "amd64",
			Env:          map[string]string{"PATH": "/custom/bin", "LANG": "C.UTF-8"},
			WorkingDir:   "/srv/app/",
			Hostname:     "web-1",
			Terminal:     true,
			User:         &container.ID{Name: "app"},
			ExtraGroups:  map[string]container.GroupEntry{"audio": {GID: 29, Members: []string{"app"}}},
			Capabilities: &container.Capabilities{Bounding: []string{"net_bind_service", "CAP_CHOWN"}, Effective: []string{"NET_BIND_SERVICE"}, Permitted: []string{"NET_BIND_SERVICE"}},
			Rlimits:      map[string]container.Rlimit{"nofile": {Soft: 4096, Hard: 8192}, "RLIMIT_NPROC": {Soft: 100, Hard: 100}},
			Network:      "host",
			Resources:    &container.Resources{Memory: ptr(container.Size(256 << 20)), CPU: ptr(0.5), Pids: ptr(int64(64))},
			Annotations:  map[string]string{"org.example/owner": "team"},
			ExtraConfig:  []byte(`{"process":{"oomScoreAdj":100},"linux":{"sysctl":{"net.ipv4.ip_forward":"0"},"maskedPaths":null}}`),
		}},
		{"rootless", container.Options{
			Args:      []string{"/bin/app"},
			Arch:      "x86_64",
			User:      ptr(container.ID{Num: ptr(uint32(1000))}),
			Resources: &container.Resources{Pids: ptr(int64(10))},
			Rootless:  &container.RootlessIDs{UID: 1234, GID: 100, SubUIDs: &container.IDRange{Start: 100000, Count: 65536}, SubGIDs: &container.IDRange{Start: 200000, Count: 65536}},
			Tmp:       ptr(false),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, _, err := specconv.Config(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := specconv.MarshalConfig(spec)
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

func TestExtraConfigErrors(t *testing.T) {
	args := []string{"/bin/sh"}
	tests := []struct {
		name string
		opts container.Options
		want string
	}{
		{"extraConfig typo", container.Options{Args: args, ExtraConfig: []byte(`{"proces":{"args":["x"]}}`)}, `extraConfig: unknown field "proces" (known: `},
		{"extraConfig nested typo", container.Options{Args: args, ExtraConfig: []byte(`{"linux":{"resources":{"memory":{"limt":1}}}}`)}, `extraConfig: unknown field "limt" in /linux/resources/memory`},
		{"extraConfig case", container.Options{Args: args, ExtraConfig: []byte(`{"Hostname":"x"}`)}, `extraConfig: unknown field "Hostname"`},
		{"extraConfig type", container.Options{Args: args, ExtraConfig: []byte(`{"hostname":1}`)}, "extraConfig: json: cannot unmarshal number"},
		{"extraConfig not object", container.Options{Args: args, ExtraConfig: []byte(`[1]`)}, "extraConfig must be a JSON object"},
		{"process removed", container.Options{Args: args, ExtraConfig: []byte(`{"process":null}`)}, "extraConfig: process is missing"},
		{"seccomp twice", container.Options{Args: args, Seccomp: &container.Seccomp{Name: container.SeccompUnconfined}, ExtraConfig: []byte(`{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}`)}, "seccomp: extraConfig sets linux.seccomp too"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := specconv.Config(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
