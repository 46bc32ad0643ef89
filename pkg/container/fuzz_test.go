package container_test

import (
	"path"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/oci-builder/oci-builder/pkg/container"
)

// FuzzCheckDestination checks that an accepted mount destination comes back
// clean, absolute, not the root, free of "." and ".." components, UTF-8
// without NUL bytes, and unchanged by a second check; and that refusals are for a reason.
func FuzzCheckDestination(f *testing.F) {
	for _, s := range []string{"/data", "/var/data/", "//a//b/", "data", "/", "/a/../b", "/a/./b", "/a/..b", "/...", "/a\x00b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dest string) {
		clean, err := container.CheckDestination(dest)
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
		if again, err := container.CheckDestination(clean); err != nil || again != clean {
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
		gotOS, gotArch, err := container.Platform(osName, arch)
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
		o, a, err := container.Platform(gotOS, gotArch)
		if err != nil || o != gotOS || a != gotArch {
			t.Fatalf("Platform(%q, %q) = %q, %q, %v; not a fixed point", gotOS, gotArch, o, a, err)
		}
	})
}
