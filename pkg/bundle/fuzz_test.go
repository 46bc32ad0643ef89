package bundle_test

import (
	"path"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/oci-builder/oci-builder/internal/invariants"
	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/schema"
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
		opts := bundle.Options{
			Args: []string{arg0, arg1},
			Mounts: []bundle.Mount{
				{Destination: dest1, Type: type1, Source: source1, Options: splitOptions(options1), IsFile: isFile1},
				{Destination: dest2, Type: type2, Source: source2, Options: splitOptions(options2), IsFile: isFile2},
			},
			Readonly: &readonly,
			OS:       osName,
			Arch:     arch,
		}
		spec, err := bundle.Config(opts)
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
			clean, _ := bundle.CheckDestination(m.Destination)
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

// FuzzCheckDestination checks that an accepted mount destination comes back
// clean, absolute, not the root, free of "." and ".." components, UTF-8
// without NUL bytes, and unchanged by a second check; and that refusals are for a reason.
func FuzzCheckDestination(f *testing.F) {
	for _, s := range []string{"/data", "/var/data/", "//a//b/", "data", "/", "/a/../b", "/a/./b", "/a/..b", "/...", "/a\x00b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dest string) {
		clean, err := bundle.CheckDestination(dest)
		if err != nil {
			if clean != "" {
				t.Fatalf("CheckDestination(%q) = %q and %v", dest, clean, err)
			}
			parts := strings.Split(dest, "/")
			dotted := false
			for _, p := range parts {
				dotted = dotted || p == "." || p == ".."
			}
			if strings.HasPrefix(dest, "/") && !dotted && path.Clean(dest) != "/" && !strings.ContainsRune(dest, 0) && utf8.ValidString(dest) {
				t.Fatalf("CheckDestination(%q) refused a good destination: %v", dest, err)
			}
			if !strings.Contains(err.Error(), "mount destination") {
				t.Fatalf("error %q does not say what it is about", err)
			}
			return
		}
		if clean != path.Clean(dest) || !strings.HasPrefix(clean, "/") || clean == "/" {
			t.Fatalf("CheckDestination(%q) = %q", dest, clean)
		}
		for _, p := range strings.Split(clean[1:], "/") {
			if p == "" || p == "." || p == ".." {
				t.Fatalf("CheckDestination(%q) = %q has component %q", dest, clean, p)
			}
		}
		if strings.ContainsRune(clean, 0) || !utf8.ValidString(clean) {
			t.Fatalf("CheckDestination(%q) = %q has a NUL byte or is not UTF-8", dest, clean)
		}
		if again, err := bundle.CheckDestination(clean); err != nil || again != clean {
			t.Fatalf("CheckDestination(%q) = %q, %v; not idempotent", clean, again, err)
		}
	})
}

// goarches are the architectures Platform may answer.
var goarches = map[string]bool{
	"amd64": true, "arm64": true, "386": true, "arm": true, "riscv64": true, "ppc64le": true,
	"ppc64": true, "s390x": true, "mips64le": true, "loong64": true,
}

// FuzzPlatform checks that Platform answers linux and a known GOARCH, that
// its answer maps to itself, and that refusals quote the culprit.
func FuzzPlatform(f *testing.F) {
	for _, s := range [][2]string{{"", ""}, {"linux", "x86_64"}, {"linux", "aarch64"}, {"darwin", "amd64"}, {"linux", "pdp11"}, {"linux", "i686"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, osName, arch string) {
		gotOS, gotArch, err := bundle.Platform(osName, arch)
		if err != nil {
			if !strings.Contains(err.Error(), "not") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if gotOS != "linux" || !goarches[gotArch] {
			t.Fatalf("Platform(%q, %q) = %q, %q", osName, arch, gotOS, gotArch)
		}
		if arch == "" && gotArch != runtime.GOARCH {
			t.Fatalf("Platform(%q, \"\") = %q, want the builder's own %q", osName, gotArch, runtime.GOARCH)
		}
		o, a, err := bundle.Platform(gotOS, gotArch)
		if err != nil || o != gotOS || a != gotArch {
			t.Fatalf("Platform(%q, %q) = %q, %q, %v; not a fixed point", gotOS, gotArch, o, a, err)
		}
	})
}
