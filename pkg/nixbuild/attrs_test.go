package nixbuild_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFindAttrs(t *testing.T) {
	top := t.TempDir()
	inTop := filepath.Join(top, ".attrs.json")
	os.WriteFile(inTop, []byte("{}"), 0o644)
	elsewhere := filepath.Join(t.TempDir(), "attrs.json")
	os.WriteFile(elsewhere, []byte("{}"), 0o644)
	cwd := t.TempDir()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(cwd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(old) })

	tests := []struct {
		name string
		env  map[string]string
		cwd  bool
		want string
		err  string
	}{
		{"variable points at the file", map[string]string{"NIX_ATTRS_JSON_FILE": elsewhere, "NIX_BUILD_TOP": top}, false, elsewhere, ""},
		// Nix 2.4 to 2.14 in the sandbox: the variable names a host path.
		{"variable points nowhere", map[string]string{"NIX_ATTRS_JSON_FILE": "/tmp/nix-build-x.drv-0/.attrs.json", "NIX_BUILD_TOP": top}, false, inTop, ""},
		// Nix 2.3 does not set the variable.
		{"no variable", map[string]string{"NIX_BUILD_TOP": top}, false, inTop, ""},
		{"working directory", map[string]string{}, true, "./.attrs.json", ""},
		{"nothing", map[string]string{"NIX_BUILD_TOP": t.TempDir()}, false, "", "no .attrs.json found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(filepath.Join(cwd, ".attrs.json"))
			if tc.cwd {
				os.WriteFile(filepath.Join(cwd, ".attrs.json"), []byte("{}"), 0o644)
			}
			got, err := nixbuild.FindAttrs(envOf(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestAttrsFromNixVersions reads .attrs.json as Nix 2.3, 2.8, 2.15+ and Lix
// write it.
func TestAttrsFromNixVersions(t *testing.T) {
	files, _ := filepath.Glob("testdata/attrs-*.json")
	if len(files) < 4 {
		t.Fatalf("fixtures missing: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			a, err := nixbuild.ReadAttrs(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := a.Output("out")
			if err != nil || !strings.HasSuffix(out, "-fx-structured") {
				t.Fatalf("output %q, %v", out, err)
			}
			for _, dir := range []string{"", "/nix/store"} {
				g, err := a.Graph(dir)
				if err != nil {
					t.Fatal(err)
				}
				if g.Len() != 3 || g.StoreDir() != "/nix/store" {
					t.Fatalf("graph of %d paths in %q", g.Len(), g.StoreDir())
				}
			}
			if _, err := a.Graph("/opt/store"); err == nil || !strings.Contains(err.Error(), "not in the store directory /opt/store") {
				t.Fatalf("store dir mismatch not caught: %v", err)
			}
		})
	}
}

func TestAttrsErrors(t *testing.T) {
	tests := []struct {
		name, json string
		do         func(a *nixbuild.Attrs) error
		want       string
	}{
		{"no outputs", `{}`, func(a *nixbuild.Attrs) error { _, err := a.Output("out"); return err }, `.attrs.json has no "outputs"`},
		{"outputs not object", `{"outputs":[1]}`, func(a *nixbuild.Attrs) error { _, err := a.Output("out"); return err }, `"outputs" is not an object`},
		{"no out", `{"outputs":{"bin":"/nix/store/x"}}`, func(a *nixbuild.Attrs) error { _, err := a.Output("out"); return err }, `no output "out"`},
		{"relative out", `{"outputs":{"out":"x"}}`, func(a *nixbuild.Attrs) error { _, err := a.Output("out"); return err }, "not an absolute path"},
		{"no graph", `{}`, func(a *nixbuild.Attrs) error { _, err := a.Graph(""); return err }, `has neither "exportReferencesGraph" nor "closureGraph"`},
		{"graph file without roots", `{"closureGraph":{"file":"/nix/store/x"}}`, func(a *nixbuild.Attrs) error { _, err := a.Graph(""); return err }, `"closureGraph" is not an object with "file"`},
		{"graph file missing", `{"closureGraph":{"file":"/nonexistent/graph","roots":[]}}`, func(a *nixbuild.Attrs) error { _, err := a.Graph(""); return err }, `read graph: open /nonexistent/graph`},
		{"graph key missing", `{"exportReferencesGraph":{"closure":["/nix/store/x"]}}`, func(a *nixbuild.Attrs) error { _, err := a.Graph(""); return err }, `no closure graph under "closure"`},
		{"legacy list form", `{"exportReferencesGraph":["closure","/nix/store/x"]}`, func(a *nixbuild.Attrs) error { _, err := a.Graph(""); return err }, `"exportReferencesGraph" is not an object`},
		{"malformed graph", `{"exportReferencesGraph":{"g":[]},"g":[{"path":"/nix/store/bad"}]}`, func(a *nixbuild.Attrs) error { _, err := a.Graph(""); return err }, `.attrs.json key "g": closure graph entry 0`},
		{"storeDir not string", `{"storeDir":1}`, func(a *nixbuild.Attrs) error { _, err := a.String("storeDir"); return err }, `attribute "storeDir": not a string`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := nixbuild.ParseAttrs([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.do(a); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `null`, `{"a":`} {
		if _, err := nixbuild.ParseAttrs([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "parse .attrs.json: ") {
			t.Errorf("ParseAttrs(%q): %v", bad, err)
		}
	}
}

func TestCores(t *testing.T) {
	tests := []struct {
		v    string
		want int
		err  bool
	}{
		{"", runtime.NumCPU(), false},
		{"0", runtime.NumCPU(), false},
		{"3", 3, false},
		{"-1", 0, true},
		{"many", 0, true},
	}
	for _, tc := range tests {
		got, err := nixbuild.Cores(envOf(map[string]string{"NIX_BUILD_CORES": tc.v}))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Cores(%q) = %d, %v", tc.v, got, err)
		}
	}
}

// TestContainerAttrs reads the .attrs.json of a real derivation made by
// nix/oci-tools.nix (captured from Nix 2.8.0) through to a bundle plan.
func TestContainerAttrs(t *testing.T) {
	a, err := nixbuild.ReadAttrs("testdata/container-nix2.8.json")
	if err != nil {
		t.Fatal(err)
	}
	storeDir, err := a.String("storeDir")
	if err != nil || storeDir != "/nix/store" {
		t.Fatalf("storeDir %q, %v", storeDir, err)
	}
	g, err := a.Graph(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := a.Raw("container")
	if !ok {
		t.Fatal("no container attribute")
	}
	opts, err := container.DecodeOptions(raw)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := bundle.NewPlan(g, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, info := range plan.Closure {
		paths = append(paths, info.Name())
	}
	var mountpoints []string
	for _, mp := range plan.Mountpoints {
		mountpoints = append(mountpoints, fmt.Sprintf("%s:%v", mp.Path, mp.IsFile))
	}
	if strings.Join(paths, " ") != "hello.sh busybox" || !plan.Spec.Root.Readonly ||
		strings.Join(mountpoints, " ") != "/proc:false /dev:false /sys:false /data:false /etc/resolv.conf:true /tmp:false" {
		t.Fatalf("closure %v, mountpoints %v, root %+v", paths, mountpoints, plan.Spec.Root)
	}
}

func TestGraphRoots(t *testing.T) {
	const a, b, c = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b", "/nix/store/cccccccccccccccccccccccccccccccc-c"
	tests := []struct {
		json string
		want string
		err  string
	}{
		{`{"exportReferencesGraph":{"closure":["` + b + `","` + a + `"]}}`, b + " " + a, ""},
		// Keys in order, duplicates once, one path alone, a sub-path as its store path.
		{`{"exportReferencesGraph":{"y":"` + c + `","x":["` + a + `/bin/sh","` + c + `"]}}`, a + " " + c, ""},
		{`{"exportReferencesGraph":{"x":[1]}}`, "", "exportReferencesGraph.x is not a list of store paths"},
		{`{"exportReferencesGraph":["x","` + a + `"]}`, "", `"exportReferencesGraph" is not an object`},
		{`{}`, "", `has neither "exportReferencesGraph" nor "closureGraph"`},
		// A graph file's roots; exportReferencesGraph wins over it.
		{`{"closureGraph":{"file":"/nix/store/g","roots":["` + c + `","` + a + `/bin/sh","` + c + `"]}}`, c + " " + a, ""},
		{`{"exportReferencesGraph":{"x":["` + b + `"]},"closureGraph":{"file":"/nix/store/g","roots":["` + a + `"]}}`, b, ""},
	}
	for _, tc := range tests {
		attrs, err := nixbuild.ParseAttrs([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		roots, err := attrs.GraphRoots("/nix/store")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.json, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(roots, " ") != tc.want {
			t.Errorf("%s: roots %v (%v), want %s", tc.json, roots, err, tc.want)
		}
	}
}

// TestGraphFile reads the closure graph from the file closureGraph names,
// in the text format or as JSON (a graph helper derivation's output),
// and TextGraph the files Nix's text export
// writes for a derivation without structured attributes.
func TestGraphFile(t *testing.T) {
	const a, b = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b"
	dir := t.TempDir()
	// Nix's text export: the closure of a (a, b) and of b.
	os.WriteFile(filepath.Join(dir, "closure0"), []byte(a+"\n\n1\n"+b+"\n"+b+"\n\n0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "closure1"), []byte(b+"\n\n0\n"), 0o644)
	g, err := nixbuild.TextGraph(envOf(map[string]string{"exportReferencesGraph": "closure0 " + a + " closure1 " + b}), dir)
	if err != nil || strings.Join(g.Paths(), " ") != a+" "+b {
		t.Fatalf("TextGraph: %v, %v", g, err)
	}
	for _, bad := range []struct{ env, want string }{
		{"closure0", "is not pairs"},
		{"../closure0 " + a, "is not a file name"},
		{"missing " + a, "closure graph of " + a},
	} {
		if _, err := nixbuild.TextGraph(envOf(map[string]string{"exportReferencesGraph": bad.env}), dir); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("TextGraph(%q): %v, want %q", bad.env, err, bad.want)
		}
	}
	if g, err := nixbuild.TextGraph(envOf(nil), dir); err != nil || g.Len() != 0 {
		t.Errorf("TextGraph of nothing: %v, %v", g, err)
	}
	for _, format := range []string{"text", "json"} {
		file := filepath.Join(dir, "closure0")
		if format == "json" {
			data, _ := json.Marshal(g)
			file = filepath.Join(dir, "graph.json")
			os.WriteFile(file, data, 0o644)
		}
		attrs, err := nixbuild.ParseAttrs([]byte(`{"closureGraph":{"file":"` + file + `","roots":["` + a + `"]}}`))
		if err != nil {
			t.Fatal(err)
		}
		got, err := attrs.Graph("/nix/store")
		if err != nil || strings.Join(got.Paths(), " ") != a+" "+b {
			t.Errorf("%s: graph %v, %v", format, got, err)
		}
	}
}
