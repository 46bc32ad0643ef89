package index_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
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

// attach adds to the layout dir a document of artifactType whose subject
// is the layout's image, as oci-builder attaches its SBOMs, and returns
// the artifact manifest's descriptor.
func attach(t *testing.T, dir, artifactType, doc string) v1.Descriptor {
	t.Helper()
	blob := func(data []byte) digest.Digest {
		d := digest.FromBytes(data)
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	subject := idx.Manifests[0]
	subject.Annotations = nil
	empty := []byte("{}")
	m, err := json.Marshal(v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       v1.Descriptor{MediaType: v1.MediaTypeEmptyJSON, Digest: blob(empty), Size: int64(len(empty))},
		Layers:       []v1.Descriptor{{MediaType: artifactType, Digest: blob([]byte(doc)), Size: int64(len(doc))}},
		Subject:      &subject,
	})
	if err != nil {
		t.Fatal(err)
	}
	d := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, ArtifactType: artifactType, Digest: blob(m), Size: int64(len(m))}
	idx.Manifests = append(idx.Manifests, d)
	if raw, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestWriteDocuments: the images' documents come along into the index's
// layout, listed after the index, every blob there; another image's
// documents in the same file are left out, and a damaged one fails.
func TestWriteDocuments(t *testing.T) {
	amdDir := outsidetest.Writers["oci"](t, image("amd64"))
	cdx := attach(t, amdDir, "application/vnd.cyclonedx+json", `{"bomFormat":"CycloneDX"}`)
	armDir := outsidetest.Writers["oci"](t, image("arm64"))
	spdx := attach(t, armDir, "application/spdx+json", `{"spdxVersion":"SPDX-2.3"}`)
	amd, arm := open(t, amdDir, nil), open(t, armDir, nil)
	out := filepath.Join(t.TempDir(), "index")
	res, err := index.Write(context.Background(), out, "multi", []index.Entry{{Image: amd}, {Image: arm}})
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.Index
	raw, err := os.ReadFile(filepath.Join(out, "index.json"))
	if err != nil || json.Unmarshal(raw, &idx) != nil {
		t.Fatalf("index.json: %v %s", err, raw)
	}
	if len(idx.Manifests) != 3 || idx.Manifests[0].Digest != res.Index.Digest ||
		idx.Manifests[1].Digest != cdx.Digest || idx.Manifests[2].Digest != spdx.Digest ||
		idx.Manifests[1].Annotations[v1.AnnotationRefName] != "" {
		t.Fatalf("index.json lists %+v, want the index, then %s and %s", idx.Manifests, cdx.Digest, spdx.Digest)
	}
	// Every blob of the documents is in the new layout, and each
	// document's subject is its image's manifest in the index.
	for i, d := range idx.Manifests[1:] {
		var m v1.Manifest
		data, err := os.ReadFile(filepath.Join(out, "blobs", "sha256", d.Digest.Encoded()))
		if err != nil || json.Unmarshal(data, &m) != nil {
			t.Fatalf("artifact %s: %v", d.Digest, err)
		}
		for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			if _, err := os.Stat(filepath.Join(out, "blobs", "sha256", b.Digest.Encoded())); err != nil {
				t.Errorf("artifact %s: blob %s: %v", d.Digest, b.Digest, err)
			}
		}
		if m.Subject.Digest != res.Manifests[i].Digest {
			t.Errorf("artifact %s: subject %s, want %s", d.Digest, m.Subject.Digest, res.Manifests[i].Digest)
		}
	}

	// Another image's documents are not taken: the arm64 image's artifact
	// listed beside the amd64 image names the arm64 image.
	raw, _ = os.ReadFile(filepath.Join(armDir, "index.json"))
	var armIdx v1.Index
	json.Unmarshal(raw, &armIdx)
	raw, _ = os.ReadFile(filepath.Join(amdDir, "index.json"))
	var amdIdx v1.Index
	json.Unmarshal(raw, &amdIdx)
	foreign := armIdx.Manifests[len(armIdx.Manifests)-1]
	for _, b := range []string{foreign.Digest.Encoded()} {
		data, _ := os.ReadFile(filepath.Join(armDir, "blobs", "sha256", b))
		os.WriteFile(filepath.Join(amdDir, "blobs", "sha256", b), data, 0o644)
	}
	amdIdx.Manifests = append(amdIdx.Manifests, foreign)
	raw, _ = json.Marshal(amdIdx)
	os.WriteFile(filepath.Join(amdDir, "index.json"), raw, 0o644)
	docs, err := open(t, amdDir, nil).Documents()
	if err != nil || len(docs) != 1 || docs[0].Descriptor.Digest != cdx.Digest {
		t.Errorf("documents of the amd64 image with the arm64 one's listed too: %v %+v", err, docs)
	}

	// A damaged document fails the index, naming it.
	doc := filepath.Join(amdDir, "blobs", "sha256", digest.FromString(`{"bomFormat":"CycloneDX"}`).Encoded())
	if err := os.WriteFile(doc, []byte(`{"bomFormat":"CycloneDx"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = index.Write(context.Background(), filepath.Join(t.TempDir(), "index"), "multi", []index.Entry{{Image: open(t, amdDir, nil)}})
	if err == nil || !strings.Contains(err.Error(), "artifact "+cdx.Digest.String()) || !strings.Contains(err.Error(), "has the digest") {
		t.Errorf("a damaged document: %v", err)
	}
}
