package bundle_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/rootfs"
	"github.com/oci-builder/oci-builder/pkg/store"
)

func sp(dir string, c byte, name string) string {
	return dir + "/" + strings.Repeat(string(c), 32) + "-" + name
}

func graph(t *testing.T, dir string) (*store.Graph, string, string, string) {
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
	g, sh, lib, script := graph(t, "/nix/store")
	plan, err := bundle.NewPlan(g, bundle.Options{
		Args:       []string{script, "-c", "exec " + sh + "/bin/sh"},
		Env:        map[string]string{"LIB": lib + "/share"},
		WorkingDir: "/srv/app",
		Mounts: []bundle.Mount{
			{Destination: "/etc/hosts", Source: "/etc/hosts", IsFile: true},
			{Destination: "/data", Source: "/srv"},
			{Destination: "/data/inner", Source: "/srv2"},
			{Destination: "/nix/store/extra", Source: "/opt/extra"},
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
	if want := []string{"/root", "/srv/app", "/var/empty"}; !reflect.DeepEqual(plan.Dirs, want) {
		t.Fatalf("dirs %v, want %v", plan.Dirs, want)
	}
	if len(plan.Symlinks) != 1 || plan.Symlinks[0] != (bundle.Symlink{Path: "/tmp", Target: "/dev/tmp"}) {
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
		{Path: "/data"}, {Path: "/etc/hosts", IsFile: true}, {Path: "/nix/store/extra"},
	}
	if !reflect.DeepEqual(plan.Mountpoints, want) {
		t.Fatalf("mountpoints %+v, want %+v", plan.Mountpoints, want)
	}
	if plan.StoreDir != "/nix/store" {
		t.Fatalf("store dir %q", plan.StoreDir)
	}
}

func TestNewPlanErrors(t *testing.T) {
	g, sh, _, _ := graph(t, "/nix/store")
	outside := sp("/nix/store", 'z', "not-exported")
	tests := []struct {
		name string
		opts bundle.Options
		want string
	}{
		{"args path outside the closure", bundle.Options{Args: []string{sh + "/bin/sh", outside + "/bin/x"}}, "args[1]: " + outside + " is not in the closure graph"},
		{"mount inside a closure path", bundle.Options{Args: []string{sh}, Mounts: []bundle.Mount{{Destination: sh + "/etc", Source: "/x"}}}, "mount destination " + sh + "/etc is inside store path " + sh},
		{"empty args", bundle.Options{}, "args is empty"},
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
	_, err = bundle.NewPlan(g, bundle.Options{Args: []string{sh + "/bin/sh"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "refers to "+lib+", which is not in the graph") {
		t.Fatalf("error %v", err)
	}
}

// TestWrite writes a bundle from a fake store in a temporary directory,
// with a store directory other than /nix/store.
func TestWrite(t *testing.T) {
	storeDir := filepath.Join(t.TempDir(), "store")
	g, sh, lib, script := graph(t, storeDir)
	for _, p := range []string{sh + "/bin", lib, filepath.Dir(script)} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(sh+"/bin/sh", []byte("shell"), 0o555)
	os.WriteFile(script, []byte("echo"), 0o444)
	plan, err := bundle.NewPlan(g, bundle.Options{
		Args:   []string{sh + "/bin/sh", script},
		Mounts: []bundle.Mount{{Destination: "/etc/resolv.conf", Source: "/etc/resolv.conf", IsFile: true}},
	}, bundle.HostStore{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bundle")
	stats, err := bundle.Write(context.Background(), out, plan, rootfs.Options{Workers: 2})
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
	_, err = bundle.Write(context.Background(), out, plan, rootfs.Options{})
	if err == nil || err.Error() != "output directory "+out+" already exists" {
		t.Fatalf("error %v", err)
	}
}
