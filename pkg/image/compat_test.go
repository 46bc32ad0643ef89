package image_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
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
