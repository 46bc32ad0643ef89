package bundle_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/bundle"
)

func TestDecodeOptionValues(t *testing.T) {
	tests := []struct {
		name, json string
		check      func(o bundle.Options) bool
		err        string
	}{
		{"user name", `{"args":["x"],"user":"app"}`, func(o bundle.Options) bool { return o.User.Name == "app" && o.User.Num == nil }, ""},
		{"user number", `{"args":["x"],"user":1000}`, func(o bundle.Options) bool { return *o.User.Num == 1000 }, ""},
		{"user digits", `{"args":["x"],"user":"1000"}`, func(o bundle.Options) bool { return *o.User.Num == 1000 }, ""},
		{"user negative", `{"args":["x"],"user":-1}`, nil, "expected a name or a number"},
		{"capability list", `{"args":["x"],"capabilities":["CAP_KILL"]}`, func(o bundle.Options) bool {
			return reflect.DeepEqual(o.Capabilities.Bounding, []string{"CAP_KILL"}) && o.Capabilities.Ambient == nil
		}, ""},
		{"capability sets", `{"args":["x"],"capabilities":{"ambient":["kill"]}}`, func(o bundle.Options) bool {
			return reflect.DeepEqual(o.Capabilities.Ambient, []string{"kill"}) && o.Capabilities.Bounding == nil
		}, ""},
		{"capability typo", `{"args":["x"],"capabilities":{"ambiant":["kill"]}}`, nil, `unknown option "ambiant" (known: ambient, bounding`},
		{"rlimit number", `{"args":["x"],"rlimits":{"nofile":10}}`, func(o bundle.Options) bool { return o.Rlimits["nofile"] == bundle.Rlimit{Soft: 10, Hard: 10} }, ""},
		{"rlimit pair", `{"args":["x"],"rlimits":{"nofile":{"soft":1,"hard":2}}}`, func(o bundle.Options) bool { return o.Rlimits["nofile"] == bundle.Rlimit{Soft: 1, Hard: 2} }, ""},
		{"rlimit half", `{"args":["x"],"rlimits":{"nofile":{"soft":1}}}`, nil, "expected a number or {soft, hard}"},
		{"memory string", `{"args":["x"],"resources":{"memory":"1G"}}`, func(o bundle.Options) bool { return *o.Resources.Memory == 1<<30 }, ""},
		{"memory bytes", `{"args":["x"],"resources":{"memory":4096}}`, func(o bundle.Options) bool { return *o.Resources.Memory == 4096 }, ""},
		{"memory bad", `{"args":["x"],"resources":{"memory":"lots"}}`, nil, `size "lots" is not a positive size`},
		{"extraConfig kept raw", `{"args":["x"],"extraConfig":{"Anything":{"goes":1}}}`, func(o bundle.Options) bool { return strings.Contains(string(o.ExtraConfig), "Anything") }, ""},
		{"rootless", `{"args":["x"],"rootless":{"uid":1,"gid":2,"subUids":{"start":100000,"count":65536}}}`, func(o bundle.Options) bool {
			return o.Rootless.UID == 1 && o.Rootless.GID == 2 && o.Rootless.SubUIDs.Count == 65536 && o.Rootless.SubGIDs == nil
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := bundle.DecodeOptions([]byte(tc.json))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(o) {
				t.Fatalf("decoded %+v", o)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "64k": 64 << 10, "256M": 256 << 20, "1G": 1 << 30, "1GiB": 1 << 30, "2T": 2 << 40, "10MB": 10 << 20} {
		if got, err := bundle.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "1X", "G", "99999999999T"} {
		if _, err := bundle.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded", bad)
		}
	}
}

func passwdAndGroup(t *testing.T, opts bundle.Options) (string, string, bundle.Identity) {
	t.Helper()
	opts.Args = []string{"/bin/sh"}
	c, err := bundle.Configure(opts, "")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range c.Files {
		files[f.Path] = string(f.Data)
	}
	return files["/etc/passwd"], files["/etc/group"], c.Identity
}

func TestAccounts(t *testing.T) {
	u32 := func(n uint32) *uint32 { return &n }
	tests := []struct {
		name          string
		opts          bundle.Options
		passwd, group string
		id            bundle.Identity
	}{
		{"default", bundle.Options{},
			"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\nnobody:x:65534:\n",
			bundle.Identity{UID: 0, GID: 0, User: "root", Group: "root", Home: "/root"}},
		{"new name", bundle.Options{User: &bundle.ID{Name: "app"}},
			"root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000:app:/home/app:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\napp:x:1000:\nnobody:x:65534:\n",
			bundle.Identity{UID: 1000, GID: 1000, User: "app", Group: "app", Home: "/home/app"}},
		{"number and group name", bundle.Options{User: &bundle.ID{Num: u32(1000)}, Group: &bundle.ID{Name: "users"}},
			"root:x:0:0:root:/root:/sbin/nologin\nuser:x:1000:1000:user:/home/user:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\nusers:x:1001:\nnobody:x:65534:\n",
			bundle.Identity{UID: 1000, GID: 1001, User: "user", Group: "users", Home: "/home/user"}},
		{"root by number, group by number", bundle.Options{User: &bundle.ID{Num: u32(0)}, Group: &bundle.ID{Num: u32(7)}},
			"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\ngroup:x:7:\nnobody:x:65534:\n",
			bundle.Identity{UID: 0, GID: 7, User: "root", Group: "group", Home: "/root"}},
		{"extra users and groups", bundle.Options{
			User:        &bundle.ID{Name: "web"},
			ExtraUsers:  map[string]bundle.UserEntry{"web": {UID: 33, GID: u32(33), Home: "/var/www", Shell: "/bin/sh"}, "db": {UID: 1000}},
			ExtraGroups: map[string]bundle.GroupEntry{"data": {GID: 500, Members: []string{"web", "db"}}, "ssl": {GID: 501, Members: []string{"web"}}},
		},
			"root:x:0:0:root:/root:/sbin/nologin\nweb:x:33:33:web:/var/www:/bin/sh\ndb:x:1000:1000:db:/home/db:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\nweb:x:33:\ndata:x:500:web,db\nssl:x:501:web\ndb:x:1000:\nnobody:x:65534:\n",
			bundle.Identity{UID: 33, GID: 33, User: "web", Group: "web", Home: "/var/www", AdditionalGids: []uint32{500, 501}}},
		{"new name skips taken ids", bundle.Options{User: &bundle.ID{Name: "app"}, ExtraUsers: map[string]bundle.UserEntry{"first": {UID: 1000}}},
			"root:x:0:0:root:/root:/sbin/nologin\nfirst:x:1000:1000:first:/home/first:/sbin/nologin\napp:x:1001:1001:app:/home/app:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\nfirst:x:1000:\napp:x:1001:\nnobody:x:65534:\n",
			bundle.Identity{UID: 1001, GID: 1001, User: "app", Group: "app", Home: "/home/app"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			passwd, group, id := passwdAndGroup(t, tc.opts)
			if passwd != tc.passwd {
				t.Errorf("passwd\n%s\nwant\n%s", passwd, tc.passwd)
			}
			if group != tc.group {
				t.Errorf("group\n%s\nwant\n%s", group, tc.group)
			}
			if !reflect.DeepEqual(id, tc.id) {
				t.Errorf("identity %+v, want %+v", id, tc.id)
			}
		})
	}
}

func TestMakeRootless(t *testing.T) {
	sub := &bundle.IDRange{Start: 100000, Count: 65536}
	tests := []struct {
		name     string
		user     specs.User
		ids      bundle.RootlessIDs
		uidMap   []specs.LinuxIDMapping
		gidMap   []specs.LinuxIDMapping
		wantUser specs.User
		warnings int
	}{
		{"root, one id", specs.User{}, bundle.RootlessIDs{UID: 1001, GID: 1001},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}},
			specs.User{}, 1},
		{"user with subordinate ids", specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{29}}, bundle.RootlessIDs{UID: 1001, GID: 1002, SubUIDs: sub, SubGIDs: sub},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1002, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
			specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{29}}, 2},
		{"user without subordinate ids runs as root", specs.User{UID: 1000, GID: 1000}, bundle.RootlessIDs{UID: 1001, GID: 1001},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}},
			specs.User{}, 2},
		{"user beyond the subordinate range", specs.User{UID: 70000, GID: 0}, bundle.RootlessIDs{UID: 1001, GID: 1001, SubUIDs: sub, SubGIDs: sub},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}},
			specs.User{}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := bundle.Config(bundle.Options{Args: []string{"/bin/sh"}, Resources: &bundle.Resources{Pids: ptr(int64(5))}})
			if err != nil {
				t.Fatal(err)
			}
			spec.Process.User = tc.user
			warnings, err := bundle.MakeRootless(spec, tc.ids)
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
	spec, err := bundle.Config(bundle.Options{Args: []string{"/bin/sh"}, Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	merged, err := bundle.MergeConfig(spec, json.RawMessage(`{
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
