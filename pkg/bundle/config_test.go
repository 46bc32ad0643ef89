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
			Readonly: true,
			Arch:     "aarch64",
			Mounts: []bundle.Mount{
				{Destination: "/var/data/", Source: "/srv/data", Options: []string{"ro"}},
				{Destination: "/data", Type: "none", Source: "/var/lib/mydata", Options: []string{"bind"}},
				{Destination: "/etc/resolv.conf", Source: "/etc/resolv.conf", IsFile: true},
				{Destination: "/dev/shm", Type: "tmpfs", Options: []string{"nosuid", "nodev", "size=1g"}},
				{Destination: "/scratch", Type: "tmpfs"},
			},
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
		{"bad os", bundle.Options{Args: args, OS: "windows"}, `os "windows" is not supported`},
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
		{"unknown option", `{"args":["/bin/sh"],"readOnly":true}`, `unknown option "readOnly" (known: arch, args, mounts, os, readonly, storeMode)`},
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
	if err != nil || len(opts.Args) != 3 || !opts.Mounts[0].IsFile || !opts.Readonly || opts.Arch != "x86_64" {
		t.Fatalf("decoded %+v, %v", opts, err)
	}
}
