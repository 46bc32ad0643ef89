package transport

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oci-builder/oci-builder/pkg/outside"
	"github.com/oci-builder/oci-builder/pkg/outside/outsidetest"
)

var archived = outsidetest.Image{
	RepoTag:     "example.org/app:1.0",
	Layers:      [][]outsidetest.Entry{{{Name: "bin/app", Data: "app"}}, {{Name: "etc/motd", Data: "hi"}}},
	Compression: "gzip",
}

// TestCopyFromArchives: every archive kind (and a layout) is a source;
// the copy keeps its layers' blobs, and a tampered archive is refused
// before anything is written.
func TestCopyFromArchives(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for format, write := range outsidetest.Writers {
		t.Run(format, func(t *testing.T) {
			p := write(t, archived)
			src := p
			if format == "oci" {
				src = "oci:" + p
			}
			out := filepath.Join(t.TempDir(), "out.tar")
			if _, err := copyTo(t, src, "docker-archive:"+out+":copy:1", Options{}); err != nil {
				t.Fatal(err)
			}
			im, err := outside.Open(out, outside.Selector{Name: "copy", Tag: "1"})
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if err := im.Verify(context.Background()); err != nil {
				t.Fatal(err)
			}
			b := archived.Build(t)
			for i, l := range im.Layers {
				if l.DiffID != b.DiffIDs[i] || l.Size != int64(len(b.Layers[i])) {
					t.Errorf("layer %d changed: %+v", i, l)
				}
			}
			sum, err := copyTo(t, src, "docker://"+host+"/app:"+strings.ReplaceAll(format, ".", "-"), pushOptions)
			if err != nil || sum.Layers != 2 {
				t.Fatalf("push: %+v %v", sum, err)
			}

			if format == "oci" {
				return // layouts are read by go-containerregistry's layout package
			}
			bad := archived
			bad.Tamper = func(n string, data []byte) []byte {
				if n == "layer1" {
					data = append([]byte(nil), data...)
					data[len(data)-3] ^= 0xff
				}
				return data
			}
			p = write(t, bad)
			out = filepath.Join(t.TempDir(), "bad.tar")
			_, err = copyTo(t, p, "oci-archive:"+out+":x", Options{})
			if err == nil || !strings.Contains(err.Error(), "layer 2") {
				t.Fatalf("tampered source: %v", err)
			}
			if _, serr := os.Lstat(out); serr == nil {
				t.Errorf("a refused copy wrote %s", out)
			}
		})
	}
}

// twoPlatforms is a layout holding an index of an amd64 and an arm64
// image, tagged multi.
func twoPlatforms(t *testing.T) (string, v1.Image, v1.Image) {
	t.Helper()
	amd, arm := randomImage(t, 2), randomImage(t, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	dir := filepath.Join(t.TempDir(), "index")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refNameAnnotation: "multi"})); err != nil {
		t.Fatal(err)
	}
	return dir, amd, arm
}

func TestCopyIndex(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir, amd, arm := twoPlatforms(t)
	// The images' documents, listed after the index (buildImageIndex's
	// layout): each pushed as its image's referrer.
	for _, im := range []v1.Image{amd, arm} {
		d, err := partial.Descriptor(im)
		if err != nil {
			t.Fatal(err)
		}
		attachArtifact(t, dir, *d, `{"spdxVersion":"SPDX-2.3","of":"`+digestOf(t, im)+`"}`)
	}
	sum, err := copyTo(t, dir, "docker://"+host+"/multi:1", pushOptions)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Layers != 3 || sum.Uploaded != 3 || sum.Referrers != 2 {
		t.Errorf("summary %+v", sum)
	}
	ref, _ := name.ParseReference(host + "/multi:1")
	for _, im := range []v1.Image{amd, arm} {
		refs, err := remote.Referrers(ref.Context().Digest(digestOf(t, im)))
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := refs.IndexManifest(); len(m.Manifests) != 1 {
			t.Errorf("the registry lists %+v as the referrers of %s, want its one document", m, digestOf(t, im))
		}
	}
	for _, c := range []struct {
		p    v1.Platform
		want v1.Image
	}{{v1.Platform{OS: "linux", Architecture: "amd64"}, amd}, {v1.Platform{OS: "linux", Architecture: "arm64"}, arm}} {
		got, err := remote.Image(ref, remote.WithPlatform(c.p))
		if err != nil {
			t.Fatal(err)
		}
		if digestOf(t, got) != digestOf(t, c.want) {
			t.Errorf("%s: the registry gives %s, want %s", c.p, digestOf(t, got), digestOf(t, c.want))
		}
		// Back from the registry, for that platform.
		out := filepath.Join(t.TempDir(), "pulled.tar")
		opts := pushOptions
		opts.Platform = &c.p
		if _, err := copyTo(t, "docker://"+host+"/multi:1", "docker-archive:"+out+":pulled:1", opts); err != nil {
			t.Fatal(err)
		}
		im, err := outside.Open(out, outside.Selector{})
		if err != nil {
			t.Fatal(err)
		}
		if err := im.Verify(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantLayers, _ := c.want.Layers()
		if len(im.Layers) != len(wantLayers) {
			t.Errorf("%s: pulled %d layers, want %d", c.p, len(im.Layers), len(wantLayers))
		}
		im.Close()
	}
	// A destination of one image takes the platform's.
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	out := filepath.Join(t.TempDir(), "arm.tar")
	if sum, err = copyTo(t, dir, "docker-archive:"+out, Options{Platform: &arm64}); err != nil || sum.Digest != digestOf(t, arm) {
		t.Errorf("docker-archive of the arm64 image: %+v %v", sum, err)
	}
	s390 := v1.Platform{OS: "linux", Architecture: "s390x"}
	if _, err := copyTo(t, dir, "docker-archive:"+out+".2", Options{Platform: &s390}); err == nil || !strings.Contains(err.Error(), "has no image for linux/s390x") {
		t.Errorf("missing platform: %v", err)
	}
	// A layout destination is refused, with what to do instead.
	if _, err := copyTo(t, dir, "oci:"+filepath.Join(t.TempDir(), "copy")+":m", Options{}); err == nil || !strings.Contains(err.Error(), "an image index is copied to a registry") {
		t.Errorf("index to a layout: %v", err)
	}
}

func TestReadLoadReply(t *testing.T) {
	for _, c := range []struct {
		reply, loaded, err string
	}{
		{`{"stream":"Loaded image: app:1\n"}`, "app:1", ""},
		{`{"stream":"Loaded image: localhost/app:1\n"}` + "\n" + `{"stream":"\n"}`, "localhost/app:1", ""},
		{`{"errorDetail":{"message":"no space left"},"error":"no space left"}`, "", "no space left"},
		{`{"stream":"ok"}{`, "", "unreadable reply"},
	} {
		got, err := readLoadReply(strings.NewReader(c.reply))
		if got != c.loaded || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %q, %v; want %q, %q", c.reply, got, err, c.loaded, c.err)
		}
	}
}
