package container_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/store"
)

func TestDecodeOptionValues(t *testing.T) {
	tests := []struct {
		name, json string
		check      func(o container.Options) bool
		err        string
	}{
		{"user name", `{"args":["x"],"user":"app"}`, func(o container.Options) bool { return o.User.Name == "app" && o.User.Num == nil }, ""},
		{"user number", `{"args":["x"],"user":1000}`, func(o container.Options) bool { return *o.User.Num == 1000 }, ""},
		{"user digits", `{"args":["x"],"user":"1000"}`, func(o container.Options) bool { return *o.User.Num == 1000 }, ""},
		{"user negative", `{"args":["x"],"user":-1}`, nil, "expected a name or a number"},
		{"capability list", `{"args":["x"],"capabilities":["CAP_KILL"]}`, func(o container.Options) bool {
			return reflect.DeepEqual(o.Capabilities.Bounding, []string{"CAP_KILL"}) && o.Capabilities.Ambient == nil
		}, ""},
		{"capability sets", `{"args":["x"],"capabilities":{"ambient":["kill"]}}`, func(o container.Options) bool {
			return reflect.DeepEqual(o.Capabilities.Ambient, []string{"kill"}) && o.Capabilities.Bounding == nil
		}, ""},
		{"capability typo", `{"args":["x"],"capabilities":{"ambiant":["kill"]}}`, nil, `unknown option "ambiant" (known: ambient, bounding`},
		{"rlimit number", `{"args":["x"],"rlimits":{"nofile":10}}`, func(o container.Options) bool { return o.Rlimits["nofile"] == container.Rlimit{Soft: 10, Hard: 10} }, ""},
		{"rlimit pair", `{"args":["x"],"rlimits":{"nofile":{"soft":1,"hard":2}}}`, func(o container.Options) bool { return o.Rlimits["nofile"] == container.Rlimit{Soft: 1, Hard: 2} }, ""},
		{"rlimit half", `{"args":["x"],"rlimits":{"nofile":{"soft":1}}}`, nil, "expected a number or {soft, hard}"},
		{"memory string", `{"args":["x"],"resources":{"memory":"1G"}}`, func(o container.Options) bool { return *o.Resources.Memory == 1<<30 }, ""},
		{"memory bytes", `{"args":["x"],"resources":{"memory":4096}}`, func(o container.Options) bool { return *o.Resources.Memory == 4096 }, ""},
		{"memory bad", `{"args":["x"],"resources":{"memory":"lots"}}`, nil, `size "lots" is not a positive size`},
		{"extraConfig kept raw", `{"args":["x"],"extraConfig":{"Anything":{"goes":1}}}`, func(o container.Options) bool { return strings.Contains(string(o.ExtraConfig), "Anything") }, ""},
		{"rootless", `{"args":["x"],"rootless":{"uid":1,"gid":2,"subUids":{"start":100000,"count":65536}}}`, func(o container.Options) bool {
			return o.Rootless.UID == 1 && o.Rootless.GID == 2 && o.Rootless.SubUIDs.Count == 65536 && o.Rootless.SubGIDs == nil
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := container.DecodeOptions([]byte(tc.json))
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
		if got, err := container.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "1X", "G", "99999999999T"} {
		if _, err := container.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded", bad)
		}
	}
}

func passwdAndGroup(t *testing.T, opts container.Options) (string, string, container.Identity) {
	t.Helper()
	opts.Args = []string{"/bin/sh"}
	c, err := container.New(nil, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range c.Files {
		files[f.Path] = string(f.Data)
	}
	return files["/etc/passwd"], files["/etc/group"], c.Process.User
}

func TestAccounts(t *testing.T) {
	u32 := func(n uint32) *uint32 { return &n }
	tests := []struct {
		name          string
		opts          container.Options
		passwd, group string
		id            container.Identity
	}{
		{"default", container.Options{},
			"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\nnobody:x:65534:\n",
			container.Identity{UID: 0, GID: 0, User: "root", Group: "root", Home: "/root"}},
		{"new name", container.Options{User: &container.ID{Name: "app"}},
			"root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000:app:/home/app:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\napp:x:1000:\nnobody:x:65534:\n",
			container.Identity{UID: 1000, GID: 1000, User: "app", Group: "app", Home: "/home/app"}},
		{"number and group name", container.Options{User: &container.ID{Num: u32(1000)}, Group: &container.ID{Name: "users"}},
			"root:x:0:0:root:/root:/sbin/nologin\nuser:x:1000:1000:user:/home/user:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\nusers:x:1001:\nnobody:x:65534:\n",
			container.Identity{UID: 1000, GID: 1001, User: "user", Group: "users", Home: "/home/user"}},
		{"root by number, group by number", container.Options{User: &container.ID{Num: u32(0)}, Group: &container.ID{Num: u32(7)}},
			"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\ngroup:x:7:\nnobody:x:65534:\n",
			container.Identity{UID: 0, GID: 7, User: "root", Group: "group", Home: "/root"}},
		{"extra users and groups", container.Options{
			User:        &container.ID{Name: "web"},
			ExtraUsers:  map[string]container.UserEntry{"web": {UID: 33, GID: u32(33), Home: "/var/www", Shell: "/bin/sh"}, "db": {UID: 1000}},
			ExtraGroups: map[string]container.GroupEntry{"data": {GID: 500, Members: []string{"web", "db"}}, "ssl": {GID: 501, Members: []string{"web"}}},
		},
			"root:x:0:0:root:/root:/sbin/nologin\nweb:x:33:33:web:/var/www:/bin/sh\ndb:x:1000:1000:db:/home/db:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\nweb:x:33:\ndata:x:500:web,db\nssl:x:501:web\ndb:x:1000:\nnobody:x:65534:\n",
			container.Identity{UID: 33, GID: 33, User: "web", Group: "web", Home: "/var/www", AdditionalGids: []uint32{500, 501}}},
		{"new name skips taken ids", container.Options{User: &container.ID{Name: "app"}, ExtraUsers: map[string]container.UserEntry{"first": {UID: 1000}}},
			"root:x:0:0:root:/root:/sbin/nologin\nfirst:x:1000:1000:first:/home/first:/sbin/nologin\napp:x:1001:1001:app:/home/app:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n",
			"root:x:0:\nfirst:x:1000:\napp:x:1001:\nnobody:x:65534:\n",
			container.Identity{UID: 1001, GID: 1001, User: "app", Group: "app", Home: "/home/app"}},
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

func TestConfigErrors(t *testing.T) {
	args := []string{"/bin/sh"}
	tests := []struct {
		name string
		opts container.Options
		want string
	}{
		{"no args", container.Options{}, "args is empty: the container needs a program to run"},
		{"empty program", container.Options{Args: []string{""}}, "args[0] is empty"},
		{"relative destination", container.Options{Args: args, Mounts: []container.Mount{{Destination: "data", Source: "/x"}}}, `mount destination "data" is not an absolute path`},
		{"dot dot", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/data/../etc", Source: "/x"}}}, `mount destination "/data/../etc" contains ".."`},
		{"root", container.Options{Args: args, Mounts: []container.Mount{{Destination: "//", Source: "/x"}}}, `mount destination "//" is the root directory`},
		{"no source", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/data"}}}, "mount /data: a bind mount needs a source"},
		{"bind option, no source", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/data", Type: "ext4", Options: []string{"bind"}}}}, "mount /data: a bind mount needs a source"},
		{"twice", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/a", Source: "/x"}, {Destination: "/a/", Source: "/y"}}}, "mount destination /a is given twice"},
		{"empty option", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/a", Source: "/x", Options: []string{""}}}}, `option "" is not a single mount option`},
		{"comma option", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/a", Source: "/x", Options: []string{"ro,nosuid"}}}}, `option "ro,nosuid"`},
		{"bad arch", container.Options{Args: args, Arch: "z80"}, `arch "z80" is not a known architecture`},
		// config.json cannot carry these faithfully (found by FuzzConfig
		// and FuzzCheckDestination).
		{"arg not UTF-8", container.Options{Args: []string{"/bin/sh", "\xff"}}, `args[1] "\xff" is not valid UTF-8`},
		{"NUL in arg", container.Options{Args: []string{"/bin/sh\x00x"}}, `args[0] "/bin/sh\x00x" contains a NUL byte`},
		{"NUL in destination", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/a\x00b", Source: "/x"}}}, `mount destination "/a\x00b" contains a NUL byte`},
		{"destination not UTF-8", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/\xc7", Source: "/x"}}}, `mount destination "/\xc7" is not valid UTF-8`},
		{"source not UTF-8", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/a", Source: "/\xc7"}}}, `mount /a: source "/\xc7" is not valid UTF-8`},
		{"type with NUL", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/a", Type: "tmpfs\x00"}}}, `mount /a: type "tmpfs\x00" contains a NUL byte`},
		{"option not UTF-8", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/a", Source: "/x", Options: []string{"ro\xff"}}}}, `mount /a: option "ro\xff" is not valid UTF-8`},
		{"bad os", container.Options{Args: args, OS: "windows"}, `os "windows" is not supported`},
		{"relative workingDir", container.Options{Args: args, WorkingDir: "srv"}, `workingDir "srv" is not an absolute path`},
		{"bad hostname", container.Options{Args: args, Hostname: "a b"}, `hostname "a b" is not a valid host name`},
		{"bad env name", container.Options{Args: args, Env: map[string]string{"A=B": "x"}}, `env: "A=B" is not a valid variable name`},
		{"bad user", container.Options{Args: args, User: &container.ID{Name: "Bad User"}}, `user "Bad User" is not a valid user name or number`},
		{"bad group", container.Options{Args: args, Group: &container.ID{Name: "a:b"}}, `group "a:b" is not a valid group name or number`},
		{"bad capability", container.Options{Args: args, Capabilities: &container.Capabilities{Effective: []string{"CAP_FLY"}}}, `capabilities.effective: unknown capability "CAP_FLY"`},
		{"bad rlimit", container.Options{Args: args, Rlimits: map[string]container.Rlimit{"files": {Soft: 1, Hard: 1}}}, `rlimits: unknown limit "files"`},
		{"soft above hard", container.Options{Args: args, Rlimits: map[string]container.Rlimit{"nofile": {Soft: 10, Hard: 1}}}, "rlimits.nofile: soft limit 10 is above the hard limit 1"},
		{"bad network", container.Options{Args: args, Network: "bridge"}, `network "bridge" is not "private" or "host"`},
		{"bad cpu", container.Options{Args: args, Resources: &container.Resources{CPU: ptr(-1.0)}}, "resources.cpu -1 is not a positive number of CPUs"},
		{"bad pids", container.Options{Args: args, Resources: &container.Resources{Pids: ptr(int64(0))}}, "resources.pids 0 is not positive"},
		{"bad extra user", container.Options{Args: args, ExtraUsers: map[string]container.UserEntry{"x": {UID: 5, Home: "rel"}}}, "extraUsers.x: home"},
		{"rootless uid -1", container.Options{Args: args, Rootless: &container.RootlessIDs{UID: 1<<32 - 1, GID: 100}}, "rootless: uid 4294967295, gid 100: ids go from 0 to 4294967294"},
		{"rootless empty range", container.Options{Args: args, Rootless: &container.RootlessIDs{UID: 1000, GID: 100, SubGIDs: &container.IDRange{Start: 100000}}}, "rootless.subGids: the range from 100000 holds no id"},
		{"rootless range past the last id", container.Options{Args: args, Rootless: &container.RootlessIDs{UID: 1000, GID: 100, SubUIDs: &container.IDRange{Start: 1<<32 - 1, Count: 10}}}, "rootless.subUids: 10 ids from 4294967295 end at 4294967304, past the last id, 4294967294"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := container.New(nil, tc.opts, nil)
			if c != nil {
				t.Fatal("container and error both returned")
			}
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
		gotOS, gotArch, err := container.Platform(tc.os, tc.arch)
		if err != nil || gotOS != tc.wantOS || gotArch != tc.wantArch {
			t.Errorf("Platform(%q, %q) = %q, %q, %v; want %q, %q", tc.os, tc.arch, gotOS, gotArch, err, tc.wantOS, tc.wantArch)
		}
	}
}

func TestDecodeOptions(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"unknown option", `{"args":["/bin/sh"],"readOnly":true}`, `unknown option "readOnly" (known: annotations, arch, args, capabilities, env,`},
		{"unknown mount field", `{"args":["/bin/sh"],"mounts":[{"destination":"/a","sorce":"/x"}]}`, `unknown option "sorce" in /mounts/0`},
		{"wrong type", `{"args":"/bin/sh"}`, `option "args": expected a list, got JSON string`},
		{"trailing", `{"args":["/bin/sh"]} {}`, "trailing data"},
		{"not json", `{`, "container options: unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := container.DecodeOptions([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	opts, err := container.DecodeOptions([]byte(`{"args":["/bin/sh","-c","x"],"mounts":[{"destination":"/a","source":"/x","isFile":true}],"readonly":true,"os":"linux","arch":"x86_64"}`))
	if err != nil || len(opts.Args) != 3 || !opts.Mounts[0].IsFile || opts.Readonly == nil || !*opts.Readonly || opts.Arch != "x86_64" {
		t.Fatalf("decoded %+v, %v", opts, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		p, dir string
		want   bool
	}{
		{"/nix/store", "/nix/store", true},
		{"/nix/store/x", "/nix/store", true},
		{"/nix/storex", "/nix/store", false},
		{"/nix", "/nix/store", false},
		{"/anything", "/", true},
		{"/", "/", true},
	} {
		if got := container.Within(tc.p, tc.dir); got != tc.want {
			t.Errorf("Within(%q, %q) = %v", tc.p, tc.dir, got)
		}
	}
}

// TestStoreBindsReadOnly: a bind mount whose source is in the store or
// holds it is made read-only; others are left as given.
func TestStoreBindsReadOnly(t *testing.T) {
	g, err := store.NewGraph(nil, "/nix/store")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source string
		ro     bool
	}{
		{"/nix/store/" + strings.Repeat("a", 32) + "-x", true},
		{"/nix", true},
		{"/", true},
		{"/srv/data", false},
	} {
		c, err := container.New(g, container.Options{Args: []string{"/bin/sh"}, Mounts: []container.Mount{{Destination: "/data", Source: tc.source}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range c.Mounts {
			if m.Destination == "/data" && slices.Contains(m.Options, "ro") != tc.ro {
				t.Errorf("source %s: options %q", tc.source, m.Options)
			}
		}
	}
}
