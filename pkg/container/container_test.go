package container_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/store"
)

func sp(dir string, c byte, name string) string {
	return dir + "/" + strings.Repeat(string(c), 32) + "-" + name
}

// countingFS is a StoreFS that knows a fixed set of directories and counts
// the questions it is asked.
type countingFS struct {
	dirs  map[string]bool
	asked map[string]int
}

func newFS(dirs ...string) *countingFS {
	fs := &countingFS{dirs: map[string]bool{}, asked: map[string]int{}}
	for _, d := range dirs {
		fs.dirs[d] = true
	}
	return fs
}

func (f *countingFS) IsDir(p string) bool {
	f.asked[p]++
	return f.dirs[p]
}

// TestNewClosure checks the roots (the store paths the options' process
// and extraConfig's process mention, in order of first mention), their
// closure, and the default PATH computed from it once: each bin directory
// is asked about once.
func TestNewClosure(t *testing.T) {
	app, lib, sh, data, tool, other := sp("/nix/store", 'a', "app"), sp("/nix/store", 'b', "lib"), sp("/nix/store", 'c', "sh"),
		sp("/nix/store", 'd', "data"), sp("/nix/store", 'f', "tool"), sp("/nix/store", 'g', "other")
	g, err := store.NewGraph([]store.PathInfo{
		{Path: app, References: []string{lib}}, {Path: lib}, {Path: sh, References: []string{lib}},
		{Path: data}, {Path: tool}, {Path: other},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	fsys := newFS(app+"/bin", lib+"/bin", sh+"/bin", tool+"/bin", other+"/bin")
	c, err := container.New(g, container.Options{
		Args:        []string{sh + "/bin/sh", "-c", "exec " + app + "/bin/app"},
		Env:         map[string]string{"DATA": data + "/share"},
		WorkingDir:  "/srv",
		ExtraConfig: []byte(`{"process":{"args":["` + tool + `/bin/tool"],"env":["X=` + sh + `"],"cwd":"/srv"}}`),
	}, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{sh, app, data, tool}; !reflect.DeepEqual(c.Roots, want) {
		t.Fatalf("roots %v, want %v", c.Roots, want)
	}
	var closure []string
	for _, info := range c.Closure {
		closure = append(closure, info.Path)
	}
	if want := []string{app, lib, sh, data, tool}; !reflect.DeepEqual(closure, want) {
		t.Fatalf("closure %v, want %v", closure, want)
	}
	// The roots' bin directories first, in order of mention, then the
	// others' by path; not other, outside the closure.
	wantEnv := []string{"DATA=" + data + "/share", "HOME=/root", "PATH=" + sh + "/bin:" + app + "/bin:" + tool + "/bin:" + lib + "/bin"}
	if !reflect.DeepEqual(c.Process.Env, wantEnv) {
		t.Fatalf("env %q, want %q", c.Process.Env, wantEnv)
	}
	for p, n := range fsys.asked {
		if n != 1 {
			t.Errorf("IsDir(%s) asked %d times", p, n)
		}
	}
	if len(fsys.asked) != 5 || c.StoreDir != "/nix/store" || len(c.Warnings) != 0 {
		t.Fatalf("asked %v, store dir %q, warnings %q", fsys.asked, c.StoreDir, c.Warnings)
	}
}

func TestNewClosureErrors(t *testing.T) {
	app, lib := sp("/nix/store", 'a', "app"), sp("/nix/store", 'b', "lib")
	missing := sp("/nix/store", 'z', "missing")
	g, err := store.NewGraph([]store.PathInfo{{Path: app, References: []string{lib}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts container.Options
		want string
	}{
		{"argument", container.Options{Args: []string{"/bin/sh", missing + "/x"}}, "args[1]: " + missing + " is not in the closure graph"},
		{"env", container.Options{Args: []string{"/bin/sh"}, Env: map[string]string{"A": missing}}, "env.A: " + missing + " is not in the closure graph"},
		{"working directory", container.Options{Args: []string{"/bin/sh"}, WorkingDir: missing}, "workingDir: " + missing + " is not in the closure graph"},
		{"extraConfig", container.Options{Args: []string{"/bin/sh"}, ExtraConfig: []byte(`{"process":{"env":["A=1","B=` + missing + `"]}}`)}, "extraConfig.process.env[1]: " + missing + " is not in the closure graph"},
		{"not closed", container.Options{Args: []string{app}}, "closure is not closed: " + app + " refers to " + lib},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := container.New(g, tc.opts, nil)
			if c != nil || err == nil || err.Error() != tc.want && !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("container %v, error %v, want %q", c != nil, err, tc.want)
			}
		})
	}
}

func TestMentions(t *testing.T) {
	got := container.Mentions(container.Options{
		Args:        []string{"a", "b"},
		Env:         map[string]string{"Z": "z", "A": "a"},
		WorkingDir:  "/w",
		ExtraConfig: []byte(`{"process":{"args":["x"],"Env":["ignored: keys are exact"],"env":["E=e"],"cwd":"/c","user":{"uid":1}},"hostname":"h"}`),
	})
	want := []container.Mention{
		{Option: "args[0]", Value: "a"}, {Option: "args[1]", Value: "b"}, {Option: "env.A", Value: "a"}, {Option: "env.Z", Value: "z"},
		{Option: "workingDir", Value: "/w"}, {Option: "extraConfig.process.args[0]", Value: "x"},
		{Option: "extraConfig.process.env[0]", Value: "E=e"}, {Option: "extraConfig.process.cwd", Value: "/c"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mentions\n%q\nwant\n%q", got, want)
	}
	// An extraConfig of another shape adds nothing (specconv refuses it).
	for _, extra := range []string{`[1]`, `{"process":[1]}`, `{"process":{"args":"x","cwd":1}}`, `{`} {
		got := container.Mentions(container.Options{Args: []string{"a"}, ExtraConfig: []byte(extra)})
		if len(got) != 1 {
			t.Errorf("%s: mentions %q", extra, got)
		}
	}
}

// bigClosure is the graph of a program referring to n store paths, each
// with a bin directory (59 bytes of PATH each), and the StoreFS that shows
// them.
func bigClosure(t *testing.T, n int) (*store.Graph, string, *countingFS) {
	t.Helper()
	app := sp("/nix/store", 'a', "app")
	infos := []store.PathInfo{{Path: app}}
	fsys := newFS(app + "/bin")
	for i := 0; i < n; i++ {
		dep := "/nix/store/" + strings.Repeat("b", 32-len(fmt.Sprint(i))) + fmt.Sprint(i) + "-dependency"
		infos[0].References = append(infos[0].References, dep)
		infos = append(infos, store.PathInfo{Path: dep})
		fsys.dirs[dep+"/bin"] = true
	}
	g, err := store.NewGraph(infos, "")
	if err != nil {
		t.Fatal(err)
	}
	return g, app, fsys
}

// TestDefaultPathBound checks the default PATH of a closure with so many
// bin directories that it would pass 64 KiB: it keeps those of the paths
// the process mentions, with a warning, and a PATH set in env is kept.
func TestDefaultPathBound(t *testing.T) {
	g, app, fsys := bigClosure(t, 1200)
	c, err := container.New(g, container.Options{Args: []string{app + "/bin/app"}}, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if env := c.Process.Env; !reflect.DeepEqual(env, []string{"HOME=/root", "PATH=" + app + "/bin"}) {
		t.Fatalf("env has %d variables, PATH %d bytes long", len(env), len(env[len(env)-1]))
	}
	if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], "PATH holds only the bin directories of the store paths the process mentions: with every bin directory of the closure it would be ") {
		t.Fatalf("warnings %q", c.Warnings)
	}
	c, err = container.New(g, container.Options{Args: []string{app + "/bin/app"}, Env: map[string]string{"PATH": "/bin"}}, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if env := c.Process.Env; !reflect.DeepEqual(env, []string{"HOME=/root", "PATH=/bin"}) || len(c.Warnings) != 0 {
		t.Fatalf("env %q, warnings %q", env, c.Warnings)
	}
	// The bin directories of the mentioned paths alone are too long.
	var args []string
	for _, p := range g.Paths() {
		args = append(args, p+"/bin/x")
	}
	_, err = container.New(g, container.Options{Args: args}, fsys)
	if err == nil || !strings.HasPrefix(err.Error(), "the default PATH would be ") || !strings.HasSuffix(err.Error(), " bytes long: set env.PATH") {
		t.Fatalf("error %v", err)
	}
}

// TestNoGraph checks a container made from the options alone: no closure,
// no store directory, no PATH.
func TestNoGraph(t *testing.T) {
	app := sp("/nix/store", 'a', "app")
	c, err := container.New(nil, container.Options{Args: []string{app + "/bin/app"}}, newFS(app+"/bin"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Roots != nil || c.Closure != nil || c.StoreDir != "" || !reflect.DeepEqual(c.Process.Env, []string{"HOME=/root"}) {
		t.Fatalf("container %+v", c)
	}
}

// TestWritableDirs checks the writable directories, the mounts that make
// them and the directories the root filesystem itself holds.
func TestWritableDirs(t *testing.T) {
	c, err := container.New(nil, container.Options{
		Args: []string{"/bin/sh"}, User: &container.ID{Name: "app"}, WorkingDir: "/srv/app",
		Mounts: []container.Mount{{Destination: "/run/sock", Source: "/run/host.sock", IsFile: true}, {Destination: "/data", Source: "/srv"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantLinks := []container.Symlink{{Path: "/tmp", Target: container.TmpfsDir}, {Path: "/var/tmp", Target: container.TmpfsDir}, {Path: "/run", Target: container.RunDir}, {Path: "/home/app", Target: container.HomeDir}}
	if !reflect.DeepEqual(c.Symlinks, wantLinks) {
		t.Fatalf("symlinks %+v", c.Symlinks)
	}
	var dests []string
	for _, m := range c.Mounts {
		dests = append(dests, m.Destination)
	}
	// The file mounted in /run goes into its tmpfs, through the symlink.
	wantDests := []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", container.TmpfsDir, container.RunDir, container.HomeDir, "/data", container.RunDir + "/sock"}
	if !reflect.DeepEqual(dests, wantDests) || !reflect.DeepEqual(c.FileMounts, map[string]bool{container.RunDir + "/sock": true}) {
		t.Fatalf("mounts %q, file mounts %v", dests, c.FileMounts)
	}
	if want := []string{"/home/app", "/root", "/srv/app", "/var/empty"}; !reflect.DeepEqual(c.Dirs, want) {
		t.Fatalf("dirs %q", c.Dirs)
	}
	// The home is a symlink; a mount over /srv hides the working directory.
	if got, want := c.RootfsDirs(append(c.Mounts, specs.Mount{Destination: "/srv"})), []string{"/root", "/var/empty"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rootfs dirs %q, want %q", got, want)
	}

	// A store directory inside /tmp leaves the container without a writable
	// /tmp, and says so.
	g, err := store.NewGraph(nil, "/tmp/store")
	if err != nil {
		t.Fatal(err)
	}
	c, err = container.New(g, container.Options{Args: []string{"/bin/sh"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.Symlinks {
		if l.Path == "/tmp" {
			t.Fatalf("symlinks %+v", c.Symlinks)
		}
	}
	if want := []string{"no writable /tmp: the store directory /tmp/store is inside it"}; !reflect.DeepEqual(c.Warnings, want) {
		t.Fatalf("warnings %q", c.Warnings)
	}
	// /var/tmp still gets its tmpfs: a symlink to /dev/tmp, where one is
	// mounted.
	mounted := false
	for _, m := range c.Mounts {
		mounted = mounted || (m.Destination == container.TmpfsDir && m.Type == "tmpfs")
	}
	if !mounted {
		t.Fatalf("no tmpfs at %s for /var/tmp: %+v", container.TmpfsDir, c.Mounts)
	}
}
