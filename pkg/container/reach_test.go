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
		{false, "ext4", "../../../dev/vda", true},
		{false, "ext4", "..", true},
		{false, "overlay", "/srv", false},
		{false, "nfs", "server:/export", false},
		{false, "9p", "share", false},
		{false, "ext4", "nix/store/aaaa-x/disk", true},
	}
	for _, tc := range tests {
		if got := container.IsHostPathSource(tc.bind, tc.typ, tc.source); got != tc.want {
			t.Errorf("IsHostPathSource(%v, %q, %q) = %v", tc.bind, tc.typ, tc.source, got)
		}
	}
}

// TestMountReach: a filesystem mount writes through its source and the
// paths its options name (overlay's upperdir and workdir, not its
// lowerdirs); the first that reaches the store decides.
func TestMountReach(t *testing.T) {
	tests := []struct {
		name         string
		bind         bool
		typ, source  string
		options      []string
		paths        []string
		want         container.Reach
		culprit, why string
	}{
		{"tmpfs", false, "tmpfs", "tmpfs", []string{"size=1m"}, nil, container.ReachNone, "", ""},
		{"bind", true, "none", "/srv", []string{"rbind"}, []string{"/srv"}, container.ReachUnknown, "/srv", ""},
		{"device", false, "ext4", "/dev/vda", []string{"journal_path=/dev/vdb"}, []string{"/dev/vda", "/dev/vdb"}, container.ReachUnknown, "/dev/vda", ""},
		{"overlay of host directories", false, "overlay", "overlay", []string{"lowerdir=/nix/store:/srv/l", "upperdir=/srv/u", "workdir=/srv/w"}, []string{"/srv/u", "/srv/w"}, container.ReachStore, "/srv/u", "written as it is mounted"},
		{"overlay without an upper directory", false, "overlay", "overlay", []string{"lowerdir=/nix/store"}, nil, container.ReachNone, "", ""},
		{"overlay into a store path", false, "overlay", "overlay", []string{"lowerdir=/srv/l", "upperdir=/nix/store/aaaa-x", "workdir=/srv/w"}, []string{"/nix/store/aaaa-x", "/srv/w"}, container.ReachStore, "/nix/store/aaaa-x", "lies in the store"},
		{"overlay with a relative work directory", false, "overlay", "overlay", []string{"upperdir=/srv/u", "workdir=w/x"}, []string{"/srv/u", "w/x"}, container.ReachStore, "w/x", "relative"},
		{"nfs", false, "nfs4", "server:/export", []string{"addr=10.0.0.1", "clientaddr=/x"}, nil, container.ReachNone, "", ""},
		{"relative device", false, "xfs", "../../dev/vda", nil, []string{"../../dev/vda"}, container.ReachStore, "../../dev/vda", "relative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := container.HostPaths(tc.bind, tc.typ, tc.source, tc.options); strings.Join(got, " ") != strings.Join(tc.paths, " ") {
				t.Errorf("HostPaths = %q, want %q", got, tc.paths)
			}
			reach, culprit, why := container.MountReach(tc.bind, tc.typ, tc.source, tc.options, "/nix/store")
			if reach != tc.want || culprit != tc.culprit || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
				t.Errorf("MountReach = %v, %q, %q; want %v, %q, %q", reach, culprit, why, tc.want, tc.culprit, tc.why)
			}
		})
	}
}
