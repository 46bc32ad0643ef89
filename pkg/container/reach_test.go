package container_test

import (
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/container"
)

// TestSourceReach checks how a mount source is judged from its text: every
// way it can reach the store that the build can see is ReachStore, with
// its reason; other host paths are ReachUnknown; labels ReachNone.
func TestSourceReach(t *testing.T) {
	tests := []struct {
		source   string
		hostPath bool
		want     container.Reach
		why      string
	}{
		{"tmpfs", false, container.ReachNone, ""},
		{"/srv/data", true, container.ReachUnknown, ""},
		{"/nixos", true, container.ReachUnknown, ""},
		{"/nix/var/nix", true, container.ReachUnknown, ""},
		{"/nix/store", true, container.ReachStore, "is or holds the store"},
		{"/nix/store/", true, container.ReachStore, "is or holds the store"},
		{"/nix", true, container.ReachStore, "is or holds the store"},
		{"/", true, container.ReachStore, "is or holds the store"},
		{"//nix//store", true, container.ReachStore, "is or holds the store"},
		{"/nix/store/aaaa-x/bin", true, container.ReachStore, "lies in the store"},
		{"rootfs", true, container.ReachStore, "relative source"},
		{"..", true, container.ReachStore, "relative source"},
		{"./x", true, container.ReachStore, "relative source"},
		{"/srv/../nix", true, container.ReachStore, `its ".."`},
		{"/srv/..", true, container.ReachStore, `its ".."`},
		{"/proc/self/root/nix/store", true, container.ReachStore, "/proc"},
		{"/proc/1/cwd", true, container.ReachStore, "/proc"},
		{"/proc", true, container.ReachStore, "/proc"},
		{"/dev/fd/3", true, container.ReachStore, "/dev/fd"},
		{"/dev/stdin", true, container.ReachStore, "/dev/stdin"},
		{"/dev/vda", true, container.ReachUnknown, ""},
		{"/procfs", true, container.ReachUnknown, ""},
	}
	for _, tc := range tests {
		got, why := container.SourceReach(tc.source, "/nix/store", tc.hostPath)
		if got != tc.want || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
			t.Errorf("SourceReach(%q) = %v, %q; want %v, %q", tc.source, got, why, tc.want, tc.why)
		}
	}
	if got, _ := container.SourceReach("/nix", "", true); got != container.ReachUnknown {
		t.Errorf("without a store directory, /nix is %v", got)
	}
}

// TestIsHostPathSource: a bind mount's source is always a host path; a
// filesystem's only when absolute and not a label of a virtual one.
func TestIsHostPathSource(t *testing.T) {
	tests := []struct {
		bind        bool
		typ, source string
		want        bool
	}{
		{true, "none", "rel", true},
		{false, "ext4", "/dev/vda", true},
		{false, "xfs", "/srv/image.img", true},
		{false, "tmpfs", "/dev/vda", false},
		{false, "proc", "/proc", false},
		{false, "ext4", "LABEL=data", false},
	}
	for _, tc := range tests {
		if got := container.IsHostPathSource(tc.bind, tc.typ, tc.source); got != tc.want {
			t.Errorf("IsHostPathSource(%v, %q, %q) = %v", tc.bind, tc.typ, tc.source, got)
		}
	}
}
