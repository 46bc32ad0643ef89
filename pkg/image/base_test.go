package image_test

import (
	"context"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/imageconfig"
	"github.com/oci-builder/oci-builder/pkg/outside"
	"github.com/oci-builder/oci-builder/pkg/outside/outsidetest"
)

// baseArchive writes a docker-archive of one image for arch, two
// uncompressed layers (/etc/passwd, /bin/tool), environment env.
func baseArchive(t *testing.T, arch string, env []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "base.tar")
	outsidetest.DockerArchive(t, p, outsidetest.Image{
		RepoTag: "base:1",
		Layers: [][]outsidetest.Entry{
			{{Name: "etc/passwd", Data: "root:x:0:0:base root:/root:/bin/sh\n"}},
			{{Name: "bin/tool", Data: "#!/bin/sh\n"}},
		},
		Arch:        arch,
		Env:         env,
		Cmd:         []string{"base-cmd"},
		Healthcheck: &imageconfig.HealthConfig{Test: []string{"CMD", "/bin/tool"}, Retries: 2},
	})
	return p
}

func TestFromImage(t *testing.T) {
	g, app := diskStore(t, t.TempDir(), 3, 'a', "app")
	base := baseArchive(t, "amd64", []string{"PATH=/bin:/usr/bin", "LANG=C", "FOO=base"})
	c := container.Options{Args: []string{app + "/bin/app"}, Env: map[string]string{"FOO": "ours"}, Arch: "amd64"}
	o := image.Options{FromImage: &image.FromImage{Path: base}, MaxLayers: 4}
	platform, _ := image.Platform(c)
	im, err := image.OpenBase(context.Background(), o.FromImage, platform)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	o.Base = im
	p, err := image.NewPlan(g, c, o, bundle.HostStore{})
	if err != nil {
		t.Fatal(err)
	}
	// 2 base layers, the /etc layer, one layer for the 4 store paths.
	if len(p.Layers) != 4 || p.Layers[0].Base == nil || p.Layers[1].Base == nil {
		t.Fatalf("%d layers: %+v", len(p.Layers), p.Layers)
	}
	for _, e := range p.Layers[2].Entries {
		if e.Path == "/etc/passwd" {
			t.Errorf("the /etc layer replaces the base's /etc/passwd")
		}
	}
	wantEnv := []string{"PATH=" + app + "/bin:/bin:/usr/bin", "LANG=C", "FOO=ours", "HOME=/root"}
	if !reflect.DeepEqual(p.Config.Config.Env, wantEnv) {
		t.Errorf("env %q, want %q", p.Config.Config.Env, wantEnv)
	}
	if p.Config.Config.Cmd != nil {
		t.Errorf("the base's Cmd was kept: %q", p.Config.Config.Cmd)
	}
	// The base's health check is read, and not inherited, as dockerTools
	// keeps only a base's Env.
	if h := im.Config.Config.Healthcheck; h == nil || h.Test[1] != "/bin/tool" {
		t.Errorf("the base's Healthcheck was not read: %+v", h)
	}
	if h := p.Config.Config.Healthcheck; h != nil {
		t.Errorf("the base's Healthcheck was kept: %+v", h)
	}
	if len(p.Config.History) != 4 || !strings.Contains(p.Config.History[0].Comment, "base image base:1") {
		t.Errorf("history %+v", p.Config.History)
	}
	out := filepath.Join(t.TempDir(), "image")
	res, err := image.Write(context.Background(), out, p, image.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if res.Layers[i].Digest != im.Layers[i].Digest || res.Layers[i].DiffID != im.Layers[i].DiffID {
			t.Errorf("layer %d is not the base's: %+v", i, res.Layers[i])
		}
	}
	// The result is an image from outside like any other, whole.
	back, err := outside.Open(out, outside.Selector{})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if err := back.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/etc/passwd", "/bin/tool", app + "/bin/app"} {
		if !back.Has(f) {
			t.Errorf("the image has no %s", f)
		}
	}
	if back.Layers[0].MediaType != v1.MediaTypeImageLayer {
		t.Errorf("base layer media type %s (recompressed?)", back.Layers[0].MediaType)
	}
}

