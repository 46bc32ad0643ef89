package image_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/sbom"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// diskStore makes, in the store directory dir, n library paths, each
// referring to the previous one, and an application (whose hash is made of
// appHash) referring to the last, and returns the graph and the
// application's path. The libraries are the same in every call.
func diskStore(t *testing.T, dir string, n int, appHash byte, appText string) (*store.Graph, string) {
	t.Helper()
	var infos []store.PathInfo
	prev := ""
	hashChars := "0123456789abcdfghijklmnpqrsvwxyz"
	for i := 0; i < n; i++ {
		p := dir + "/" + strings.Repeat(string(hashChars[i%32]), 31) + string(hashChars[i/32]) + fmt.Sprintf("-lib%d", i)
		if _, err := os.Stat(p); err != nil {
			if err := os.MkdirAll(p+"/lib", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p+"/lib/data", []byte(strings.Repeat(fmt.Sprintf("lib %d refers to %s\n", i, prev), 1000)), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		info := store.PathInfo{Path: p, NarSize: uint64(1000 * (i + 1)), References: []string{}}
		if prev != "" {
			info.References = append(info.References, prev)
		}
		infos = append(infos, info)
		prev = p
	}
	app := dir + "/" + strings.Repeat(string(appHash), 32) + "-app"
	if err := os.MkdirAll(app+"/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(app+"/bin/app", []byte(appText), 0o555); err != nil {
		t.Fatal(err)
	}
	infos = append(infos, store.PathInfo{Path: app, References: []string{prev}})
	g, err := store.NewGraph(infos, "")
	if err != nil {
		t.Fatal(err)
	}
	return g, app
}

func readJSON(t *testing.T, p string, v any) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return data
}

// checkLayout reads an image layout back and checks it against itself: every
// blob's digest and size, the diff IDs, the tags; it returns the manifest.
func checkLayout(t *testing.T, dir string) (v1.Manifest, v1.Image) {
	t.Helper()
	var layout v1.ImageLayout
	readJSON(t, filepath.Join(dir, "oci-layout"), &layout)
	if layout.Version != "1.0.0" {
		t.Fatalf("oci-layout %+v", layout)
	}
	var index v1.Index
	readJSON(t, filepath.Join(dir, "index.json"), &index)
	// The image, then its three documents.
	if index.SchemaVersion != 2 || index.MediaType != v1.MediaTypeImageIndex || len(index.Manifests) != 4 {
		t.Fatalf("index %+v", index)
	}
	blob := func(d v1.Descriptor) string {
		t.Helper()
		p := filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded())
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		h := digest.SHA256.Digester()
		n, err := io.Copy(h.Hash(), f)
		if err != nil {
			t.Fatal(err)
		}
		if h.Digest() != d.Digest || n != d.Size {
			t.Fatalf("blob %s: digest %s, size %d, descriptor size %d", d.Digest, h.Digest(), n, d.Size)
		}
		return p
	}
	var manifest v1.Manifest
	readJSON(t, blob(index.Manifests[0]), &manifest)
	// Each document is an artifact whose subject is the image manifest,
	// its one layer the document, as its index entry says.
	for i, want := range []string{sbom.CycloneDXType, sbom.SPDXType, sbom.InTotoType} {
		d := index.Manifests[i+1]
		var a v1.Manifest
		readJSON(t, blob(d), &a)
		if d.ArtifactType != want || a.ArtifactType != want || a.Subject == nil || a.Subject.Digest != index.Manifests[0].Digest ||
			a.Subject.Size != index.Manifests[0].Size || a.Config.Digest != v1.DescriptorEmptyJSON.Digest || len(a.Layers) != 1 || a.Layers[0].MediaType != want {
			t.Fatalf("referrer %d: %+v, manifest %+v", i, d, a)
		}
		blob(a.Config)
		var doc map[string]any
		readJSON(t, blob(a.Layers[0]), &doc)
	}
	var img v1.Image
	readJSON(t, blob(manifest.Config), &img)
	if manifest.Config.MediaType != v1.MediaTypeImageConfig || len(manifest.Layers) != len(img.RootFS.DiffIDs) || len(img.History) != len(manifest.Layers) {
		t.Fatalf("manifest %+v, config %+v", manifest, img)
	}
	for i, l := range manifest.Layers {
		f, err := os.Open(blob(l))
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader
		switch l.MediaType {
		case v1.MediaTypeImageLayerGzip:
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		case v1.MediaTypeImageLayerZstd:
			zr, err := zstd.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			r = zr
		case v1.MediaTypeImageLayer:
			// A base image's layer, copied as it is.
			r = f
		default:
			t.Fatalf("layer media type %s", l.MediaType)
		}
		h := digest.SHA256.Digester()
		if _, err := io.Copy(h.Hash(), r); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if h.Digest() != img.RootFS.DiffIDs[i] {
			t.Fatalf("layer %d: diff ID %s, uncompressed %s", i, img.RootFS.DiffIDs[i], h.Digest())
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	// The layers, configuration and manifest; the empty configuration and
	// a document and a manifest per document.
	if len(entries) != len(manifest.Layers)+2+1+2*3 {
		t.Fatalf("%d blobs for %d layers and 3 documents", len(entries), len(manifest.Layers))
	}
	return manifest, img
}

func TestWriteLayout(t *testing.T) {
	g, app := diskStore(t, filepath.Join(t.TempDir(), "store"), 5, 'x', "v1")
	for _, compression := range []string{"gzip", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			plan, err := image.NewPlan(g, container.Options{Args: []string{app + "/bin/app", "--flag"}}, image.Options{Compression: compression, Tag: "v1"}, bundle.HostStore{})
			if err != nil {
				t.Fatal(err)
			}
			var digests []digest.Digest
			for _, workers := range []int{1, 2, 7} {
				out := filepath.Join(t.TempDir(), "image")
				res, err := image.Write(context.Background(), out, plan, image.WriteOptions{Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				manifest, img := checkLayout(t, out)
				if len(manifest.Layers) != 7 || img.Config.Cmd[0] != "--flag" {
					t.Fatalf("manifest %+v config %+v", manifest, img)
				}
				var index v1.Index
				readJSON(t, filepath.Join(out, "index.json"), &index)
				if index.Manifests[0].Annotations[v1.AnnotationRefName] != "v1" || index.Manifests[0].Platform.OS != "linux" {
					t.Fatalf("index %+v", index)
				}
				digests = append(digests, res.Manifest.Digest)
				// The base layer is the /etc layer; the next holds the
				// most popular path, lib0, under the store directory's
				// parents.
				checkTar(t, filepath.Join(out, "blobs", "sha256", manifest.Layers[0].Digest.Encoded()), compression, "etc/", "passwd")
				first := strings.Split(strings.TrimPrefix(g.StoreDir(), "/"), "/")[0] + "/"
				checkTar(t, filepath.Join(out, "blobs", "sha256", manifest.Layers[1].Digest.Encoded()), compression, first, "lib0")
			}
			if digests[0] != digests[1] || digests[1] != digests[2] {
				t.Fatalf("manifest digests differ with the number of workers: %v", digests)
			}
		})
	}
}

// checkTar checks that a layer's tar starts with the store directory's
// parents and holds the store path named name.
func checkTar(t *testing.T, p, compression, first, name string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader
	if compression == "gzip" {
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	} else {
		zr, err := zstd.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil || h.Name != first || h.Mode != 0o755 || h.Typeflag != tar.TypeDir {
		t.Fatalf("first entry %+v, %v", h, err)
	}
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found = found || strings.HasSuffix(h.Name, "-"+name+"/") || strings.HasSuffix(h.Name, "/"+name)
	}
	if !found {
		t.Fatalf("%s not in the layer", name)
	}
}

// TestNewApplicationSameDependencies: an application changed on unchanged
// dependencies gives a new image whose other layers are the same blobs.
func TestNewApplicationSameDependencies(t *testing.T) {
	for _, maxLayers := range []int{100, 3} {
		t.Run(fmt.Sprintf("maxLayers=%d", maxLayers), func(t *testing.T) {
			var layers [][]v1.Descriptor
			dir := filepath.Join(t.TempDir(), "store")
			for i, text := range []string{"version 1", "version 2"} {
				g, app := diskStore(t, dir, 5, "xy"[i], text)
				plan, err := image.NewPlan(g, container.Options{Args: []string{app + "/bin/app"}}, image.Options{MaxLayers: maxLayers}, bundle.HostStore{})
				if err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(t.TempDir(), "image")
				if _, err := image.Write(context.Background(), out, plan, image.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
				m, _ := checkLayout(t, out)
				layers = append(layers, m.Layers)
			}
			a, b := layers[0], layers[1]
			if want := map[int]int{100: 7, 3: 3}[maxLayers]; len(a) != want || len(b) != want {
				t.Fatalf("%d and %d layers", len(a), len(b))
			}
			for i := range a[:len(a)-1] {
				if a[i].Digest != b[i].Digest {
					t.Errorf("dependency layer %d changed", i)
				}
			}
			if a[len(a)-1].Digest == b[len(b)-1].Digest {
				t.Error("the application's layer did not change")
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	g, app := diskStore(t, filepath.Join(t.TempDir(), "store"), 3, 'x', "v1")
	plan, err := image.NewPlan(g, container.Options{Args: []string{app + "/bin/app"}}, image.Options{}, bundle.HostStore{})
	if err != nil {
		t.Fatal(err)
	}
	existing := t.TempDir()
	if _, err := image.Write(context.Background(), existing, plan, image.WriteOptions{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("error %v", err)
	}

	// A store path that vanished: the error names it and no index.json
	// claims the layout is complete.
	lib1 := plan.Layers[2].Paths[0].Path
	if err := os.RemoveAll(lib1); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image")
	_, err = image.Write(context.Background(), out, plan, image.WriteOptions{Workers: 2})
	if err == nil || !strings.Contains(err.Error(), "layer 3 ("+lib1+"): read "+lib1+": no such file or directory") {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "index.json")); !os.IsNotExist(err) {
		t.Fatalf("index.json written: %v", err)
	}
	tmp, _ := filepath.Glob(filepath.Join(out, "blobs", "sha256", ".layer-*"))
	if len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := image.Write(ctx, filepath.Join(t.TempDir(), "image"), plan, image.WriteOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
}
