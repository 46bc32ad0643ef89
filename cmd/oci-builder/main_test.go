package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/rootfs"
)

// fakeStore makes a store directory with a program and the library it
// references, and returns the store dir and the two paths.
func fakeStore(t *testing.T) (string, string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	prog := dir + "/" + strings.Repeat("a", 32) + "-prog"
	lib := dir + "/" + strings.Repeat("b", 32) + "-lib"
	for _, p := range []string{prog + "/bin", lib} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(prog+"/bin/prog", []byte("#!"+lib+"/sh"), 0o555)
	os.WriteFile(lib+"/sh", []byte("shell"), 0o555)
	return dir, prog, lib
}

// narOf is the narHash and narSize of the tree at p, as Nix would register
// them.
func narOf(t *testing.T, p string) (string, uint64) {
	t.Helper()
	sum, err := nar.HashPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return sum.String(), sum.Size
}

type builderCase struct {
	storeDir  string
	graph     any
	container any
	outputs   any
	extra     map[string]any
}

// attrs writes an .attrs.json as Nix would for nix/oci-tools.nix and returns
// the build directory and the output path.
func (c builderCase) write(t *testing.T) (string, string) {
	t.Helper()
	top := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	attrs := map[string]any{
		"builder":               "/nix/store/x-oci-builder/bin/oci-builder",
		"args":                  []string{"nix-builder"},
		"exportReferencesGraph": map[string]any{"closure": []string{}},
		"closure":               c.graph,
		"container":             c.container,
		"storeDir":              c.storeDir,
		"outputs":               map[string]string{"out": out},
	}
	if c.outputs != nil {
		attrs["outputs"] = c.outputs
	}
	for k, v := range c.extra {
		attrs[k] = v
	}
	data, err := json.Marshal(attrs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, ".attrs.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return top, out
}

func runWith(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env{
		getenv: func(k string) string { return vars[k] },
		stdout: &stdout,
		stderr: &stderr,
	})
	return code, stdout.String(), stderr.String()
}

// TestNixBuilderBuildsBundle builds a bundle from a graph that gives one
// path its NAR hash and size and the other none: the first is verified, the
// second is copied with a warning.
func TestNixBuilderBuildsBundle(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	progHash, progSize := narOf(t, prog)
	top, out := builderCase{
		storeDir: dir,
		graph: []map[string]any{
			{"path": prog, "references": []string{lib, prog}, "narHash": progHash, "narSize": progSize, "valid": true},
			{"path": lib, "references": []string{}, "narSize": 50},
		},
		container: map[string]any{"args": []string{prog + "/bin/prog", "--flag"}, "readonly": true},
	}.write(t)
	code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top, "NIX_BUILD_CORES": "0"}, "nix-builder")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	t.Cleanup(func() {
		filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
	})
	if !strings.Contains(stderr, "oci-builder: done: mode copy, 2 paths, 2 files") ||
		!strings.Contains(stderr, "; verified 1 of 2 store paths against their NAR hashes\n") ||
		!strings.Contains(stderr, "oci-builder: warning: not verifying 1 of 2 store paths, "+lib+" first: the closure graph gives them no narHash\n") {
		t.Fatalf("summary or warning missing: %s", stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "rootfs", lib, "sh"))
	if err != nil || string(data) != "shell" {
		t.Fatalf("copied file: %q %v", data, err)
	}
	config, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if !bytes.Contains(config, []byte(`"readonly": true`)) || !bytes.Contains(config, []byte(`"--flag"`)) {
		t.Fatalf("config: %s", config)
	}
}

