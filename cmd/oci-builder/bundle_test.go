package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/validate"
)

func TestParseFlagValues(t *testing.T) {
	m, err := parseMount("dst=/data,src=/srv,option=ro,option=size=1m,file")
	if err != nil || !reflect.DeepEqual(m, container.Mount{Destination: "/data", Source: "/srv", Options: []string{"ro", "size=1m"}, IsFile: true}) {
		t.Fatalf("parseMount: %+v %v", m, err)
	}
	for _, bad := range []string{"src=/srv", "dst=/a,bogus=1"} {
		if _, err := parseMount(bad); err == nil {
			t.Errorf("parseMount(%q) succeeded", bad)
		}
	}
	if n, l, err := parseRlimit("nofile=10:20"); err != nil || n != "nofile" || l != (container.Rlimit{Soft: 10, Hard: 20}) {
		t.Errorf("parseRlimit: %s %+v %v", n, l, err)
	}
	if _, l, _ := parseRlimit("nproc=5"); l != (container.Rlimit{Soft: 5, Hard: 5}) {
		t.Errorf("parseRlimit single: %+v", l)
	}
	for _, bad := range []string{"nofile", "=1", "nofile=x", "nofile=1:y"} {
		if _, _, err := parseRlimit(bad); err == nil {
			t.Errorf("parseRlimit(%q) succeeded", bad)
		}
	}
	if n, u, err := parseExtraUser("web=33:34:/var/www"); err != nil || n != "web" || u.UID != 33 || *u.GID != 34 || u.Home != "/var/www" {
		t.Errorf("parseExtraUser: %s %+v %v", n, u, err)
	}
	if n, g, err := parseExtraGroup("data=500:web,db"); err != nil || n != "data" || g.GID != 500 || !reflect.DeepEqual(g.Members, []string{"web", "db"}) {
		t.Errorf("parseExtraGroup: %s %+v %v", n, g, err)
	}
	for _, bad := range []string{"web", "web=x", "=1"} {
		if _, _, err := parseExtraUser(bad); err == nil {
			t.Errorf("parseExtraUser(%q) succeeded", bad)
		}
		if _, _, err := parseExtraGroup(bad); err == nil {
			t.Errorf("parseExtraGroup(%q) succeeded", bad)
		}
	}
}

// graphFile writes a closure graph of the fake store's two paths.
func graphFile(t *testing.T, prog, lib string) string {
	t.Helper()
	return writeGraph(t, []map[string]any{
		{"path": prog, "references": []string{lib}},
		{"path": lib, "references": []string{}},
	})
}

// writeGraph writes infos, a closure graph in exportReferencesGraph's JSON
// form, to a file of its own and returns its path.
func writeGraph(t *testing.T, infos []map[string]any) string {
	t.Helper()
	data, err := json.Marshal(infos)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "graph.json")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestBundleCommand(t *testing.T) {
	_, prog, lib := fakeStore(t)
	graph := graphFile(t, prog, lib)
	parent := t.TempDir()
	out := filepath.Join(parent, "bundle")
	optsFile := filepath.Join(t.TempDir(), "options.json")
	os.WriteFile(optsFile, []byte(`{"hostname":"from-file","user":"app","env":{"A":"file"}}`), 0o644)
	code, stdout, stderr := runWith(t, nil, "bundle", "--out", out, "--graph", graph, "--options", optsFile,
		"--env", "A=flag", "--env", "B=2", "--hostname", "from-flag", "--readonly", "--network", "host",
		"--mount", "dst=/data,src=/srv", "--cap", "CAP_KILL", "--rlimit", "nofile=4096", "--memory", "64M",
		"--cpus", "1.5", "--pids", "9", "--annotation", "a=b", "--no-tmp", "--extra-config", `{"process":{"oomScoreAdj":5}}`,
		"--extra-user", "svc=900", "--extra-group", "data=500:app", "--no-new-privileges=false", "--jobs", "2",
		"--", prog+"/bin/prog", "--flag")
	if code != 0 || stdout != out+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Cleanup(func() {
		filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
	})
	var spec specs.Spec
	data, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	p := spec.Process
	checks := map[string]bool{
		"args":        reflect.DeepEqual(p.Args, []string{prog + "/bin/prog", "--flag"}),
		"env":         reflect.DeepEqual(p.Env, []string{"A=flag", "B=2", "HOME=/home/app", "PATH=" + prog + "/bin"}),
		"hostname":    spec.Hostname == "from-flag",
		"user":        p.User.UID == 1000 && reflect.DeepEqual(p.User.AdditionalGids, []uint32{500}),
		"readonly":    spec.Root.Readonly,
		"caps":        reflect.DeepEqual(p.Capabilities.Effective, []string{"CAP_KILL"}),
		"rlimit":      p.Rlimits[0].Soft == 4096,
		"resources":   *spec.Linux.Resources.Memory.Limit == 64<<20 && *spec.Linux.Resources.CPU.Quota == 150000 && *spec.Linux.Resources.Pids.Limit == 9,
		"annotation":  spec.Annotations["a"] == "b",
		"extraConfig": p.OOMScoreAdj != nil && *p.OOMScoreAdj == 5,
		"noNewPrivs":  !p.NoNewPrivileges,
		"network":     len(spec.Linux.Namespaces) == 4,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s not applied:\n%s", name, data)
		}
	}
	if strings.Contains(string(data), "/dev/tmp") {
		t.Errorf("--no-tmp left the /tmp tmpfs")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("temporary directories left beside the bundle: %v", entries)
	}
}

