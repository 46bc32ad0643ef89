package image_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/layer"
)

// writeSet plans and writes a layer set of the closure of roots less held.
func writeSet(t *testing.T, out string, plan *image.Plan) *image.LoadedLayerSet {
	t.Helper()
	if _, err := image.WriteLayerSet(context.Background(), out, plan, image.WriteOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	s, err := image.ReadLayerSet(out)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLayerSets writes a declared layer set of the libraries, the
// application's own set (the rest of the closure) and an image linking
// both: the layout reads back whole, blobs are links, the /etc layer is
// last.
func TestLayerSets(t *testing.T) {
	store, out := t.TempDir(), t.TempDir()
	g, app := diskStore(t, store, 3, 'x', "#!/bin/sh\necho v1\n")
	libs := g.Paths()[:3]
	lastLib := libs[0]
	for _, p := range libs {
		if strings.HasSuffix(p, "-lib2") {
			lastLib = p
		}
	}
	plan, err := image.NewLayerSetPlan(g, []string{lastLib}, image.LayerSetOptions{MaxLayers: 2, Compression: "zstd"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deps := writeSet(t, filepath.Join(out, "deps"), plan)
	if len(deps.Layers) != 2 || deps.Layers[0].MediaType != v1.MediaTypeImageLayerZstd {
		t.Fatalf("deps: %+v", deps.Layers)
	}
	data, err := os.ReadFile(filepath.Join(deps.Dir, image.LayerSetFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), store) {
		t.Fatalf("%s names store paths:\n%s", image.LayerSetFile, data)
	}

	plan, err = image.NewLayerSetPlan(g, []string{app}, image.LayerSetOptions{MaxLayers: 5}, []*image.LoadedLayerSet{deps})
	if err != nil {
		t.Fatal(err)
	}
	own := writeSet(t, filepath.Join(out, "own"), plan)
	if len(own.Layers) != 1 || strings.Join(own.Layers[0].Names, ",") != "app" || own.Layers[0].MediaType != v1.MediaTypeImageLayerGzip {
		t.Fatalf("the application's set: %+v", own.Layers)
	}

	base := baseArchive(t, runtime.GOARCH, nil)
	tests := []struct {
		name string
		sets []*image.LoadedLayerSet
		// rest: the layers for the store paths no set holds.
		rest int
		opts image.Options
		err  string
	}{
		{"both", []*image.LoadedLayerSet{deps, own}, 0, image.Options{}, ""},
		{"with a base image", []*image.LoadedLayerSet{deps, own}, 0, image.Options{FromImage: &image.FromImage{Path: base}}, ""},
		{"base beyond maxLayers", []*image.LoadedLayerSet{deps, own}, 0, image.Options{FromImage: &image.FromImage{Path: base}, MaxLayers: 5},
			"with the base image's 2 layers the image would have 6 layers, more than maxLayers 5: give a larger maxLayers, or its layer derivations a smaller one"},
		{"application missing", []*image.LoadedLayerSet{deps}, 0, image.Options{}, "store path " + app + " of the image's closure is in none of its layer derivations"},
		{"the image writes the rest", []*image.LoadedLayerSet{deps}, 5, image.Options{}, ""},
		{"the rest over a base image", []*image.LoadedLayerSet{deps}, 1, image.Options{FromImage: &image.FromImage{Path: base}}, ""},
		{"rest out of range", []*image.LoadedLayerSet{deps}, 126, image.Options{}, "the layers for the rest of the closure must be 0 to 125, got 126"},
		{"perms on a prebuilt path", []*image.LoadedLayerSet{deps}, 5, image.Options{Perms: []layer.Perm{{Path: lastLib, Regex: ".*", Mode: "0755"}}},
			"perms: " + lastLib + " is in layer derivation deps, whose layers are written without perms: give perms only for store paths the image writes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := container.Options{Args: []string{app + "/bin/app"}}
			baseLayers := 0
			if tc.opts.FromImage != nil {
				p, _ := image.Platform(c)
				b, err := image.OpenBase(context.Background(), tc.opts.FromImage, p)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				tc.opts.Base, baseLayers = b, len(b.Layers)
			}
			ip := planWithSets(t, g, c, tc.opts, tc.sets, tc.rest, tc.err)
			if ip == nil {
				return
			}
			dir := filepath.Join(t.TempDir(), "image")
			if _, err := image.Write(context.Background(), dir, ip, image.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			m, img := checkLayout(t, dir)
			if len(m.Layers) != 4+baseLayers || len(img.History) != len(m.Layers) {
				t.Fatalf("%d layers, %d history entries, want %d", len(m.Layers), len(img.History), 4+baseLayers)
			}
			for i := 0; i < baseLayers; i++ {
				if m.Layers[i].Digest != tc.opts.Base.Layers[i].Digest {
					t.Errorf("layer %d is not the base's", i)
				}
			}
			m.Layers, img.History = m.Layers[baseLayers:], img.History[baseLayers:]
			for i, l := range m.Layers[:3] {
				set, k := deps, i
				if i == 2 {
					set, k = own, 0
				}
				// The application's layer is the same whether its own
				// layer derivation or the image writes it.
				if l.Digest != set.Layers[k].Digest || l.MediaType != set.Layers[k].MediaType {
					t.Errorf("layer %d: %s %s, want %s %s", i, l.Digest, l.MediaType, set.Layers[k].Digest, set.Layers[k].MediaType)
				}
				fi, err := os.Lstat(filepath.Join(dir, "blobs", "sha256", l.Digest.Encoded()))
				if written := i == 2 && tc.rest > 0; err != nil || (fi.Mode()&os.ModeSymlink == 0) != written {
					t.Errorf("layer %d's blob: written by the image %v, want %v (%v)", i, err == nil && fi.Mode()&os.ModeSymlink == 0, written, err)
				}
			}
			if c := img.History[3].Comment; !strings.HasPrefix(c, "created for the image") {
				t.Errorf("the last layer is not the /etc layer: %q", c)
			}
			want := "layer derivation own: 1 store path: app"
			if tc.rest > 0 {
				want = "store path app, used by 0 other paths"
			}
			if c := img.History[2].Comment; c != want {
				t.Errorf("history of the application's layer: %q, want %q", c, want)
			}
		})
	}
}

// TestReadLayerSetErrors: what is not a layer derivation's output is named.
func TestReadLayerSetErrors(t *testing.T) {
	dir := t.TempDir()
	blob := strings.Repeat("a", 64)
	write := func(name, data string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(d, "blobs", "sha256"), 0o755); err != nil {
			t.Fatal(err)
		}
		if data != "" {
			if err := os.WriteFile(filepath.Join(d, image.LayerSetFile), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(d, "blobs", "sha256", blob), []byte("12345"), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	record := func(mediaType string, size int) string {
		return `{"layers":[{"mediaType":"` + mediaType + `","digest":"sha256:` + blob + `","size":` + strconv.Itoa(size) + `,"diffID":"sha256:` + blob + `","pathDigests":[],"names":[]}]}`
	}
	tests := []struct {
		name, data, want string
	}{
		{"no layers.json", "", "is not a layer derivation's output (ociTools.buildLayer): it has no layers.json"},
		{"size", record(v1.MediaTypeImageLayerGzip, 4), "blob " + blob + " is 5 bytes, layers.json says 4"},
		{"media type", record("text/plain", 5), `unknown media type "text/plain"`},
		{"unknown key", `{"layers":[],"extra":1}`, "layers.json"},
		{"empty diffID", strings.Replace(record(v1.MediaTypeImageLayerGzip, 5), `"diffID":"sha256:`+blob+`"`, `"diffID":""`, 1),
			`layers.json: layer 0: diffID "" is not sha256: and 64 lowercase hexadecimal digits`},
		{"sha512 digest", strings.Replace(record(v1.MediaTypeImageLayerGzip, 5), `"digest":"sha256:`+blob+`"`, `"digest":"sha512:`+strings.Repeat("a", 128)+`"`, 1),
			`layers.json: layer 0: digest "sha512:` + strings.Repeat("a", 128) + `" is not sha256: and 64 lowercase hexadecimal digits`},
		{"upper-case digest", strings.Replace(record(v1.MediaTypeImageLayerGzip, 5), `"digest":"sha256:`+blob+`"`, `"digest":"sha256:`+strings.Repeat("A", 64)+`"`, 1),
			`layers.json: layer 0: digest "sha256:` + strings.Repeat("A", 64) + `" is not sha256`},
		{"zero size", record(v1.MediaTypeImageLayerGzip, 0), "layers.json: layer 0: size 0 of sha256:" + blob + " is not positive"},
		{"names", strings.Replace(record(v1.MediaTypeImageLayerGzip, 5), `"names":[]`, `"names":["x"]`, 1),
			"layers.json: layer 0: sha256:" + blob + " has 0 pathDigests and 1 names"},
		{"ok", record(v1.MediaTypeImageLayerZstd, 5), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := write(strings.ReplaceAll(tc.name, " ", "-"), tc.data)
			_, err := image.ReadLayerSet(d)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, tc.want)
			}
		})
	}
}