func TestFromImageErrors(t *testing.T) {
	g, app := diskStore(t, t.TempDir(), 1, 'a', "app")
	c := container.Options{Args: []string{app + "/bin/app"}, Arch: "amd64"}
	platform, _ := image.Platform(c)
	if _, err := image.OpenBase(context.Background(), &image.FromImage{Path: baseArchive(t, "arm64", nil)}, platform); err == nil || !strings.Contains(err.Error(), "is an image for linux/arm64, not for linux/amd64") {
		t.Errorf("platform: %v", err)
	}
	if _, err := image.OpenBase(context.Background(), &image.FromImage{Path: baseArchive(t, "amd64", nil), Tag: "2"}, platform); err == nil || !strings.Contains(err.Error(), "fromImage: image ") || !strings.Contains(err.Error(), "no image tagged 2 (the archive has base:1)") {
		t.Errorf("tag: %v", err)
	}
	im, err := image.OpenBase(context.Background(), &image.FromImage{Path: baseArchive(t, "amd64", nil)}, platform)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	_, err = image.NewPlan(g, c, image.Options{FromImage: &image.FromImage{}, Base: im, MaxLayers: 3}, bundle.HostStore{})
	if err == nil || !strings.Contains(err.Error(), "the base image has 2 layers") || !strings.Contains(err.Error(), "give maxLayers 4 or more") {
		t.Errorf("maxLayers: %v", err)
	}
}

// TestFromImageSingle: dockerTools.buildImage's one layer leaves out the
// store paths its base image already has (dockerTools adds only the
// files the base lacks); the other layouts keep them.
func TestFromImageSingle(t *testing.T) {
	g, app := diskStore(t, t.TempDir(), 2, 'a', "app")
	closure, err := g.Closure([]string{app})
	if err != nil {
		t.Fatal(err)
	}
	var lib0, lib1 string
	for _, info := range closure {
		switch {
		case strings.HasSuffix(info.Path, "-lib0"):
			lib0 = info.Path
		case strings.HasSuffix(info.Path, "-lib1"):
			lib1 = info.Path
		}
	}
	base := filepath.Join(t.TempDir(), "base.tar")
	outsidetest.DockerArchive(t, base, outsidetest.Image{
		RepoTag: "base:1",
		Layers: [][]outsidetest.Entry{
			// lib0 as the base has it (a store path may be a symbolic
			// link), and lib1 whited out by the layer above.
			{{Name: strings.TrimPrefix(lib0, "/"), Link: "lib"}, {Name: strings.TrimPrefix(lib1, "/"), Link: "lib"}},
			{{Name: path.Dir(strings.TrimPrefix(lib1, "/")) + "/.wh." + path.Base(lib1)}},
		},
		Arch: "amd64",
	})
	c := container.Options{Args: []string{app + "/bin/app"}, Arch: "amd64"}
	platform, _ := image.Platform(c)
	im, err := image.OpenBase(context.Background(), &image.FromImage{Path: base}, platform)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	tests := []struct {
		name   string
		compat image.Compat
		want   int // store paths in the image's own layers
	}{
		{"buildImage", image.Compat{Single: true}, 2},
		{"buildLayeredImage", image.Compat{}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			compat := tc.compat
			p, err := image.NewPlan(g, c, image.Options{FromImage: &image.FromImage{Path: base}, Base: im, Compat: &compat}, bundle.HostStore{})
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, l := range p.Layers {
				for _, info := range l.Paths {
					got++
					if tc.compat.Single && info.Path == lib0 {
						t.Errorf("the layer repeats the base's %s", lib0)
					}
				}
			}
			if got != tc.want {
				t.Errorf("%d store paths in the image's layers, want %d", got, tc.want)
			}
			if len(p.Closure) != 3 {
				t.Errorf("closure of %d paths, want 3 (the SBOM's)", len(p.Closure))
			}
		})
	}
}