func TestBundleCommandErrors(t *testing.T) {
	_, prog, lib := fakeStore(t)
	graph := graphFile(t, prog, lib)
	existing := t.TempDir()
	// Not a relative name: the Nix package runs these tests in its
	// source, in the store, where no output may go.
	y := filepath.Join(t.TempDir(), "y")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bundle", "--graph", graph, "--", prog}, 2, "bundle needs --out DIR"},
		{[]string{"bundle", "--out", "x"}, 2, "bundle needs a PROGRAM"},
		{[]string{"bundle", "--out", existing, "--graph", graph, "--", prog}, 1, "output directory " + existing + " already exists"},
		{[]string{"bundle", "--out", y, "--graph", graph, "--env", "NOEQUALS", "--", prog}, 2, `invalid value "NOEQUALS" for flag -env: "NOEQUALS" is not NAME=VALUE`},
		{[]string{"bundle", "--out", y, "--graph", graph, "--memory", "lots", "--", prog}, 2, `invalid value "lots" for flag -memory: size "lots"`},
		{[]string{"bundle", "--out", y, "--graph", graph, "--rootless-uid", "1", "--", prog}, 2, "--rootless-uid and --rootless-gid go together"},
		{[]string{"bundle", "--out", y, "--graph", graph, "--user", "Bad Name", "--", prog}, 1, `user "Bad Name" is not a valid user name`},
		{[]string{"bundle", "--out", y, "--graph", "/nonexistent", "--", prog}, 1, "read graph: open /nonexistent"},
		{[]string{"bundle", "--out", y, "--graph", graph, "--options", graph, "--", prog}, 1, "container options: expected a JSON object, got JSON array"},
		{[]string{"bundle", "--out", y, "--graph", graph, "--bogus", "--", prog}, 2, "flag provided but not defined: -bogus"},
		{[]string{"bundle", "--out", y, "--graph", graph, "--jobs", "-1", "--", prog}, 2, "bundle: --jobs must not be negative"},
		{[]string{"writable", "--jobs", "-1", existing, y}, 2, "writable: --jobs must not be negative"},
	}
	for _, tc := range tests {
		code, _, stderr := runWith(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "oci-builder: error:") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestBundleContract: options that would give a bundle runc (or validate)
// rejects fail with one error line naming the problem, and never panic;
// what passes, validate accepts.
func TestBundleContract(t *testing.T) {
	storeDir, prog, lib := fakeStore(t)
	graph := graphFile(t, prog, lib)
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name  string
		flags []string
		want  string // "" means success
	}{
		{"env name with a newline", []string{"--env", "A\nB=x"}, `env: "A\nB" is not a valid variable name`},
		{"process null", []string{"--extra-config", `{"process":null}`}, "process is missing"},
		{"root null", []string{"--extra-config", `{"root":null}`}, "root.path is missing"},
		{"hostname without uts", []string{"--extra-config", `{"linux":{"namespaces":null}}`}, "uts namespace"},
		{"unknown ociVersion", []string{"--extra-config", `{"ociVersion":"0.0.1"}`}, "0.0.1"},
		{"uid out of range", []string{"--user", "4294967295"}, "process.user.uid 4294967295"},
		{"effective not permitted", []string{"--extra-config", `{"process":{"capabilities":{"effective":["CAP_KILL"],"permitted":null}}}`}, "effective"},
		{"one argument of 1 MB", []string{"--", prog + "/bin/prog", big}, "process.args[1]"},
		{"program outside the store", []string{"--", "/bin/sh"}, `process.args[0] "/bin/sh" does not exist in the container`},
		{"mount in the store directory", []string{"--mount", "dst=" + storeDir + "/foo,src=/srv"}, "inside the store directory"},
		{"unknown seccomp profile name", []string{"--seccomp", "/nonexistent"}, "for flag -seccomp: open /nonexistent"},
		{"mount inside /tmp", []string{"--mount", "dst=/tmp/x,type=tmpfs"}, ""},
		{"seccomp unconfined", []string{"--seccomp", "unconfined"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "b")
			args := append([]string{"bundle", "--out", out, "--graph", graph}, tc.flags...)
			if !slices.Contains(tc.flags, "--") {
				args = append(args, "--", prog+"/bin/prog")
			}
			t.Cleanup(func() { makeWritable(out) })
			code, _, stderr := runWith(t, nil, args...)
			if tc.want != "" {
				if code == 0 || strings.Count(stderr, "oci-builder: error:") != 1 || !strings.Contains(stderr, tc.want) {
					t.Fatalf("exit %d, stderr %q; want one error line with %q", code, stderr, tc.want)
				}
				if _, err := os.Lstat(out); err == nil {
					t.Fatal("a failed build left its output")
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if r := validate.Bundle(out, "/nix/store"); !r.Valid() {
				t.Fatalf("validate: %q", r.Problems)
			}
		})
	}
}

// TestBundleHousekeeping: absurd worker counts are capped with a note, and
// the leftover of a killed run at the same --out is removed.
func TestBundleHousekeeping(t *testing.T) {
	_, prog, lib := fakeStore(t)
	graph := graphFile(t, prog, lib)
	parent := t.TempDir()
	out := filepath.Join(parent, "b")
	stale := filepath.Join(parent, ".b.tmp-4242")
	if err := os.MkdirAll(filepath.Join(stale, "b", "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Read-only, as a killed run leaves its copy of the store.
	if err := os.Chmod(filepath.Join(stale, "b", "rootfs"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { makeWritable(out) })
	code, _, stderr := runWith(t, nil, "bundle", "--out", out, "--graph", graph, "--jobs", "1000000", "--", prog+"/bin/prog")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	limit := 4 * runtime.NumCPU()
	if !strings.Contains(stderr, fmt.Sprintf("using %d workers, not 1000000", limit)) ||
		!strings.Contains(stderr, "removed "+stale+", left by a run that was killed") {
		t.Fatalf("stderr %q", stderr)
	}
	if _, err := os.Lstat(stale); err == nil {
		t.Fatal("the leftover is still there")
	}
}

// TestFlagsOverrideOptionsFile: --options FILE is read first, and each flag
// then sets its option: a string replaces, --env adds to the environment,
// the first --cap replaces the capability sets.
func TestFlagsOverrideOptionsFile(t *testing.T) {
	_, prog, lib := fakeStore(t)
	graph := graphFile(t, prog, lib)
	dir := t.TempDir()
	file := filepath.Join(dir, "options.json")
	if err := os.WriteFile(file, []byte(`{"hostname":"fromfile","env":{"A":"1"},"capabilities":["CAP_CHOWN"],"user":"app"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "b")
	t.Cleanup(func() { makeWritable(out) })
	code, _, stderr := runWith(t, nil, "bundle", "--out", out, "--graph", graph, "--hostname", "fromflag",
		"--options", file, "--env", "B=2", "--cap", "NET_RAW", "--cap", "KILL", "--", prog+"/bin/prog")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var spec specs.Spec
	data, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	env := strings.Join(spec.Process.Env, " ")
	if spec.Hostname != "fromflag" || !strings.Contains(env, "A=1") || !strings.Contains(env, "B=2") ||
		!reflect.DeepEqual(spec.Process.Capabilities.Bounding, []string{"CAP_KILL", "CAP_NET_RAW"}) || spec.Process.User.UID != 1000 {
		t.Fatalf("hostname %q, env %q, capabilities %v, user %+v", spec.Hostname, env, spec.Process.Capabilities.Bounding, spec.Process.User)
	}
}

// TestOutputsOutsideTheStore: no command writes into the Nix store (as
// copy refuses to): an output there, or below a directory it would create
// there, or reached through a symbolic link into it, gives one error line
// naming it, exit 1, and nothing written.
func TestOutputsOutsideTheStore(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	graph := graphFile(t, prog, lib)
	bundleDir := filepath.Join(t.TempDir(), "bundle")
	if code, _, stderr := runWith(t, nil, "bundle", "--out", bundleDir, "--graph", graph, "--", prog+"/bin/prog"); code != 0 {
		t.Fatalf("bundle: exit %d: %s", code, stderr)
	}
	t.Cleanup(func() {
		filepath.Walk(bundleDir, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
	})
	link := filepath.Join(t.TempDir(), "result")
	if err := os.Symlink(prog, link); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"NIX_STORE_DIR": dir}
	tests := []struct {
		name string
		args []string
		out  string
	}{
		{"bundle", []string{"bundle", "--out", dir + "/out", "--graph", graph, "--", prog + "/bin/prog"}, dir + "/out"},
		{"bundle in a store path", []string{"bundle", "--out", prog + "/out", "--graph", graph, "--", prog + "/bin/prog"}, prog + "/out"},
		{"image", []string{"image", "--out", dir + "/out", "--graph", graph, "--", prog + "/bin/prog"}, dir + "/out"},
		{"image through a link", []string{"image", "--out", link + "/out", "--graph", graph, "--", prog + "/bin/prog"}, link + "/out"},
		{"writable", []string{"writable", bundleDir, dir + "/out"}, dir + "/out"},
		{"rootless", []string{"rootless", "--no-subids", bundleDir, dir + "/a/b"}, dir + "/a"},
		{"validate --report", []string{"validate", "--report", dir + "/report", bundleDir}, dir + "/report"},
	}
	// In a Nix build, another output than the build's is refused too.
	build := map[string]string{"NIX_STORE_DIR": dir, "NIX_BUILD_TOP": t.TempDir(), "out": dir + "/" + strings.Repeat("r", 32) + "-report"}
	tests = append(tests, struct {
		name string
		args []string
		out  string
	}{"in a build, not its output", []string{"validate", "--report", dir + "/other", bundleDir}, dir + "/other"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := vars
			if strings.HasPrefix(tc.name, "in a build") {
				env = build
			}
			code, _, stderr := runWith(t, env, tc.args...)
			checkOneErrorLine(t, code, stderr, "is in the Nix store "+dir+", which only Nix writes: choose an output outside it")
			if _, err := os.Lstat(tc.out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %v, want nothing there", tc.out, err)
			}
		})
	}

	// A derivation whose builder is oci-builder writes its own outputs
	// ($out, and $outputs' others), as flake.nix's validated checks do.
	t.Run("the build's outputs", func(t *testing.T) {
		build := map[string]string{"NIX_STORE_DIR": dir, "NIX_BUILD_TOP": t.TempDir(), "outputs": "out bundle",
			"out": dir + "/" + strings.Repeat("r", 32) + "-report", "bundle": dir + "/" + strings.Repeat("s", 32) + "-bundle"}
		if code, _, stderr := runWith(t, build, "validate", "--report", build["out"], bundleDir); code != 0 {
			t.Fatalf("validate --report $out: exit %d: %s", code, stderr)
		}
		if code, _, stderr := runWith(t, build, "bundle", "--out", build["bundle"], "--graph", graph, "--", prog+"/bin/prog"); code != 0 {
			t.Fatalf("bundle --out $bundle: exit %d: %s", code, stderr)
		}
		t.Cleanup(func() {
			filepath.Walk(build["bundle"], func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
		})
		// Under structured attributes, the outputs are in .attrs.json.
		top := t.TempDir()
		structured := dir + "/" + strings.Repeat("t", 32) + "-structured"
		attrs, _ := json.Marshal(map[string]any{"outputs": map[string]string{"out": structured}})
		if err := os.WriteFile(filepath.Join(top, ".attrs.json"), attrs, 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runWith(t, map[string]string{"NIX_STORE_DIR": dir, "NIX_BUILD_TOP": top}, "validate", "--report", structured, bundleDir); code != 0 {
			t.Fatalf("validate --report (structured attributes' out): exit %d: %s", code, stderr)
		}
		for _, o := range []string{build["out"], build["bundle"] + "/config.json", structured} {
			if _, err := os.Stat(o); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestClosureInterrupted: a signal while the store is asked for the
// closure is reported as the interruption, not as Nix's failure.
func TestClosureInterrupted(t *testing.T) {
	_, prog, _ := fakeStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := closureGraph(ctx, func(string) string { return "" }, "", filepath.Dir(prog), container.Options{Args: []string{prog + "/bin/prog"}})
	if err == nil || err.Error() != "interrupted while asking the Nix store for the closure; nothing was written" {
		t.Fatalf("error %v", err)
	}
}