// TestNixBuilderErrors checks that each bad input ends in one error line
// naming the culprit and exit status 1.
func TestNixBuilderErrors(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	goodGraph := []map[string]any{
		{"path": prog, "references": []string{lib}},
		{"path": lib, "references": []string{}},
	}
	good := map[string]any{"args": []string{prog + "/bin/prog"}}
	outside := dir + "/" + strings.Repeat("c", 32) + "-elsewhere"
	withMount := func(m map[string]any) map[string]any {
		return map[string]any{"args": []string{prog + "/bin/prog"}, "mounts": []any{m}}
	}
	tests := []struct {
		name string
		c    builderCase
		want string
	}{
		{"malformed graph", builderCase{graph: []map[string]any{{"path": dir + "/short", "references": []string{}}}, container: good}, `store path "` + dir + `/short": not a valid store path name`},
		{"graph not an array", builderCase{graph: "x", container: good}, `.attrs.json key "closure": closure graph: expected a list, got JSON string`},
		{"reference missing", builderCase{graph: goodGraph[:1], container: good}, "closure is not closed: " + prog + " refers to " + lib + ", which is not in the graph"},
		{"args path outside closure", builderCase{graph: goodGraph, container: map[string]any{"args": []string{prog + "/bin/prog", outside + "/x"}}}, "args[1]: " + outside + " is not in the closure graph"},
		{"empty args", builderCase{graph: goodGraph, container: map[string]any{"args": []string{}}}, "args is empty"},
		{"no container", builderCase{graph: goodGraph}, `.attrs.json has no "container" attribute`},
		{"unknown option", builderCase{graph: goodGraph, container: map[string]any{"args": []string{"/bin/sh"}, "readOnly": true}}, `unknown option "readOnly"`},
		{"relative mount", builderCase{graph: goodGraph, container: withMount(map[string]any{"destination": "data", "source": "/srv"})}, `mount destination "data" is not an absolute path`},
		{"dot-dot mount", builderCase{graph: goodGraph, container: withMount(map[string]any{"destination": "/data/../../etc", "source": "/srv"})}, `mount destination "/data/../../etc" contains ".."`},
		{"mount without source", builderCase{graph: goodGraph, container: withMount(map[string]any{"destination": "/data"})}, "mount /data: a bind mount needs a source"},
		{"bad arch", builderCase{graph: goodGraph, container: map[string]any{"args": []string{"/bin/sh"}, "arch": "pdp11"}}, `arch "pdp11" is not a known architecture`},
		{"bad os", builderCase{graph: goodGraph, container: map[string]any{"args": []string{"/bin/sh"}, "os": "darwin"}}, `os "darwin" is not supported`},
		{"path missing on disk", builderCase{graph: []map[string]any{{"path": outside, "references": []string{}}}, container: map[string]any{"args": []string{outside}}}, "copy " + outside + ": no such file or directory"},
		{"no outputs", builderCase{graph: goodGraph, container: good, outputs: map[string]string{}}, `no output "out"`},
		{"store dir mismatch", builderCase{storeDir: "/gnu/store", graph: goodGraph, container: good}, "is not in the store directory /gnu/store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.c.storeDir == "" {
				tc.c.storeDir = dir
			}
			top, out := tc.c.write(t)
			t.Cleanup(func() {
				filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
			})
			code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-builder")
			checkOneErrorLine(t, code, stderr, tc.want)
		})
	}
}

func checkOneErrorLine(t *testing.T, code int, stderr, want string) {
	t.Helper()
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "oci-builder: error: ") {
			errLines = append(errLines, l)
		}
	}
	if code != 1 || len(errLines) != 1 || !strings.Contains(errLines[0], want) {
		t.Fatalf("exit %d, stderr:\n%s\nwant one error line containing %q", code, stderr, want)
	}
}

