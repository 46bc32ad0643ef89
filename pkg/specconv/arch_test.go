package specconv_test

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/specconv"
)

// TestSeccompArchIsThePlatforms: buildContainer's arch is metadata (the
// annotation), as nixpkgs'; the seccomp filter names the architectures of
// SeccompArch, the platform the bundle is built for, and says so when they
// differ (nixpkgs' default "x86_64" on an aarch64 host).
func TestSeccompArchIsThePlatforms(t *testing.T) {
	for _, tc := range []struct {
		arch, seccompArch string
		want              specs.Arch
		annotation        string
		warns             bool
	}{
		{"x86_64", "arm64", specs.ArchAARCH64, "amd64", true},
		{"x86_64", "", specs.ArchX86_64, "amd64", false},
		{"arm64", "aarch64", specs.ArchAARCH64, "arm64", false},
	} {
		spec, warnings, err := specconv.Config(container.Options{Args: []string{"/bin/true"}, Arch: tc.arch, SeccompArch: tc.seccompArch})
		if err != nil {
			t.Fatal(err)
		}
		if spec.Linux.Seccomp == nil || len(spec.Linux.Seccomp.Architectures) == 0 || spec.Linux.Seccomp.Architectures[0] != tc.want {
			t.Errorf("arch %q, seccompArch %q: filter for %v, want %s first", tc.arch, tc.seccompArch, spec.Linux.Seccomp.Architectures, tc.want)
		}
		if got := spec.Annotations[specconv.AnnotationArch]; got != tc.annotation {
			t.Errorf("arch %q: annotation %q, want %q", tc.arch, got, tc.annotation)
		}
		warned := strings.Contains(strings.Join(warnings, "\n"), "is metadata")
		c, _ := container.New(nil, container.Options{Args: []string{"/bin/true"}, Arch: tc.arch, SeccompArch: tc.seccompArch}, nil)
		if c != nil {
			warned = warned || strings.Contains(strings.Join(c.Warnings, "\n"), "is metadata")
		}
		if warned != tc.warns {
			t.Errorf("arch %q, seccompArch %q: warned %v, want %v", tc.arch, tc.seccompArch, warned, tc.warns)
		}
	}
	if _, _, err := specconv.Config(container.Options{Args: []string{"/bin/true"}, SeccompArch: "vax"}); err == nil || !strings.Contains(err.Error(), "seccompArch") {
		t.Fatalf("unknown seccompArch: %v", err)
	}
}
