package index_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/index"
	"github.com/oci-builder/oci-builder/pkg/outside"
	"github.com/oci-builder/oci-builder/pkg/outside/outsidetest"
)

func open(t *testing.T, p string, platform *v1.Platform) *outside.Image {
	t.Helper()
	im, err := outside.Open(p, outside.Selector{Platform: platform})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	if err := im.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	return im
}

func image(arch string) outsidetest.Image {
	return outsidetest.Image{RepoTag: "app:1", Arch: arch, Compression: "gzip",
		Layers: [][]outsidetest.Entry{{{Name: "etc/shared", Data: "same"}}, {{Name: "bin/app", Data: arch}}}}
}

func TestWrite(t *testing.T) {
	amd := open(t, outsidetest.Writers["oci"](t, image("amd64")), nil)
	arm := open(t, outsidetest.Writers["docker-archive"](t, image("arm64")), nil)
	out := filepath.Join(t.TempDir(), "index")
	res, err := index.Write(context.Background(), out, "multi", []index.Entry{{Image: amd}, {Image: arm}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Manifests) != 2 || res.Manifests[1].Platform.Variant != "v8" {
		t.Fatalf("%+v", res.Manifests)
	}
	// Each platform's image reads back whole from the index.
	for _, c := range []struct {
		p    v1.Platform
		from *outside.Image
	}{{v1.Platform{OS: "linux", Architecture: "amd64"}, amd}, {v1.Platform{OS: "linux", Architecture: "arm64"}, arm}} {
		back := open(t, out, &c.p)
		if back.Digest() != c.from.Digest() || back.RepoTag != "multi" {
			t.Errorf("%v: %s (%s), want %s", c.p, back.Digest(), back.RepoTag, c.from.Digest())
		}
	}
	// The same bytes again.
	out2 := filepath.Join(t.TempDir(), "index")
	res2, err := index.Write(context.Background(), out2, "multi", []index.Entry{{Image: amd}, {Image: arm}})
	if err != nil || res2.Index.Digest != res.Index.Digest {
		t.Errorf("not reproducible: %v %s %s", err, res2.Index.Digest, res.Index.Digest)
	}
	if _, err := index.Write(context.Background(), filepath.Join(t.TempDir(), "x"), "t", []index.Entry{{Image: amd}, {Image: amd}}); err == nil || !strings.Contains(err.Error(), "both for linux/amd64") {
		t.Errorf("two images of one platform: %v", err)
	}
}