func TestNixBuilderAttrsProblems(t *testing.T) {
	t.Run("no attrs file", func(t *testing.T) {
		old, _ := os.Getwd()
		os.Chdir(t.TempDir())
		defer os.Chdir(old)
		code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": t.TempDir()}, "nix-builder")
		checkOneErrorLine(t, code, stderr, "no .attrs.json found")
	})
	t.Run("malformed attrs file", func(t *testing.T) {
		top := t.TempDir()
		os.WriteFile(filepath.Join(top, ".attrs.json"), []byte(`{"outputs":`), 0o644)
		code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-builder")
		checkOneErrorLine(t, code, stderr, "parse .attrs.json: unexpected end of JSON input")
	})
	t.Run("output exists", func(t *testing.T) {
		dir, prog, lib := fakeStore(t)
		top, out := builderCase{storeDir: dir, graph: []map[string]any{
			{"path": prog, "references": []string{lib}}, {"path": lib, "references": []string{}},
		}, container: map[string]any{"args": []string{prog}}}.write(t)
		os.Mkdir(out, 0o755)
		code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-builder")
		checkOneErrorLine(t, code, stderr, "output directory "+out+" already exists")
	})
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 2, "", "Usage: oci-builder COMMAND"},
		{[]string{"help"}, 0, "nix-builder", ""},
		{[]string{"nix-builder", "--help"}, 0, "Usage: oci-builder nix-builder", ""},
		{[]string{"help", "version"}, 0, "Usage: oci-builder version", ""},
		{[]string{"version"}, 0, "oci-builder dev", ""},
		{[]string{"version", "x"}, 2, "", "oci-builder: error: version takes no arguments"},
		{[]string{"frobnicate"}, 2, "", `oci-builder: error: unknown command "frobnicate"`},
		{[]string{"nix-builder", "x"}, 2, "", "nix-builder takes no arguments"},
		{[]string{"help", "--help"}, 0, "Usage: oci-builder COMMAND", ""},
		{[]string{"bundle", "--out", "x", "--seccomp", "", "p"}, 2, "", `invalid value "" for flag -seccomp: want "default", "unconfined" or a profile's file` + "\n"},
		{[]string{"image", "--out", "x", "--no-tmp=maybe", "p"}, 2, "", `invalid boolean value "maybe" for -no-tmp: want true or false` + "\n"},
		{[]string{"bundle", "--out", "x", "--cpus", "abc", "p"}, 2, "", `invalid value "abc" for flag -cpus: not a number` + "\n"},
		{[]string{"rootless", "--uid", "-1", "a", "b"}, 2, "", `invalid value "-1" for flag -uid: not a number in range` + "\n"},
	}
	for _, tc := range tests {
		code, stdout, stderr := runWith(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestValidateCommand(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	top, out := builderCase{storeDir: dir, graph: []map[string]any{
		{"path": prog, "references": []string{lib}}, {"path": lib, "references": []string{}},
	}, container: map[string]any{"args": []string{prog + "/bin/prog"}}}.write(t)
	if code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-builder"); code != 0 {
		t.Fatalf("build: %s", stderr)
	}
	t.Cleanup(func() {
		filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
	})

	report := filepath.Join(t.TempDir(), "report")
	code, stdout, stderr := runWith(t, nil, "validate", "--report", report, out)
	want := out + ": valid (runtime-spec 1.3.0 schema; runs " + prog + "/bin/prog)\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if data, _ := os.ReadFile(report); string(data) != want {
		t.Fatalf("report %q", data)
	}

	// Break it twice: both problems are listed, then one error line.
	os.Chmod(filepath.Join(out, "rootfs", dir), 0o755)
	// Its directories are read-only: as a user other than root (nixpkgs'
	// checkPhase runs as a build user) they must be made writable first.
	filepath.Walk(filepath.Join(out, "rootfs", prog), func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
	os.RemoveAll(filepath.Join(out, "rootfs", prog))
	os.Chmod(filepath.Join(out, "rootfs"), 0o755)
	os.Remove(filepath.Join(out, "rootfs", "sys"))
	code, stdout, stderr = runWith(t, nil, "validate", out)
	if code != 1 || strings.Count(stdout, "\n") != 2 ||
		!strings.Contains(stdout, out+": mounts[5] (/sys): mountpoint does not exist in the rootfs\n") ||
		!strings.Contains(stdout, out+`: process.args[0] "`+prog+`/bin/prog" does not exist in the container`) ||
		stderr != "oci-builder: error: "+out+" is not a valid bundle: 2 problems (listed above)\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// A weakening is a warning line; the bundle stays valid (exit 0).
	os.Mkdir(filepath.Join(out, "rootfs", "sys"), 0o555)
	os.MkdirAll(filepath.Join(out, "rootfs", prog, "bin"), 0o755)
	os.WriteFile(filepath.Join(out, "rootfs", prog, "bin", "prog"), []byte("\x7fELF"), 0o755)
	config := filepath.Join(out, "config.json")
	os.Chmod(config, 0o644)
	data, _ := os.ReadFile(config)
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	spec["linux"].(map[string]any)["readonlyPaths"] = []string{}
	data, _ = json.Marshal(spec)
	if err := os.WriteFile(config, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runWith(t, map[string]string{"NIX_STORE_DIR": dir}, "validate", out)
	if code != 0 || stderr != "" || stdout != out+": warning: linux.readonlyPaths lacks /proc/bus, /proc/fs, /proc/irq, /proc/sys, /proc/sysrq-trigger: root in the container can write there (/proc/sys/kernel/core_pattern runs a program as root on the host)\n"+want {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, args := range [][]string{{"validate"}, {"validate", "a", "b"}, {"validate", "--bogus", "a"}} {
		if code, _, _ := runWith(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

// TestNixBuilderStoreModes runs the builder in each store mode on a fake
// store. As root outside Nix the store is the builder's own, so hardlink
// links; chowned to another user it is not, and the builder says once that
// Nix would reject the links, then copies.
func TestNixBuilderStoreModes(t *testing.T) {
	tests := []struct {
		mode, owner string
		verify      *bool
		want        []string
		refused     int
	}{
		{"copy", "", nil, []string{"oci-builder: copying 2 store paths", "with 2 workers, verifying their NAR hashes\n", "oci-builder: done: mode copy, 2 paths, 2 files, 3 directories, 0 symlinks, ", "; verified 2 of 2 store paths against their NAR hashes\n"}, 0},
		{"copy", "", new(bool), []string{"oci-builder: copying 2 store paths", "with 2 workers\n", "oci-builder: done: mode copy, 2 paths, 2 files, 3 directories, 0 symlinks, ", "; not verified\n"}, 0},
		{"reflink", "", nil, []string{"oci-builder: cloning (reflink) 2 store paths", "oci-builder: done: mode reflink, 2 paths, 2 files", "; 0 cloned, 2 copied; fallbacks: 2 E", "; verified 2 of 2 store paths"}, 0},
		{"hardlink", "", nil, []string{"oci-builder: hard-linking 2 store paths", "oci-builder: done: mode hardlink, 2 paths, 2 files", "; 2 linked, 0 copied; fallbacks: none; verified 2 of 2 store paths"}, 0},
		{"hardlink", "other", nil, []string{"oci-builder: storeMode hardlink: the store belongs to uid 12345 but this build runs as uid 0, so Nix would reject hard links to it (invalid ownership); copying the closure instead", "oci-builder: done: mode copy (hardlink refused by Nix), 2 paths, 2 files", "; verified 2 of 2 store paths"}, 1},
		{"bind", "", nil, []string{"oci-builder: bind-mounting 2 store paths (~", "read-only over a tmpfs at ", "oci-builder: done: mode bind, 2 paths bind-mounted read-only, 0 files copied, 0 B in ", "; not verified\n"}, 0},
		{"bind", "", &[]bool{true}[0], []string{"oci-builder: bind-mounting 2 store paths (~", "read-only over a tmpfs at ", "; reading them to verify their NAR hashes with 2 workers\n", "oci-builder: done: mode bind, 2 paths bind-mounted read-only, 0 files copied, 0 B in ", "; verified 2 of 2 store paths against their NAR hashes\n"}, 0},
	}
	for _, tc := range tests {
		name := tc.mode + tc.owner
		if tc.verify != nil {
			name += fmt.Sprintf("/verify=%v", *tc.verify)
		}
		t.Run(name, func(t *testing.T) {
			dir, prog, lib := fakeStore(t)
			progHash, progSize := narOf(t, prog)
			libHash, libSize := narOf(t, lib)
			container := map[string]any{"args": []string{prog + "/bin/prog"}, "storeMode": tc.mode}
			if tc.verify != nil {
				container["verify"] = *tc.verify
			}
			if tc.owner != "" {
				if os.Geteuid() != 0 {
					t.Skip("needs root to chown")
				}
				filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 12345, 12345) })
			}
			top, out := builderCase{
				storeDir: dir,
				graph: []map[string]any{
					{"path": prog, "references": []string{lib}, "narHash": progHash, "narSize": progSize},
					{"path": lib, "references": []string{}, "narHash": libHash, "narSize": libSize},
				},
				container: container,
			}.write(t)
			code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top, "NIX_BUILD_CORES": "2"}, "nix-builder")
			t.Cleanup(func() {
				filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
			})
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("log lacks %q:\n%s", w, stderr)
				}
			}
			if n := strings.Count(stderr, "storeMode hardlink:"); n != tc.refused {
				t.Errorf("refusal said %d times:\n%s", n, stderr)
			}
		})
	}
}

