package image_test

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
)

// TestGoContainerregistryValidates loads images written with each
// compression with go-containerregistry's layout package, as
// `oci-builder copy` does, and runs its validate.Image on them: the
// configuration and manifest are checked against their descriptors, and
// every layer is decompressed and checked against its digest, size and
// DiffID. validate.Image reads layers with compress/gzip only (a zstd
// layer fails with "gzip: invalid header"), so zstd images get its other
// checks (validate.Fast) and their layers are checked here the same way,
// decompressed by the library's Layer.Uncompressed, which reads zstd (a
// layer spanning several frames included).
func TestGoContainerregistryValidates(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 24 MiB layer")
	}
	g, app := diskStore(t, filepath.Join(t.TempDir(), "store"), 3, 'v', "v1")
	// The application gets 24 MiB of half compressible bytes: three zstd
	// frames, 24 gzip blocks.
	rng := rand.New(rand.NewSource(5))
	var text strings.Builder
	for text.Len() < 12<<20 {
		text.WriteString([]string{"layer ", "frame ", "block\n", "digest "}[rng.Intn(4)])
	}
	noise := make([]byte, 12<<20)
	rng.Read(noise)
	if err := os.WriteFile(app+"/bin/data", append([]byte(text.String()), noise...), 0o444); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		compression string
		mediaType   types.MediaType
		opts        []validate.Option
	}{
		{"gzip", types.OCILayer, nil},
		{"zstd", types.OCILayerZStd, []validate.Option{validate.Fast}},
	} {
		t.Run(tc.compression, func(t *testing.T) {
			plan, err := image.NewPlan(g, container.Options{Args: []string{app + "/bin/app"}}, image.Options{Compression: tc.compression, Tag: "v1", Created: "2024-05-01T10:00:00Z"}, bundle.HostStore{})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "image")
			res, err := image.Write(context.Background(), out, plan, image.WriteOptions{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			idx, err := layout.ImageIndexFromPath(out)
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Manifests) != 4 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1" {
				t.Fatalf("index %+v", im)
			}
			h, err := ggcr.NewHash(res.Manifest.Digest.String())
			if err != nil {
				t.Fatal(err)
			}
			img, err := idx.Image(h)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img, tc.opts...); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			checkLayers(t, img)
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.Annotations["org.opencontainers.image.created"] != "2024-05-01T10:00:00Z" {
				t.Fatalf("manifest annotations %v", m.Annotations)
			}
			big := false
			for _, l := range m.Layers {
				if l.MediaType != tc.mediaType {
					t.Fatalf("layer %s has media type %s, want %s", l.Digest, l.MediaType, tc.mediaType)
				}
				big = big || l.Size > 8<<20
			}
			if !big {
				t.Fatalf("no layer spans several blocks: %+v", m.Layers)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.History) != len(m.Layers) || cfg.History[len(cfg.History)-1].Comment != "store path app, used by 0 other paths" {
				t.Fatalf("history %+v", cfg.History)
			}
		})
	}
}

// checkLayers checks each layer of img as validate.Image does: the digest
// and size of its compressed bytes, and the DiffID of its decompressed
// ones.
func checkLayers(t *testing.T, img ggcr.Image) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		t.Fatalf("%d layers, %d DiffIDs", len(layers), len(cfg.RootFS.DiffIDs))
	}
	for i, l := range layers {
		want, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		wantSize, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		got, size, err := ggcr.SHA256(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != want || size != wantSize {
			t.Fatalf("layer %d: %s, %d bytes; the manifest says %s, %d bytes", i, got, size, want, wantSize)
		}
		rc, err = l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		diffID, _, err := ggcr.SHA256(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		if diffID != cfg.RootFS.DiffIDs[i] {
			t.Fatalf("layer %d decompresses to %s, DiffID %s", i, diffID, cfg.RootFS.DiffIDs[i])
		}
	}
}
