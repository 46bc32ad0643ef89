package guard_test

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/guard"
	"github.com/oci-builder/oci-builder/tests/imports"
)

// TestNoIO keeps the package pure.
func TestNoIO(t *testing.T) {
	imports.Check(t, ".", nil, imports.IO()...)
}

// TestHarden checks what Harden changes: read-only bind mounts become
// recursively read-only; writable host sources the build cannot judge get
// one start check naming each once (a device too), or, without a checker,
// become read-only (with a warning) unless "rw" is explicit; tmpfs mounts
// and writable sources that reach the store (a weakening) stay as they are.
func TestHarden(t *testing.T) {
	bind := func(dest, src string, opts ...string) specs.Mount {
		return specs.Mount{Destination: dest, Type: "none", Source: src, Options: append([]string{"rbind"}, opts...)}
	}
	mounts := func() []specs.Mount {
		return []specs.Mount{
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
			bind("/ro", "/srv", "ro"),
			bind("/a", "/srv/a"),
			bind("/b", "/srv/a", "nosuid"),
			bind("/c", "/srv/c", "rw"),
			bind("/s", "/nix/store", "rw"),
			{Destination: "/x", Type: "ext4", Source: "/dev/vda"},
			{Destination: "/o", Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/nix/store", "upperdir=/srv/u", "workdir=/srv/w"}},
		}
	}
	tests := []struct {
		name     string
		checker  string
		options  map[string][]string // by destination, what changed
		hook     []string
		warnings []string
	}{
		{"with a checker", "/bin/oci-builder", map[string][]string{"/ro": {"rbind", "ro", "rro"}}, []string{"oci-builder", "check-mounts", "--store-dir", "/nix/store", "--", "/srv/a", "/srv/c", "/dev/vda"}, nil},
		{"without", "", map[string][]string{"/ro": {"rbind", "ro", "rro"}, "/a": {"rbind", "ro", "rro"}, "/b": {"rbind", "nosuid", "ro", "rro"}}, nil, []string{"mount /a is read-only", "mount /b is read-only"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := &specs.Spec{Mounts: mounts()}
			warnings := guard.Harden(spec, "/nix/store", tc.checker)
			for i, m := range spec.Mounts {
				want := mounts()[i].Options
				if o, ok := tc.options[m.Destination]; ok {
					want = o
				}
				if !reflect.DeepEqual(m.Options, want) {
					t.Errorf("%s: options %q, want %q", m.Destination, m.Options, want)
				}
			}
			var hook []string
			if spec.Hooks != nil && len(spec.Hooks.CreateRuntime) == 1 {
				hook = spec.Hooks.CreateRuntime[0].Args
				if spec.Hooks.CreateRuntime[0].Path != tc.checker || !guard.IsStartCheck(spec.Hooks.CreateRuntime[0]) {
					t.Errorf("hook %+v", spec.Hooks.CreateRuntime[0])
				}
			}
			if !reflect.DeepEqual(hook, tc.hook) {
				t.Errorf("hook args %q, want %q", hook, tc.hook)
			}
			if len(warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %q", warnings, tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.HasPrefix(warnings[i], w) {
					t.Errorf("warning %q, want %q", warnings[i], w)
				}
			}
			// What remains: the writable bind of the store, the device,
			// and without a checker the explicit "rw" of /srv/c.
			var msgs []string
			for _, w := range guard.Weakenings(spec, "/nix/store") {
				msgs = append(msgs, w.Msg)
			}
			got := strings.Join(msgs, "\n")
			for _, want := range []string{"mounts[5] (/s): source /nix/store may reach the store", "mounts[6] (/x): a filesystem (type ext4)", "mounts[7] (/o): a filesystem (type overlay) from the host's /srv/u, which may reach the store (an overlay's workdir is written as it is mounted"} {
				if !strings.Contains(got, want) {
					t.Errorf("no weakening %q in\n%s", want, got)
				}
			}
			if strings.Contains(got, "mounts[4] (/c)") != (tc.checker == "") {
				t.Errorf("weakening of /c:\n%s", got)
			}
		})
	}
}