func TestNixBuilderBadStoreMode(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	top, _ := builderCase{storeDir: dir, graph: []map[string]any{
		{"path": prog, "references": []string{lib}}, {"path": lib, "references": []string{}},
	}, container: map[string]any{"args": []string{prog}, "storeMode": "zerocopy"}}.write(t)
	code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-builder")
	checkOneErrorLine(t, code, stderr, `storeMode "zerocopy" is not one of "copy", "reflink", "hardlink", "bind"`)
}

func TestProgressAndSummaryLines(t *testing.T) {
	s := rootfs.Stats{Paths: 3, Files: 10, Dirs: 4, Symlinks: 1, Bytes: 3 << 20, Copied: 4, Cloned: 6,
		Fallbacks: map[string]int64{"EXDEV": 3, "EOPNOTSUPP": 1}, Elapsed: 2 * time.Second}
	if got, want := progressLine(s, 7, 10<<20), "3/7 paths, 10 files, 3.0 MiB of ~10.0 MiB, 1.5 MiB/s"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
	if got, want := summaryLine(bundle.StoreReflink, "", false, s), "done: mode reflink, 3 paths, 10 files, 4 directories, 1 symlinks, 3.0 MiB in 2.00 s; 6 cloned, 4 copied; fallbacks: 1 EOPNOTSUPP, 3 EXDEV; not verified"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	s.Verified = 2
	if got, want := summaryLine(bundle.StoreCopy, "", true, s), "done: mode copy, 3 paths, 10 files, 4 directories, 1 symlinks, 3.0 MiB in 2.00 s; verified 2 of 3 store paths against their NAR hashes"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got, want := summaryLine(bundle.StoreBind, "", true, rootfs.Stats{Paths: 3, Dirs: 3, Verified: 3, Elapsed: time.Second}), "done: mode bind, 3 paths bind-mounted read-only, 0 files copied, 0 B in 1.00 s; verified 3 of 3 store paths against their NAR hashes"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

// TestBoundedInputs: inputs read whole are read up to a limit: an endless
// or huge one fails at once with one line naming it.
func TestBoundedInputs(t *testing.T) {
	bundle := t.TempDir()
	config := filepath.Join(bundle, "config.json")
	f, err := os.Create(config)
	if err != nil {
		t.Fatal(err)
	}
	// 1 GiB, sparse: judged by its size, never read.
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"stream-image /dev/zero", []string{"stream-image", "/dev/zero"}, "read the image description: /dev/zero is more than 16.0 MiB, over the limit of 16.0 MiB for a streamed image description"},
		{"validate, a config.json of 1 GiB", []string{"validate", bundle}, "is not a valid bundle: 1 problem"},
		{"rootless, a config.json of 1 GiB", []string{"rootless", bundle, filepath.Join(t.TempDir(), "out")}, config + " is 1.0 GiB, over the limit of 32.0 MiB for a bundle's config.json"},
		{"options /dev/zero", []string{"bundle", "--options", "/dev/zero", "--out", filepath.Join(t.TempDir(), "out"), "--", "/x"}, "/dev/zero is more than 16.0 MiB, over the limit of 16.0 MiB for an options file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWith(t, nil, tc.args...)
			checkOneErrorLine(t, code, stderr, tc.want)
			if tc.args[0] == "validate" {
				want := bundle + ": config.json: " + config + " is 1.0 GiB, over the limit of 32.0 MiB for a bundle's config.json\n"
				if stdout != want {
					t.Fatalf("validate's report %q, want %q", stdout, want)
				}
			}
		})
	}
}

