package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
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
	cfg := &v1.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"A=b"}, User: "nobody", WorkingDir: "srv"}
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

	// A content outside the closure is an error.
	if _, err := image.NewPlan(g, container.Options{Args: []string{"/bin/sh"}, Roots: []string{a}},
		image.Options{Compat: &image.Compat{Contents: []string{b}}}, nil); err == nil || !strings.Contains(err.Error(), "not a store path of the closure") {
		t.Fatalf("content outside the closure: %v", err)
	}
}

func TestDecodeCompat(t *testing.T) {
	c, err := image.DecodeCompat([]byte(`{"config":{"Cmd":["x"],"ExposedPorts":{"80/tcp":{}}},"contents":["/nix/store/x"],"tagFromOutput":true}`))
	if err != nil || c.Config.Cmd[0] != "x" || !c.TagFromOutput || len(c.Contents) != 1 {
		t.Fatalf("%+v, %v", c, err)
	}
	if _, err := image.DecodeCompat([]byte(`{"config":{"Healthcheck":{}}}`)); err == nil || !strings.Contains(err.Error(), "Healthcheck") {
		t.Fatalf("unknown config key: %v", err)
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
	if len(p.Layers) != 2 || p.Layers[1].Tar != shell {
		t.Fatalf("layers %+v, want the closure's and the shell layer", p.Layers)
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
