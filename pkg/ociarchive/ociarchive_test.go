package ociarchive

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// layout writes an image layout with one image of one layer.
func layout(t *testing.T, layer string) (string, v1.Descriptor) {
	t.Helper()
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(data []byte) v1.Descriptor {
		d := digest.FromBytes(data)
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return v1.Descriptor{Digest: d, Size: int64(len(data))}
	}
	l := put([]byte(layer))
	l.MediaType = v1.MediaTypeImageLayer
	config, _ := json.Marshal(v1.Image{RootFS: v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{l.Digest}}})
	c := put(config)
	c.MediaType = v1.MediaTypeImageConfig
	m, _ := json.Marshal(v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest, Config: c, Layers: []v1.Descriptor{l}})
	md := put(m)
	md.MediaType = v1.MediaTypeImageManifest
	return dir, md
}

// TestWriteOpenMerge: an archive written from a layout has the layout's
// blobs, index.json with containerd's full name, manifest.json and
// repositories; the same input gives the same bytes; reading it back and
// merging two archives keeps every image and each blob once.
func TestWriteOpenMerge(t *testing.T) {
	dirA, a := layout(t, "layer a")
	dirB, b := layout(t, "layer b")
	var first, second bytes.Buffer
	if err := Write(&first, Layout(dirA), []Image{{Manifest: a, RepoTag: "app:v1"}}); err != nil {
		t.Fatal(err)
	}
	Write(&second, Layout(dirA), []Image{{Manifest: a, RepoTag: "app:v1"}})
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatal("two writes of the same image differ")
	}
	files := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(files, first.Bytes(), 0o444)
	bFile := filepath.Join(t.TempDir(), "b.tar")
	var bb bytes.Buffer
	if err := Write(&bb, Layout(dirB), []Image{{Manifest: b, RepoTag: "registry.example.org/team/b:v2"}}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bFile, bb.Bytes(), 0o444)

	arA, err := Open(files)
	if err != nil {
		t.Fatal(err)
	}
	defer arA.Close()
	idx, err := arA.Index()
	if err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Annotations[AnnotationImageName] != "docker.io/library/app:v1" || idx.Manifests[0].Annotations[v1.AnnotationRefName] != "v1" {
		t.Fatalf("index.json: %+v %v", idx, err)
	}
	for _, f := range []string{"manifest.json", "repositories", "oci-layout"} {
		if !arA.Has(f) {
			t.Errorf("the archive has no %s", f)
		}
	}
	arB, err := Open(bFile)
	if err != nil {
		t.Fatal(err)
	}
	defer arB.Close()
	var images []Image
	for _, ar := range []*Archive{arA, arB} {
		imgs, err := ar.Images()
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, imgs...)
	}
	var merged bytes.Buffer
	if err := Write(&merged, Archives{arA, arB}, images); err != nil {
		t.Fatal(err)
	}
	mFile := filepath.Join(t.TempDir(), "m.tar")
	os.WriteFile(mFile, merged.Bytes(), 0o444)
	m, err := Open(mFile)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.Images()
	if err != nil || len(got) != 2 || got[0].RepoTag != "app:v1" || got[1].RepoTag != "registry.example.org/team/b:v2" {
		t.Fatalf("merged images %+v, %v", got, err)
	}
	idx, _ = m.Index()
	if idx.Manifests[1].Annotations[AnnotationImageName] != "registry.example.org/team/b:v2" {
		t.Fatalf("merged index %+v", idx.Manifests)
	}
}

// TestWriteChecksBlobs: a blob whose bytes are not its digest fails the
// write, naming it.
func TestWriteChecksBlobs(t *testing.T) {
	dir, a := layout(t, "layer a")
	var m v1.Manifest
	data, _ := os.ReadFile(filepath.Join(dir, "blobs", "sha256", a.Digest.Encoded()))
	json.Unmarshal(data, &m)
	os.WriteFile(filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest.Encoded()), []byte("layer b"), 0o644)
	err := Write(&bytes.Buffer{}, Layout(dir), []Image{{Manifest: a, RepoTag: "app:v1"}})
	if err == nil || !strings.Contains(err.Error(), m.Layers[0].Digest.String()) {
		t.Fatalf("changed blob: %v", err)
	}
}

func TestOpenRefusesCompressed(t *testing.T) {
	f := filepath.Join(t.TempDir(), "image.tar.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("tar"))
	zw.Close()
	os.WriteFile(f, buf.Bytes(), 0o644)
	if _, err := Open(f); err == nil || !strings.Contains(err.Error(), "gzip-compressed archive: decompress it first") {
		t.Fatalf("gzip archive: %v", err)
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"app":                           "docker.io/library/app",
		"team/app":                      "docker.io/team/app",
		"registry-1.docker.io/app":      "registry-1.docker.io/app",
		"localhost/app":                 "localhost/app",
		"registry.example.org:5000/t/a": "registry.example.org:5000/t/a",
	} {
		if got := FullName(in); got != want {
			t.Errorf("FullName(%q) = %q, want %q", in, got, want)
		}
	}
	if r, tag, err := SplitRepoTag("localhost:5000/app:v1"); err != nil || r != "localhost:5000/app" || tag != "v1" {
		t.Errorf("SplitRepoTag: %q %q %v", r, tag, err)
	}
	if _, _, err := SplitRepoTag("localhost:5000/app"); err == nil {
		t.Error("SplitRepoTag without a tag: no error")
	}
}