// fullWriter fails every write, as /dev/full does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// TestResultNotWritten: a command whose result (help, the version, an
// image's digest) cannot be written to its standard output fails, with
// one line saying so and what was done nonetheless, and exit status 1.
func TestResultNotWritten(t *testing.T) {
	_, prog, lib := fakeStore(t)
	graph := writeGraph(t, []map[string]any{
		{"path": prog, "references": []string{lib}},
		{"path": lib, "references": []string{}},
	})
	image := filepath.Join(t.TempDir(), "image")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "oci-builder: error: write to standard output: no space left on device\n"},
		{[]string{"help", "image"}, "oci-builder: error: write to standard output: no space left on device\n"},
		{[]string{"image", "--help"}, "oci-builder: error: write to standard output: no space left on device\n"},
		{[]string{"version"}, "oci-builder: error: write to standard output: no space left on device\n"},
		{[]string{"image", "--out", image, "--graph", graph, "--verify=false", "--", prog + "/bin/prog"},
			"oci-builder: error: the image " + image + " is written, but writing \"sha256:"},
	}
	for _, tc := range tests {
		var stderr bytes.Buffer
		code := run(context.Background(), tc.args, env{getenv: func(string) string { return "" }, stdout: fullWriter{}, stderr: &stderr})
		if code != exitError || !strings.Contains(stderr.String(), tc.want) || !strings.HasSuffix(stderr.String(), "no space left on device\n") {
			t.Errorf("%v: exit %d, stderr %q: want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(image, "index.json")); err != nil {
		t.Errorf("the image whose digest was not printed: %v", err)
	}
}
