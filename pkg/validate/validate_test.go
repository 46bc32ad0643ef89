package validate_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/bundle"
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

	spec, err := bundle.Config(bundle.Options{
		Args:   []string{"/bin/link", "arg"},
		Env:    map[string]string{"PATH": "/bin:/data"},
		Mounts: []bundle.Mount{{Destination: "/data", Source: host}, {Destination: "/etc/hosts", Source: hostFile, IsFile: true}},
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
	r := validate.Bundle(dir)
	if !r.Valid() || r.SchemaVersion != "1.3.0" || r.Program != "/bin/link" {
		t.Fatalf("report %+v", r)
	}
	// A program found through PATH, in a bind mount.
	spec.Process.Args = []string{"tool"}
	write(t, dir, spec)
	if r := validate.Bundle(dir); !r.Valid() || r.Program != "/data/tool" {
		t.Fatalf("report %+v", r)
	}
}

// TestBrokenBundles breaks a good bundle in one way per case and checks
// the problems reported, all of them.
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
		}, []string{"mounts[10] (rel): destination is not an absolute path"}},
		{"missing mountpoint and bind source", func(t *testing.T, dir string, s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/cache", Type: "none", Source: "/no/such/dir", Options: []string{"rbind"}})
		}, []string{`mounts[10] (/cache): bind source "/no/such/dir": no such file or directory`, "mounts[10] (/cache): mountpoint does not exist in the rootfs"}},
		{"file source on directory mountpoint", func(t *testing.T, dir string, s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv", Type: "bind", Source: "/etc/hostname"})
		}, []string{"mounts[10] (/srv): bind source is a file but the mountpoint is a directory"}},
		{"dot-dot destination", func(t *testing.T, dir string, s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv/../etc", Type: "tmpfs", Source: "tmpfs"})
		}, []string{`mounts[10] (/srv/../etc): destination contains ".."`}},
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
			r := validate.Bundle(dir)
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
		{"unknown version", `{"ociVersion":"9.0.0","root":{"path":"rootfs"}}`, `config.json: no schema for ociVersion "9.0.0"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.config != "" {
				os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o644)
			}
			r := validate.Bundle(dir)
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
	r := validate.Bundle(dir)
	if r.SchemaVersion != "1.0.2" || len(r.Problems) == 0 || r.Problems[0] != "config.json does not match the runtime-spec 1.0.2 schema: /mounts/4/options: got null, want array" {
		t.Fatalf("report %+v", r)
	}
}
