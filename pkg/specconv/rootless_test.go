package specconv_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/specconv"
)

func TestMakeRootless(t *testing.T) {
	sub := &container.IDRange{Start: 100000, Count: 65536}
	tests := []struct {
		name     string
		user     specs.User
		ids      container.RootlessIDs
		uidMap   []specs.LinuxIDMapping
		gidMap   []specs.LinuxIDMapping
		wantUser specs.User
		warnings int
	}{
		{"root, one id", specs.User{}, container.RootlessIDs{UID: 1001, GID: 1001},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}},
			specs.User{}, 1},
		{"user with subordinate ids", specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{29}}, container.RootlessIDs{UID: 1001, GID: 1002, SubUIDs: sub, SubGIDs: sub},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1002, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
			specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{29}}, 2},
		{"user without subordinate ids runs as root", specs.User{UID: 1000, GID: 1000}, container.RootlessIDs{UID: 1001, GID: 1001},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}},
			specs.User{}, 2},
		{"user beyond the subordinate range", specs.User{UID: 70000, GID: 0}, container.RootlessIDs{UID: 1001, GID: 1001, SubUIDs: sub, SubGIDs: sub},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}},
			specs.User{}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, _, err := specconv.Config(container.Options{Args: []string{"/bin/sh"}, Resources: &container.Resources{Pids: ptr(int64(5))}})
			if err != nil {
				t.Fatal(err)
			}
			spec.Process.User = tc.user
			warnings, err := specconv.MakeRootless(spec, tc.ids)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(spec.Linux.UIDMappings, tc.uidMap) || !reflect.DeepEqual(spec.Linux.GIDMappings, tc.gidMap) {
				t.Fatalf("mappings %+v %+v", spec.Linux.UIDMappings, spec.Linux.GIDMappings)
			}
			if !reflect.DeepEqual(spec.Process.User, tc.wantUser) {
				t.Fatalf("user %+v, want %+v", spec.Process.User, tc.wantUser)
			}
			if len(warnings) != tc.warnings || spec.Linux.Resources != nil {
				t.Fatalf("warnings %q, resources %+v", warnings, spec.Linux.Resources)
			}
			userNS := 0
			for _, ns := range spec.Linux.Namespaces {
				if ns.Type == specs.UserNamespace {
					userNS++
				}
			}
			if userNS != 1 {
				t.Fatalf("namespaces %+v", spec.Linux.Namespaces)
			}
			for _, m := range spec.Mounts {
				if m.Destination == "/sys" && (m.Type != "none" || m.Source != "/sys") {
					t.Fatalf("/sys mount %+v", m)
				}
				// uid= and gid= stay only for ids the mappings have.
				for _, o := range m.Options {
					if strings.HasPrefix(o, "uid=") && !mapped(spec.Linux.UIDMappings, o[4:]) ||
						strings.HasPrefix(o, "gid=") && !mapped(spec.Linux.GIDMappings, o[4:]) {
						t.Fatalf("mount %s keeps %s", m.Destination, o)
					}
				}
			}
		})
	}
}

func TestMergeConfig(t *testing.T) {
	spec, _, err := specconv.Config(container.Options{Args: []string{"/bin/sh"}, Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	merged, err := specconv.MergeConfig(spec, json.RawMessage(`{
		"process": {"args": ["/bin/other"], "capabilities": null, "user": {"uid": 5}},
		"linux": {"sysctl": {"kernel.msgmax": "8192"}},
		"hostname": "merged"
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if merged.Hostname != "merged" || merged.Process.Args[0] != "/bin/other" || merged.Process.Capabilities != nil {
		t.Fatalf("merge: %+v", merged.Process)
	}
	// Objects merge: the user keeps its gid, the process its cwd and env.
	if merged.Process.User.UID != 5 || merged.Process.Cwd != "/" || merged.Linux.Sysctl["kernel.msgmax"] != "8192" || len(merged.Linux.Namespaces) != 5 {
		t.Fatalf("merge lost keys: %+v %+v", merged.Process, merged.Linux)
	}
	// The input is not changed.
	if spec.Hostname != "container" {
		t.Fatalf("spec changed: %q", spec.Hostname)
	}
}

func mapped(m []specs.LinuxIDMapping, v string) bool {
	id, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return false
	}
	for _, r := range m {
		if uint64(r.ContainerID) <= id && id < uint64(r.ContainerID)+uint64(r.Size) {
			return true
		}
	}
	return false
}
