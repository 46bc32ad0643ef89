package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/imageconfig"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// TestCompatContentsAndConfig: contents are merged at / in a top layer of
// directories and symlinks (the first content wins), and config is the
// image configuration, verbatim.
func TestCompatContentsAndConfig(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, strings.Repeat("a", 32)+"-busybox")
	b := filepath.Join(dir, strings.Repeat("b", 32)+"-other")
	for _, d := range []string{a + "/bin", a + "/etc", b + "/bin", b + "/share/doc"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{a + "/bin/busybox", b + "/bin/sh", b + "/share/doc/x"} {
		if err := os.WriteFile(f, []byte("x"), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("busybox", a+"/bin/sh"); err != nil {
		t.Fatal(err)
	}
	g, err := store.NewGraph([]store.PathInfo{{Path: a}, {Path: b}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &imageconfig.Config{
		ImageConfig: v1.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"A=b"}, User: "nobody", WorkingDir: "srv"},
		Healthcheck: &imageconfig.HealthConfig{Test: []string{"CMD-SHELL", "/bin/healthcheck"}, Interval: 30 * time.Second, Timeout: 10 * time.Second, Retries: 3},
		OnBuild:     []string{"RUN true"},
		Shell:       []string{"/bin/sh", "-c"},
	}
	p, err := image.NewPlan(g, container.Options{Args: []string{"/bin/sh"}, Roots: []string{a, b}},
		image.Options{Compat: &image.Compat{Config: cfg, Contents: []string{a, b}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Config.Config, *cfg) {
		t.Fatalf("config %+v, want %+v", p.Config.Config, *cfg)
	}
	top := p.Layers[len(p.Layers)-1]
	var got []string
	for _, e := range top.Entries {
		switch {
		case e.Dir:
			got = append(got, e.Path+"/")
		default:
			got = append(got, e.Path+" -> "+e.Link)
		}
	}
	want := []string{"/bin/", "/bin/busybox -> " + a + "/bin/busybox", "/bin/sh -> " + a + "/bin/sh", "/etc/", "/share/", "/share/doc/", "/share/doc/x -> " + b + "/share/doc/x"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("contents layer\n%q\nwant\n%q", got, want)
	}
	if c := p.Config.History[len(p.Config.History)-1].Comment; c != "customisation layer, 7 entries: contents linked at /: busybox, other" {
		t.Fatalf("history comment %q", c)
	}

	// A content outside the closure is an error naming its argument.
	for _, tc := range []struct {
		compat image.Compat
		want   string
	}{
		{image.Compat{Contents: []string{b}}, "contents: " + b + " is not a store path of the closure"},
		{image.Compat{CopyToRoot: []string{b}, Single: true}, "copyToRoot: " + b + " is not a store path of the closure"},
	} {
		if _, err := image.NewPlan(g, container.Options{Args: []string{"/bin/sh"}, Roots: []string{a}},
			image.Options{Compat: &tc.compat}, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%+v outside the closure: %v, want %q", tc.compat, err, tc.want)
		}
	}
}

func TestDecodeCompat(t *testing.T) {
	c, err := image.DecodeCompat([]byte(`{"config":{"Cmd":["x"],"ExposedPorts":{"80/tcp":{}}},"contents":["/nix/store/x"],"tagFromOutput":true}`))
	if err != nil || c.Config.Cmd[0] != "x" || !c.TagFromOutput || len(c.Contents) != 1 {
		t.Fatalf("%+v, %v", c, err)
	}
	// Docker's keys are taken; a bad health check or a key neither
	// image-spec nor Docker has is refused, naming it.
	for _, tc := range []struct{ config, err string }{
		{`{"Healthcheck":{"Test":["CMD-SHELL","/bin/healthcheck"],"Interval":30000000000,"Timeout":10000000000,"Retries":3},"OnBuild":["RUN true"],"Shell":["/bin/sh","-c"]}`, ""},
		{`{"Healthcheck":{"Test":["NONE"]}}`, ""},
		{`{"Healthcheck":{}}`, "config.Healthcheck.Test is empty"},
		{`{"Healthcheck":{"Test":["/bin/check"]}}`, `config.Healthcheck.Test starts with "/bin/check"`},
		{`{"Healthcheck":{"Test":["NONE"],"Retries":-1}}`, "config.Healthcheck.Retries is -1"},
		{`{"Healthcheck":{"Test":["NONE"],"retries":1}}`, `unknown option "retries" in /config/Healthcheck`},
		{`{"Hostname":"x"}`, `unknown option "Hostname" in /config`},
		{`{"Shell":"/bin/sh"}`, `option "config.Shell": expected a list`},
	} {
		c, err := image.DecodeCompat([]byte(`{"config":` + tc.config + `}`))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.config, err)
		case tc.err == "" && c.Config.Healthcheck == nil:
			t.Errorf("%s: no Healthcheck decoded", tc.config)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: error %v, want one line with %q", tc.config, err, tc.err)
		}
	}
	if got := image.TagOfOutput("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-app"); got != "0123456789abcdfghijklmnpqrsvwxyz" {
		t.Fatal(got)
	}
}

// TestCompatShellLayer: a customisation layer made elsewhere (the hook of
// the shell arguments) is taken as it is: its tar is the layer's, within
// maxLayers; a store path outside the closure is refused.
func TestCompatShellLayer(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, strings.Repeat("a", 32)+"-app")
	shell := filepath.Join(dir, strings.Repeat("s", 32)+"-customisation-layer")
	for _, d := range []string{app + "/bin", shell} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(app+"/bin/app", []byte("app"), 0o555); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "home/alice/", Mode: 0o755, Uid: 1000})
	tw.Close()
	if err := os.WriteFile(shell+"/layer.tar", buf.Bytes(), 0o444); err != nil {
		t.Fatal(err)
	}
	g, err := store.NewGraph([]store.PathInfo{{Path: app}, {Path: shell}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := container.Options{Args: []string{"/bin/sh"}, Roots: []string{app, shell}}
	p, err := image.NewPlan(g, opts, image.Options{MaxLayers: 2, Compat: &image.Compat{ShellLayer: shell}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Layers) != 2 || p.Layers[1].Tar != shell || len(p.Layers[0].Paths) != 1 || p.Layers[0].Paths[0].Path != app {
		t.Fatalf("layers %+v, want the closure's (without the shell layer's derivation) and the shell layer", p.Layers)
	}
	if len(p.Closure) != 1 || p.Closure[0].Path != app {
		t.Fatalf("closure %v, want the app only", p.Closure)
	}
	res, err := image.Write(context.Background(), filepath.Join(t.TempDir(), "img"), p, image.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Layers[1].DiffID, digest.FromBytes(buf.Bytes()); got != want {
		t.Fatalf("shell layer DiffID %s, want the tar's %s", got, want)
	}
	if _, err := image.NewPlan(g, container.Options{Args: []string{"/bin/sh"}, Roots: []string{app}},
		image.Options{Compat: &image.Compat{ShellLayer: shell}}, nil); err == nil || !strings.Contains(err.Error(), "shellLayer") {
		t.Fatalf("shell layer outside the closure: %v", err)
	}

	// buildImage's style: one layer, the closure then the tar's entries.
	p, err = image.NewPlan(g, opts, image.Options{Compat: &image.Compat{Single: true, ShellLayer: shell}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Layers) != 1 {
		t.Fatalf("layers %+v, want one", p.Layers)
	}
	out := filepath.Join(t.TempDir(), "img")
	if res, err = image.Write(context.Background(), out, p, image.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	names := layerNames(t, filepath.Join(out, "blobs", "sha256", res.Layers[0].Digest.Encoded()))
	if got := strings.Join(names, " "); !strings.HasSuffix(got, " "+strings.TrimPrefix(app, "/")+"/bin/app home/alice/") || strings.Contains(got, "customisation") {
		t.Fatalf("the layer holds %s, want the store paths (not the shell layer's) and home/alice/ last", got)
	}
}

// TestCustomisationCopy: copyToRoot is copied as rsync -a does: files
// copied (their bytes read from the store), links kept, a link to a
// directory copied as that directory unless keepContentsDirlinks, the
// owner set; perms change the entries whose source they match; dirs
// replace the owner and mode of a directory.
func TestCustomisationCopy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, strings.Repeat("c", 32)+"-root")
	for _, d := range []string{p + "/real", p + "/bin"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(p+"/real/file", []byte("x"), 0o444)
	os.WriteFile(p+"/bin/prog", []byte("y"), 0o555)
	os.Symlink("real", p+"/lib")
	os.Symlink("prog", p+"/bin/alias")
	describe := func(entries []layer.Entry) []string {
		var got []string
		for _, e := range entries {
			s := fmt.Sprintf("%s %o %d:%d", e.Path, e.Mode, e.UID, e.GID)
			switch {
			case e.Dir:
				s += " dir"
			case e.Link != "":
				s = fmt.Sprintf("%s -> %s %d:%d", e.Path, e.Link, e.UID, e.GID)
			default:
				s += " copy of " + strings.TrimPrefix(e.Src, p)
			}
			got = append(got, s)
		}
		sort.Strings(got)
		return got
	}
	uid := 9
	for _, tc := range []struct {
		keep bool
		want []string
	}{
		{false, []string{"/bin 755 5:6 dir", "/bin/alias -> prog 5:6", "/bin/prog 750 9:6 copy of /bin/prog", "/lib 755 5:6 dir", "/lib/file 444 5:6 copy of /real/file", "/real 700 1:2 dir", "/real/file 444 5:6 copy of /real/file"}},
		{true, []string{"/bin 755 5:6 dir", "/bin/alias -> prog 5:6", "/bin/prog 750 9:6 copy of /bin/prog", "/lib -> real 5:6", "/real 700 1:2 dir", "/real/file 444 5:6 copy of /real/file"}},
	} {
		c := &image.Customisation{Copy: []string{p}, KeepDirlinks: tc.keep, UID: 5, GID: 6,
			Perms: []layer.Perm{{Path: p, Regex: "/bin/prog$", Mode: "0750", UID: &uid}},
			Extra: []layer.Entry{{Path: "/real", Dir: true, Mode: 0o700, UID: 1, GID: 2}}}
		entries, err := c.Entries()
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(entries); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("keepContentsDirlinks %v:\n%q\nwant\n%q", tc.keep, got, tc.want)
		}
	}
}

// TestCompatNixDB: includeNixDB puts Nix's database of the whole closure
// in the customisation layer (the outputs of a derivation in it read from
// its .drv file), the schema version beside it and a garbage collector
// root for each root, /nix/var/nix owned by uid and gid; /nix too in a
// layered image, as the store layers have it. With a customisation layer
// made by the shell arguments, the database is a layer of its own on top.
// A closure without NAR hashes is refused.
func TestCompatNixDB(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, strings.Repeat("a", 32)+"-app")
	lib := filepath.Join(dir, strings.Repeat("b", 32)+"-lib")
	drv := filepath.Join(dir, strings.Repeat("c", 32)+"-app.drv")
	shell := filepath.Join(dir, strings.Repeat("s", 32)+"-customisation-layer")
	for _, d := range []string{app + "/bin", lib, shell} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(drv, []byte(`Derive([("out","`+app+`","","")],[],[],"x86_64-linux","/bin/sh",[],[])`), 0o444); err != nil {
		t.Fatal(err)
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755})
	tw.Close()
	if err := os.WriteFile(shell+"/layer.tar", tarBuf.Bytes(), 0o444); err != nil {
		t.Fatal(err)
	}
	hash := "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
	infos := []store.PathInfo{
		{Path: app, NarHash: hash, NarSize: 120, References: []string{lib, app}},
		{Path: lib, NarHash: hash, NarSize: 8},
		{Path: drv, NarHash: hash, NarSize: 300, References: []string{lib}},
		{Path: shell, NarHash: hash, NarSize: 9},
	}
	g, err := store.NewGraph(infos, dir)
	if err != nil {
		t.Fatal(err)
	}
	// entriesOf reads a layer's tar: name -> header (and the bytes of
	// files).
	entriesOf := func(t *testing.T, p *image.Plan, i int) (map[string]*tar.Header, map[string][]byte) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "img")
		res, err := image.Write(context.Background(), out, p, image.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return readLayer(t, out, res.Layers[i].Digest)
	}
	for _, tc := range []struct {
		name   string
		compat image.Compat
		roots  []string
		// layer is the index of the layer that holds the database.
		layer   int
		withNix bool
	}{
		{"layered", image.Compat{IncludeNixDB: true, Contents: []string{app}, UID: 1000, GID: 100, Uname: "user", Gname: "users"}, []string{app, drv}, 1, true},
		{"single", image.Compat{IncludeNixDB: true, Single: true, CopyToRoot: []string{app}, UID: 1000, GID: 100}, []string{app, drv}, 0, false},
		{"shell layer", image.Compat{IncludeNixDB: true, Contents: []string{app}, ShellLayer: shell}, []string{app, drv, shell}, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := image.NewPlan(g, container.Options{Args: []string{"/bin/sh"}, Roots: tc.roots}, image.Options{MaxLayers: 2, Compat: &tc.compat}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Layers) != tc.layer+1 {
				t.Fatalf("%d layers, want %d", len(p.Layers), tc.layer+1)
			}
			headers, data := entriesOf(t, p, tc.layer)
			uid, gid := tc.compat.UID, tc.compat.GID
			for _, name := range []string{"nix/", "nix/var/", "nix/var/nix/", "nix/var/nix/db/", "nix/var/nix/db/db.sqlite", "nix/var/nix/db/schema", "nix/var/nix/gcroots/", "nix/var/nix/gcroots/docker/"} {
				h := headers[name]
				if h == nil {
					t.Fatalf("no %s in the layer", name)
				}
				if name == "nix/" && !tc.withNix {
					// The store paths' /nix in buildImage's one layer:
					// root's, as dockerTools'.
					continue
				}
				mode := int64(0o755)
				if h.Typeflag == tar.TypeReg {
					mode = 0o644
				}
				if h.Uid != uid || h.Gid != gid || h.Mode != mode || h.Uname != tc.compat.Uname {
					t.Errorf("%s: owner %d:%d (%q), mode %o; want %d:%d (%q), %o", name, h.Uid, h.Gid, h.Uname, h.Mode, uid, gid, tc.compat.Uname, mode)
				}
			}
			if got := string(data["nix/var/nix/db/schema"]); got != "10" {
				t.Errorf("schema %q", got)
			}
			for _, r := range tc.roots {
				h := headers["nix/var/nix/gcroots/docker/"+filepath.Base(r)]
				if r == shell {
					// The shell layer's derivation is not in the image.
					if h != nil {
						t.Errorf("gcroot of the shell layer's derivation: %+v", h)
					}
					continue
				}
				if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != r {
					t.Errorf("gcroot of %s: %+v", r, h)
				}
			}
			db := data["nix/var/nix/db/db.sqlite"]
			if !bytes.HasPrefix(db, []byte("SQLite format 3\x00")) {
				t.Fatal("db.sqlite is not an SQLite database")
			}
			for _, p := range []string{app, lib, drv} {
				if !bytes.Contains(db, []byte(p)) {
					t.Errorf("the database does not name %s", p)
				}
			}
			if bytes.Contains(db, []byte(shell)) {
				t.Error("the database names the shell layer's derivation")
			}
			// The derivation's output, read from its .drv file.
			if _, err := exec.LookPath("sqlite3"); err == nil || os.Getenv("CI") != "" {
				file := filepath.Join(t.TempDir(), "db.sqlite")
				if err := os.WriteFile(file, db, 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command("sqlite3", file, "SELECT v.path, d.id, d.path FROM DerivationOutputs d JOIN ValidPaths v ON v.id = d.drv").CombinedOutput()
				if want := drv + "|out|" + app + "\n"; err != nil || string(out) != want {
					t.Errorf("derivation outputs: %s, %v; want %s", out, err, want)
				}
			}
			// app, lib and drv (never the shell layer's derivation).
			if c := p.Config.History[tc.layer].Comment; !strings.Contains(c, "Nix's database of 3 store paths") {
				t.Errorf("history comment %q", c)
			}
		})
	}

	noHash := []store.PathInfo{{Path: lib}}
	g2, err := store.NewGraph(noHash, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := image.NewPlan(g2, container.Options{Args: []string{"/bin/sh"}, Roots: []string{lib}, Verify: new(bool)},
		image.Options{Compat: &image.Compat{IncludeNixDB: true}}, nil); err == nil || !strings.Contains(err.Error(), "includeNixDB: the closure graph gives no NAR hash for "+lib) {
		t.Fatalf("no NAR hash: %v", err)
	}
}

// readLayer reads the gzip layer blob d of the layout out: its headers and
// the bytes of its files, by name.
func readLayer(t *testing.T, out string, d digest.Digest) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	f, err := os.Open(filepath.Join(out, "blobs", "sha256", d.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	headers, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return headers, data
		}
		if err != nil {
			t.Fatal(err)
		}
		headers[h.Name] = h
		if h.Typeflag == tar.TypeReg {
			if data[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// layerNames are the names in a gzip-compressed layer blob, in order.
func layerNames(t *testing.T, blob string) []string {
	t.Helper()
	f, err := os.Open(blob)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}
