package bundle_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/schema"
	"github.com/oci-builder/oci-builder/pkg/specconv"
	"github.com/oci-builder/oci-builder/pkg/staging"
	"github.com/oci-builder/oci-builder/pkg/store"
)

func sp(dir string, c byte, name string) string {
	return dir + "/" + strings.Repeat(string(c), 32) + "-" + name
}

func testGraph(t *testing.T, dir string) (*store.Graph, string, string, string) {
	t.Helper()
	sh, lib, script := sp(dir, 'a', "busybox"), sp(dir, 'b', "lib"), sp(dir, 'c', "run.sh")
	g, err := store.NewGraph([]store.PathInfo{
		{Path: sh, References: []string{lib}},
		{Path: lib, References: []string{lib}},
		{Path: script, References: []string{sh}},
		{Path: sp(dir, 'd', "unrelated")},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return g, sh, lib, script
}

// dirs is a StoreFS that knows a fixed set of directories.
type dirs map[string]bool

func (d dirs) IsDir(p string) bool { return d[p] }

func closurePaths(p *bundle.Plan) []string {
	var out []string
	for _, info := range p.Closure {
		out = append(out, info.Path)
	}
	return out
}

func TestNewPlan(t *testing.T) {
	g, sh, lib, script := testGraph(t, "/nix/store")
	plan, err := bundle.NewPlan(g, container.Options{
		Args:       []string{script, "-c", "exec " + sh + "/bin/sh"},
		Env:        map[string]string{"LIB": lib + "/share"},
		WorkingDir: "/srv/app",
		Mounts: []container.Mount{
			{Destination: "/etc/hosts", Source: "/etc/hosts", IsFile: true},
			{Destination: "/data", Source: "/srv"},
			{Destination: "/data/inner", Source: "/srv2"},
		},
	}, dirs{sh + "/bin": true, lib + "/bin": true, sp("/nix/store", 'd', "unrelated") + "/bin": true})
	if err != nil {
		t.Fatal(err)
	}
	// PATH: bin directories of the closure, mentioned paths first (script
	// has none, then sh), then the rest (lib); not paths outside the closure.
	wantEnv := []string{"HOME=/root", "LIB=" + lib + "/share", "PATH=" + sh + "/bin:" + lib + "/bin"}
	if !reflect.DeepEqual(plan.Spec.Process.Env, wantEnv) {
		t.Fatalf("env %q, want %q", plan.Spec.Process.Env, wantEnv)
	}
	// root's home is a tmpfs reached through a symlink, like /tmp.
	if want := []string{"/srv/app", "/var/empty"}; !reflect.DeepEqual(plan.Dirs, want) {
		t.Fatalf("dirs %v, want %v", plan.Dirs, want)
	}
	wantLinks := []container.Symlink{{Path: "/tmp", Target: "/dev/tmp"}, {Path: "/var/tmp", Target: "/dev/tmp"}, {Path: "/run", Target: "/dev/run"}, {Path: "/root", Target: "/dev/home"}}
	if !reflect.DeepEqual(plan.Symlinks, wantLinks) {
		t.Fatalf("symlinks %v", plan.Symlinks)
	}
	var files []string
	for _, f := range plan.Files {
		files = append(files, f.Path)
	}
	if want := []string{"/etc/passwd", "/etc/group", "/etc/nsswitch.conf"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("files %v", files)
	}
	if want := []string{sh, lib, script}; !reflect.DeepEqual(closurePaths(plan), want) {
		t.Fatalf("closure %v, want %v", closurePaths(plan), want)
	}
	want := []bundle.Mountpoint{
		{Path: "/proc"}, {Path: "/dev"}, {Path: "/sys"},
		{Path: "/data"}, {Path: "/etc/hosts", IsFile: true},
	}
	if !reflect.DeepEqual(plan.Mountpoints, want) {
		t.Fatalf("mountpoints %+v, want %+v", plan.Mountpoints, want)
	}
	if plan.StoreDir != "/nix/store" {
		t.Fatalf("store dir %q", plan.StoreDir)
	}
}

func TestNewPlanErrors(t *testing.T) {
	g, sh, _, _ := testGraph(t, "/nix/store")
	outside := sp("/nix/store", 'z', "not-exported")
	tests := []struct {
		name string
		opts container.Options
		want string
	}{
		{"args path outside the closure", container.Options{Args: []string{sh + "/bin/sh", outside + "/bin/x"}}, "args[1]: " + outside + " is not in the closure graph"},
		{"mount inside a closure path", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: sh + "/etc", Source: "/x"}}}, "mount destination " + sh + "/etc is inside the store directory /nix/store"},
		{"mount inside the store directory", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/nix/store/foo", Source: "/x"}}}, "mount destination /nix/store/foo is inside the store directory /nix/store, which holds only the closure"},
		{"writable bind of a store path", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/data", Source: sh, Options: []string{"rw"}}}}, "mount /data: source " + sh + " may reach the store (it lies in the store), which is never mounted writable"},
		{"writable bind of the store's parent", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/host-nix", Source: "/nix", Options: []string{"rw"}}}}, "mount /host-nix: source /nix may reach the store (it is or holds the store), which is never mounted writable"},
		{"writable bind of a symlink through /proc", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/s", Source: "/proc/self/root/nix/store", Options: []string{"rbind", "rw"}}}}, "mount /s: source /proc/self/root/nix/store may reach the store (links in /proc"},
		{"writable bind of the bundle's directory", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/s", Source: "..", Options: []string{"rw"}}}}, "mount /s: source .. may reach the store (a relative source is taken from the bundle's directory"},
		{"writable bind through ..", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/s", Source: "/srv/../nix", Options: []string{"rrw"}}}}, `may reach the store (its ".." is resolved on the host after the symlinks before it), which is never mounted writable: drop the "rrw" option`},
		{"overlay with its upper directory in the store", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/x", Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/srv/low", "upperdir=" + sh, "workdir=/srv/work"}}}}, "mount /x: a filesystem (type overlay) through the host path " + sh + ", which may reach the store (it lies in the store)"},
		{"overlay with a relative work directory", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/x", Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/srv/low", "upperdir=/srv/up", "workdir=../w", "ro"}}}}, "mount /x: a filesystem (type overlay) through the host path ../w, which may reach the store (a relative source"},
		{"overlay of host directories", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/x", Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/srv/low", "upperdir=/srv/up", "workdir=/srv/work"}}}}, "mount /x: a filesystem (type overlay) through the host path /srv/up, which may reach the store (an overlay's workdir is written as it is mounted"},
		{"a device by a relative path", container.Options{Args: []string{sh}, Mounts: []container.Mount{{Destination: "/x", Type: "ext4", Source: "../../../dev/vda"}}}, "mount /x: a filesystem (type ext4) through the host path ../../../dev/vda, which may reach the store"},
		{"working directory inside /tmp", container.Options{Args: []string{sh}, WorkingDir: "/tmp/work"}, "workingDir /tmp/work is inside /tmp, an empty tmpfs"},
		{"hardlink with a writable root", container.Options{Args: []string{sh}, StoreMode: string(bundle.StoreHardlink), ExtraConfig: []byte(`{"root":{"readonly":false}}`)}, `storeMode "hardlink" refuses this: root.readonly is false`},
		{"hardlink with CAP_SYS_ADMIN", container.Options{Args: []string{sh}, StoreMode: string(bundle.StoreHardlink), Capabilities: &container.Capabilities{Bounding: []string{"SYS_ADMIN"}}}, `storeMode "hardlink" refuses this: process.capabilities has CAP_SYS_ADMIN`},
		{"bind with CAP_SYS_ADMIN", container.Options{Args: []string{sh}, StoreMode: string(bundle.StoreBind), Capabilities: &container.Capabilities{Bounding: []string{"SYS_ADMIN"}}}, `storeMode "bind" refuses this: process.capabilities has CAP_SYS_ADMIN`},
		{"bind with CAP_SYS_ADMIN through extraConfig", container.Options{Args: []string{sh}, StoreMode: string(bundle.StoreBind), ExtraConfig: []byte(`{"process":{"capabilities":{"ambient":["CAP_SYS_ADMIN"]}}}`)}, `storeMode "bind" refuses this: process.capabilities has CAP_SYS_ADMIN`},
		{"hardlink with CAP_SYS_MODULE", container.Options{Args: []string{sh}, StoreMode: string(bundle.StoreHardlink), Capabilities: &container.Capabilities{Bounding: []string{"SYS_MODULE"}}}, `storeMode "hardlink" refuses this: process.capabilities has CAP_SYS_MODULE`},
		{"bind with CAP_DAC_READ_SEARCH and a writable mount", container.Options{Args: []string{sh}, StoreMode: string(bundle.StoreBind), Capabilities: &container.Capabilities{Bounding: []string{"DAC_READ_SEARCH"}}, Mounts: []container.Mount{{Destination: "/data", Source: "/srv", Options: []string{"rw"}}}}, `storeMode "bind" refuses this: process.capabilities has CAP_DAC_READ_SEARCH with the writable mount /data: open_by_handle_at`},
		{"hardlink with CAP_DAC_READ_SEARCH and a device", container.Options{Args: []string{sh}, StoreMode: string(bundle.StoreHardlink), Capabilities: &container.Capabilities{Bounding: []string{"DAC_READ_SEARCH"}}, Mounts: []container.Mount{{Destination: "/x", Source: "/dev/vda", Type: "ext4"}}}, `storeMode "hardlink" refuses this: process.capabilities has CAP_DAC_READ_SEARCH with the writable mount /x`},
		{"empty args", container.Options{}, "args is empty"},
		{"unknown store mode", container.Options{Args: []string{sh}, StoreMode: "symlink"}, `storeMode "symlink" is not one of "copy", "reflink", "hardlink", "bind"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.NewPlan(g, tc.opts, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewPlanNotClosed(t *testing.T) {
	sh, lib := sp("/nix/store", 'a', "busybox"), sp("/nix/store", 'b', "lib")
	g, err := store.NewGraph([]store.PathInfo{{Path: sh, References: []string{lib}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = bundle.NewPlan(g, container.Options{Args: []string{sh + "/bin/sh"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "refers to "+lib+", which is not in the graph") {
		t.Fatalf("error %v", err)
	}
}

// TestWrite writes a bundle from a fake store in a temporary directory,
// with a store directory other than /nix/store.
func TestWrite(t *testing.T) {
	storeDir := filepath.Join(t.TempDir(), "store")
	g, sh, lib, script := testGraph(t, storeDir)
	for _, p := range []string{sh + "/bin", lib, filepath.Dir(script)} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(sh+"/bin/sh", []byte("shell"), 0o555)
	os.WriteFile(script, []byte("echo"), 0o444)
	plan, err := bundle.NewPlan(g, container.Options{
		Args:   []string{sh + "/bin/sh", script},
		Mounts: []container.Mount{{Destination: "/etc/resolv.conf", Source: "/etc/resolv.conf", IsFile: true}},
	}, bundle.HostStore{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bundle")
	stats, err := bundle.Write(context.Background(), out, plan, bundle.WriteOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
	})
	if stats.Paths != 3 || stats.Files != 2 {
		t.Fatalf("stats %+v", stats)
	}
	for _, p := range []string{"config.json", "rootfs/proc", "rootfs/dev", "rootfs/sys", "rootfs/etc/resolv.conf", "rootfs/etc/passwd", "rootfs/tmp", "rootfs/root", "rootfs" + sh + "/bin/sh", "rootfs" + script, "rootfs" + lib} {
		if _, err := os.Lstat(filepath.Join(out, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	if st, _ := os.Stat(filepath.Join(out, "rootfs/etc/resolv.conf")); st == nil || !st.Mode().IsRegular() {
		t.Errorf("file mountpoint is not a file")
	}
	if st, _ := os.Stat(out); st == nil || st.Mode().Perm() != 0o755 {
		t.Errorf("bundle mode %v", st.Mode())
	}
	// The output directory must not exist yet.
	_, err = bundle.Write(context.Background(), out, plan, bundle.WriteOptions{})
	if !errors.Is(err, staging.ErrExists) || err.Error() != "output directory "+out+" already exists" {
		t.Fatalf("error %v", err)
	}
}

// TestDefaultPathBound checks the default PATH of a closure with so many
// bin directories that it would pass 64 KiB: it keeps those of the paths
// the process mentions, and container.New's warning reaches the plan; a
// PATH set in env is kept.
func TestDefaultPathBound(t *testing.T) {
	app := sp("/nix/store", 'a', "app")
	infos := []store.PathInfo{{Path: app}}
	fsys := dirs{app + "/bin": true}
	for i := 0; i < 2000; i++ {
		dep := "/nix/store/" + strings.Repeat("b", 32-len(fmt.Sprint(i))) + fmt.Sprint(i) + "-dep"
		infos[0].References = append(infos[0].References, dep)
		infos = append(infos, store.PathInfo{Path: dep})
		fsys[dep+"/bin"] = true
	}
	g, err := store.NewGraph(infos, "")
	if err != nil {
		t.Fatal(err)
	}
	// The graph has no hashes to verify against.
	noVerify := false
	plan, err := bundle.NewPlan(g, container.Options{Args: []string{app + "/bin/app"}, Verify: &noVerify}, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if env := plan.Spec.Process.Env; !reflect.DeepEqual(env, []string{"HOME=/root", "PATH=" + app + "/bin"}) {
		t.Fatalf("env %q", env)
	}
	if len(plan.Warnings) != 1 || !strings.HasPrefix(plan.Warnings[0], "PATH holds only the bin directories of the store paths the process mentions: with every bin directory of the closure it would be ") {
		t.Fatalf("warnings %q", plan.Warnings)
	}
	plan, err = bundle.NewPlan(g, container.Options{Args: []string{app + "/bin/app"}, Env: map[string]string{"PATH": "/bin"}, Verify: &noVerify}, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if env := plan.Spec.Process.Env; !reflect.DeepEqual(env, []string{"HOME=/root", "PATH=/bin"}) || len(plan.Warnings) != 0 {
		t.Fatalf("env %q, warnings %q", env, plan.Warnings)
	}
}

// TestNewPlanBind checks bind mode's configuration: after every other mount
// (so after a user's mount of /nix), a tmpfs at the store directory with an
// inode for its root and each mountpoint, then one read-only bind mount per
// closure path, in order, and no mountpoints planned for them; a user mount
// inside the store directory, which the tmpfs would hide, is refused.
func TestNewPlanBind(t *testing.T) {
	g, sh, lib, script := testGraph(t, "/nix/store")
	plan, err := bundle.NewPlan(g, container.Options{
		Args:      []string{sh + "/bin/sh", script},
		StoreMode: string(bundle.StoreBind),
		Mounts: []container.Mount{
			{Destination: "/nix", Type: "tmpfs"},
			{Destination: "/zz", Source: "/srv"},
			{Destination: "/data", Source: "/srv"},
		},
		StartCheck: "/opt/bin/oci-builder",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.StoreMode != bundle.StoreBind {
		t.Fatalf("store mode %q", plan.StoreMode)
	}
	var got []string
	for _, m := range plan.Spec.Mounts[10:] {
		got = append(got, m.Destination+" "+m.Type+" "+m.Source+" "+strings.Join(m.Options, ","))
	}
	ro := " none %s rbind,ro,nosuid,nodev"
	want := []string{
		"/data none /srv rbind,nosuid,nodev",
		"/nix tmpfs tmpfs ",
		"/zz none /srv rbind,nosuid,nodev",
		"/nix/store tmpfs tmpfs nosuid,nodev,noexec,mode=0555,nr_inodes=4",
		sh + strings.Replace(ro, "%s", sh, 1),
		lib + strings.Replace(ro, "%s", lib, 1),
		script + strings.Replace(ro, "%s", script, 1),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mounts\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// /srv, writable, is checked when the container starts, once.
	wantHooks := &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/opt/bin/oci-builder", Args: []string{"oci-builder", "check-mounts", "--store-dir", "/nix/store", "--", "/srv"}}}}
	if !reflect.DeepEqual(plan.Spec.Hooks, wantHooks) || len(plan.Warnings) != 0 {
		t.Fatalf("hooks %+v, warnings %q", plan.Spec.Hooks, plan.Warnings)
	}
	for _, mp := range plan.Mountpoints {
		if strings.HasPrefix(mp.Path, "/nix/store/") {
			t.Fatalf("mountpoint %s planned", mp.Path)
		}
	}
	// The store mounts join the config after NewPlan's schema check: the
	// whole config must still be valid.
	config, err := specconv.MarshalConfig(plan.Spec)
	if err != nil {
		t.Fatal(err)
	}
	v, err := schema.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(config); err != nil {
		t.Fatalf("bind-mode config: %v", err)
	}
	for _, dest := range []string{"/nix/store", "/nix/store/extra"} {
		_, err := bundle.NewPlan(g, container.Options{
			Args: []string{sh + "/bin/sh"}, StoreMode: string(bundle.StoreBind),
			Mounts: []container.Mount{{Destination: dest, Type: "tmpfs"}},
		}, nil)
		want := "mount destination " + dest + " is inside the store directory /nix/store, which holds only the closure"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("mount at %s: error %v, want %q", dest, err, want)
		}
	}
	// Other modes add no store mounts.
	for _, mode := range []bundle.StoreMode{"", bundle.StoreCopy, bundle.StoreReflink, bundle.StoreHardlink} {
		plan, err := bundle.NewPlan(g, container.Options{Args: []string{sh}, StoreMode: string(mode)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Spec.Mounts) != 10 {
			t.Fatalf("%q: %d mounts", mode, len(plan.Spec.Mounts))
		}
	}
}

// TestWriteModes writes the same plan in every store mode into the same
// filesystem as the fake store: copy and reflink (which falls back to a copy
// where the filesystem cannot clone) make new files, hardlink links them,
// bind only an empty store directory.
func TestWriteModes(t *testing.T) {
	storeDir := filepath.Join(t.TempDir(), "store")
	g, sh, lib, script := testGraph(t, storeDir)
	for _, p := range []string{sh + "/bin", lib} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(sh+"/bin/sh", []byte("shell"), 0o555)
	os.WriteFile(script, []byte("echo"), 0o444)
	for _, mode := range bundle.StoreModes() {
		t.Run(string(mode), func(t *testing.T) {
			plan, err := bundle.NewPlan(g, container.Options{Args: []string{sh + "/bin/sh", script}, StoreMode: string(mode)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "bundle")
			stats, err := bundle.Write(context.Background(), out, plan, bundle.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
			})
			var src, dst syscall.Stat_t
			syscall.Stat(sh+"/bin/sh", &src)
			errDst := syscall.Lstat(filepath.Join(out, "rootfs", sh, "bin/sh"), &dst)
			linked := errDst == nil && src.Ino == dst.Ino && src.Dev == dst.Dev
			data, _ := os.ReadFile(filepath.Join(out, "rootfs", script))
			switch mode {
			case bundle.StoreBind:
				if !os.IsNotExist(errDst) || len(data) != 0 || stats.Paths != 3 || stats.Bytes != 0 {
					t.Fatalf("bind: %v, script %q, stats %+v", errDst, data, stats)
				}
				// The store directory is empty: the runtime makes the
				// mountpoints in the tmpfs mounted over it.
				entries, err := os.ReadDir(filepath.Join(out, "rootfs", storeDir))
				if err != nil || len(entries) != 0 {
					t.Fatalf("rootfs store directory: %v, entries %v", err, entries)
				}
			case bundle.StoreHardlink:
				if !linked || stats.Linked != 2 {
					t.Fatalf("hardlink: linked %v, stats %+v", linked, stats)
				}
			default:
				if errDst != nil || linked || string(data) != "echo" || stats.Copied+stats.Cloned != 2 {
					t.Fatalf("%s: %v, linked %v, script %q, stats %+v", mode, errDst, linked, data, stats)
				}
			}
		})
	}
}

// TestPlanVerify checks the verify option's decisions: the default per
// store mode, an explicit value, graphs that give every path, some paths or
// no path a narHash, and a malformed one.
func TestPlanVerify(t *testing.T) {
	const hash = "sha256:0031fw9ny90fckgx1sqa4q026ksaf0kcykpdqqfm35bm84bqcs1h"
	sh, lib := sp("/nix/store", 'a', "busybox"), sp("/nix/store", 'b', "lib")
	graphWith := func(shHash, libHash string) *store.Graph {
		g, err := store.NewGraph([]store.PathInfo{
			{Path: sh, References: []string{lib}, NarHash: shHash},
			{Path: lib, NarHash: libHash},
		}, "")
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	on, off := true, false
	tests := []struct {
		name             string
		g                *store.Graph
		mode             bundle.StoreMode
		verify           *bool
		want             bool
		warning, failure string
	}{
		{"copy by default", graphWith(hash, hash), "", nil, true, "", ""},
		{"reflink by default", graphWith(hash, hash), bundle.StoreReflink, nil, true, "", ""},
		{"hardlink by default", graphWith(hash, hash), bundle.StoreHardlink, nil, true, "", ""},
		{"not bind by default", graphWith(hash, hash), bundle.StoreBind, nil, false, "", ""},
		{"bind asked", graphWith(hash, hash), bundle.StoreBind, &on, true, "", ""},
		{"copy turned off", graphWith(hash, hash), bundle.StoreCopy, &off, false, "", ""},
		{"SRI", graphWith("sha256-ZsQrRvspBRD0iaqY85y4xLk8rHD/oqg7m2ooXVej/fE=", hash), "", nil, true, "", ""},
		{"no hashes", graphWith("", ""), "", nil, false, "not verifying the closure: the closure graph gives no narHash (the text format of exportReferencesGraph carries none)", ""},
		{"some hashes", graphWith(hash, ""), "", nil, true, "not verifying 1 of 2 store paths, " + lib + " first: the closure graph gives them no narHash", ""},
		{"no hashes, asked", graphWith("", ""), "", &on, false, "", "verify: the closure graph gives no narHash for " + sh + " (2 of 2 store paths have none; the text format of exportReferencesGraph carries none): set verify to false, or give a graph with hashes"},
		{"some hashes, asked", graphWith(hash, ""), bundle.StoreBind, &on, false, "", "verify: the closure graph gives no narHash for " + lib + " (1 of 2"},
		{"no hashes, off", graphWith("", ""), "", &off, false, "", ""},
		{"malformed", graphWith("sha256:x", hash), "", nil, false, "", "store path " + sh + `: narHash "sha256:x": `},
		{"not sha256", graphWith("sha1:"+strings.Repeat("0", 32), hash), "", nil, false, "", "not a SHA-256 hash"},
		{"malformed, off", graphWith("sha256:x", hash), "", &off, false, "", "store path " + sh + `: narHash "sha256:x": `},
		{"malformed, bind", graphWith(hash, "sha256:x"), bundle.StoreBind, nil, false, "", "store path " + lib + `: narHash "sha256:x": `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := bundle.NewPlan(tc.g, container.Options{Args: []string{sh}, StoreMode: string(tc.mode), Verify: tc.verify}, nil)
			if tc.failure != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.failure) && !strings.Contains(err.Error(), tc.failure) {
					t.Fatalf("error %v, want %q", err, tc.failure)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Verify != tc.want {
				t.Errorf("Verify = %v, want %v", plan.Verify, tc.want)
			}
			warned := strings.Join(plan.Warnings, "\n")
			if tc.warning != "" && warned != tc.warning || tc.warning == "" && warned != "" {
				t.Errorf("warnings %q, want %q", warned, tc.warning)
			}
		})
	}
}

// TestNewPlanWeakenings checks, in every store mode, each setting that lets
// the container past a bundle's protections: refused where the container's
// store files are the host store's own (hardlink, bind), else a warning
// that names it; and what needs none.
func TestNewPlanWeakenings(t *testing.T) {
	g, sh, _, _ := testGraph(t, "/nix/store")
	caps := func(names ...string) *container.Capabilities { return &container.Capabilities{Bounding: names} }
	data := []container.Mount{{Destination: "/data", Source: "/srv"}}
	const check = "/opt/bin/oci-builder"
	tests := []struct {
		name    string
		opts    container.Options
		want    string   // the warning or the refusal, "" for none
		refused []string // the modes that refuse it
	}{
		{"nothing", container.Options{}, "", nil},
		{"writable root", container.Options{ExtraConfig: []byte(`{"root":{"readonly":false}}`)}, "root.readonly is false", []string{"hardlink"}},
		{"CAP_SYS_ADMIN", container.Options{Capabilities: caps("SYS_ADMIN")}, "process.capabilities has CAP_SYS_ADMIN", []string{"hardlink", "bind"}},
		{"CAP_SYS_MODULE", container.Options{Capabilities: caps("SYS_MODULE")}, "process.capabilities has CAP_SYS_MODULE", []string{"hardlink", "bind"}},
		{"CAP_DAC_READ_SEARCH alone", container.Options{Capabilities: caps("DAC_READ_SEARCH")}, "", nil},
		{"CAP_DAC_READ_SEARCH and a read-only mount", container.Options{Capabilities: caps("DAC_READ_SEARCH"), Mounts: []container.Mount{{Destination: "/data", Source: "/srv", Options: []string{"ro"}}}}, "", nil},
		{"CAP_DAC_READ_SEARCH and a writable mount", container.Options{Capabilities: caps("DAC_READ_SEARCH"), Mounts: data, StartCheck: check}, "process.capabilities has CAP_DAC_READ_SEARCH with the writable mount /data", []string{"hardlink", "bind"}},
		{"readonlyPaths emptied", container.Options{ExtraConfig: []byte(`{"linux":{"readonlyPaths":[]}}`)}, "linux.readonlyPaths lacks /proc/bus, /proc/fs, /proc/irq, /proc/sys, /proc/sysrq-trigger: root in the container can write there", nil},
		{"maskedPaths shortened", container.Options{ExtraConfig: []byte(`{"linux":{"maskedPaths":["/proc/kcore"]}}`)}, "linux.maskedPaths lacks /proc/acpi, /proc/asound, /proc/keys,", nil},
		{"a hook", container.Options{ExtraConfig: []byte(`{"hooks":{"poststop":[{"path":"/bin/true"}]}}`)}, "hooks.poststop[0] runs /bin/true on the host", nil},
		{"a start check given by hand", container.Options{ExtraConfig: []byte(`{"hooks":{"createRuntime":[{"path":"/x/oci-builder","args":["oci-builder","check-mounts","--store-dir","/nix/store","--","/y"]}]}}`)}, "hooks.createRuntime[0] runs /x/oci-builder on the host, as the user who runs runc (root), outside every protection of the container: extraConfig gave it the start check's form", nil},
		{"a writable bind of the store through extraConfig", container.Options{ExtraConfig: []byte(`{"mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/s","type":"none","source":"/nix/store","options":["rbind","rw"]}]}`)}, "mounts[1] (/s): source /nix/store may reach the store (it is or holds the store) and is mounted writable", nil},
		{"a filesystem of a block device", container.Options{Mounts: []container.Mount{{Destination: "/x", Source: "/dev/vda", Type: "ext4"}}, StartCheck: check}, "(/x): a filesystem (type ext4) from the host's /dev/vda: if it is the store's device or leads into the store, the container can change the store's files", nil},
		{"an overlay through extraConfig", container.Options{ExtraConfig: []byte(`{"mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/x","type":"overlay","source":"overlay","options":["lowerdir=/srv/l","upperdir=/nix/store/aaaa-x","workdir=/srv/w"]}]}`)}, "mounts[1] (/x): a filesystem (type overlay) from the host's /nix/store/aaaa-x, which may reach the store (it lies in the store): the container can change store paths", nil},
		{"an overlay of host directories through extraConfig", container.Options{ExtraConfig: []byte(`{"mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/x","type":"overlay","source":"overlay","options":["lowerdir=/srv/l","upperdir=/srv/u","workdir=/srv/w"]}]}`), StartCheck: check}, "mounts[1] (/x): a filesystem (type overlay) from the host's /srv/u, which may reach the store (an overlay's workdir is written as it is mounted, before the start check could see where it leads)", nil},
		{"a host device", container.Options{ExtraConfig: []byte(`{"linux":{"devices":[{"path":"/dev/disk","type":"b","major":254,"minor":0}]}}`)}, "linux.devices[0] makes the host's device b 254:0 at /dev/disk: a block device may be the store's disk", nil},
		{"a device cgroup rule", container.Options{ExtraConfig: []byte(`{"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":254,"access":"rw"}]}}}`)}, `linux.resources.devices[1] allows "rw" access to block devices 254:*: a block device may be the store's disk`, nil},
		{"every device", container.Options{ExtraConfig: []byte(`{"linux":{"resources":{"devices":[{"allow":true,"access":"rwm"}]}}}`)}, `linux.resources.devices[0] allows "rwm" access to all devices`, nil},
		{"the host's pid namespace", container.Options{ExtraConfig: []byte(`{"linux":{"namespaces":[{"type":"mount"},{"type":"network"},{"type":"ipc"},{"type":"uts"}]}}`)}, "linux.namespaces has no pid namespace: the container sees the host's processes and, as root, can signal them", nil},
		{"a pid namespace joined", container.Options{ExtraConfig: []byte(`{"linux":{"namespaces":[{"type":"pid","path":"/proc/1/ns/pid"},{"type":"mount"},{"type":"uts"}]}}`)}, "linux.namespaces[0] joins the pid namespace at /proc/1/ns/pid, which may be the host's", nil},
		{"a writable bind without a start check", container.Options{Mounts: data}, "mount /data is read-only: nothing can check when the container starts that its source /srv does not lead into the store", nil},
		{"a writable bind asked without a start check", container.Options{Mounts: []container.Mount{{Destination: "/data", Source: "/srv", Options: []string{"rw"}}}}, "(/data): source /srv is mounted writable and nothing checks when the container starts that it does not lead into the store", nil},
		{"a writable bind with a start check", container.Options{Mounts: data, StartCheck: check}, "", nil},
		{"a read-only bind of the root", container.Options{Mounts: []container.Mount{{Destination: "/h", Source: "/"}}}, "", nil},
	}
	for _, tc := range tests {
		for _, mode := range bundle.StoreModes() {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				opts := tc.opts
				off := false
				opts.Args, opts.StoreMode, opts.Verify = []string{sh}, string(mode), &off
				plan, err := bundle.NewPlan(g, opts, nil)
				refused := false
				for _, m := range tc.refused {
					refused = refused || m == string(mode)
				}
				if refused {
					if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("storeMode %q refuses this: %s", mode, tc.want)) {
						t.Fatalf("error %v, want a refusal of %q", err, tc.want)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				warned := strings.Join(plan.Warnings, "\n")
				if tc.want == "" && warned != "" || !strings.Contains(warned, tc.want) {
					t.Fatalf("warnings %q, want %q", warned, tc.want)
				}
				// Every read-only bind mount is recursively read-only,
				// bind mode's store paths (which hold no mount) aside.
				for _, m := range plan.Spec.Mounts {
					ro, rro, bind := false, false, false
					for _, o := range m.Options {
						ro, rro, bind = ro || o == "ro", rro || o == "rro", bind || o == "rbind" || o == "bind"
					}
					if bind && ro && !rro && !strings.HasPrefix(m.Source, "/nix/store/") {
						t.Errorf("mount %s: read-only but not recursively: %q", m.Destination, m.Options)
					}
				}
			})
		}
	}
}
