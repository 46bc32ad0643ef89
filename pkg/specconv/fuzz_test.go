package specconv_test

import (
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/schema"
	"github.com/oci-builder/oci-builder/pkg/specconv"
	"github.com/oci-builder/oci-builder/tests/invariants"
)

// FuzzConfig builds runtime configurations from fuzzed options: two
// arguments, two mounts (options separated by newlines) and the platform.
// Whatever Config accepts must give a config.json that is valid against the
// runtime-spec schema and decodes back to the same configuration, with
// clean, unique mount destinations.
func FuzzConfig(f *testing.F) {
	v, err := schema.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Add("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bash/bin/bash", "-c", "/data", "", "/srv/data", "ro", false, "/etc/resolv.conf", "bind", "/etc/resolv.conf", "", true, false, "linux", "x86_64")
	f.Add("/bin/sh", "", "/dev/shm", "tmpfs", "", "nosuid\nnodev\nsize=1g", false, "/scratch", "tmpfs", "", "", false, true, "", "aarch64")
	f.Add("/bin/sh", "x", "/var/data/", "none", "/srv", "bind\nro", false, "/proc", "proc", "", "", false, false, "linux", "amd64")
	f.Add("/bin/sh", "x", "data", "none", "/srv", "", false, "/a/../b", "", "", "", false, false, "darwin", "pdp11")
	f.Add("/bin/sh", "x", "/", "none", "/srv", "", false, "/a", "", "", "a,b", true, false, "linux", "riscv64")
	f.Add("/bin/sh", "exec 2>/dev/null", "/null", "null", "null", "null", false, "/b", "", "", "", false, false, "linux", "")
	f.Fuzz(func(t *testing.T, arg0, arg1, dest1, type1, source1, options1 string, isFile1 bool,
		dest2, type2, source2, options2 string, isFile2, readonly bool, osName, arch string) {
		opts := container.Options{
			Args: []string{arg0, arg1},
			Mounts: []container.Mount{
				{Destination: dest1, Type: type1, Source: source1, Options: splitOptions(options1), IsFile: isFile1},
				{Destination: dest2, Type: type2, Source: source2, Options: splitOptions(options2), IsFile: isFile2},
			},
			Readonly: &readonly,
			OS:       osName,
			Arch:     arch,
		}
		spec, _, err := specconv.Config(opts)
		if err != nil {
			if spec != nil {
				t.Fatal("configuration and error both returned")
			}
			return
		}
		if err := invariants.Config(v, opts, spec); err != nil {
			t.Fatal(err)
		}
		for _, m := range opts.Mounts {
			clean, _ := container.CheckDestination(m.Destination)
			found := false
			for _, sm := range spec.Mounts {
				found = found || sm.Destination == clean
			}
			if !found {
				t.Fatalf("mount %q is missing from the configuration", m.Destination)
			}
		}
	})
}

// splitOptions turns the fuzzer's string into an options list: nil for
// the empty string (the defaults), else the newline-separated parts.
func splitOptions(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
