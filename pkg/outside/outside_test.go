package outside

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// entry is a file of a test layer: a regular file with data, or a hard
// link when link is set.
type entry struct {
	name, data, link string
}

// makeTar is the tar of entries.
func makeTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.link != "" {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, e.link, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.link == "" {
			tw.Write([]byte(e.data))
		}
	}
	tw.Close()
	return b.Bytes()
}

func compress(t *testing.T, data []byte, c compression) []byte {
	t.Helper()
	var b bytes.Buffer
	switch c {
	case compressionGzip:
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
	case compressionZstd:
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		zw.Close()
	default:
		return data
	}
	return b.Bytes()
}

// testImage is an image to write in every format.
type testImage struct {
	repoTag string
	layers  [][]entry
	comp    compression
	env     []string
	// tamper, when set, changes the blobs before they are written (by
	// name: "config", "layer0", ...).
	tamper func(name string, data []byte) []byte
}

type built struct {
	config  []byte
	layers  [][]byte // blobs
	diffIDs []digest.Digest
}

func (ti testImage) build(t *testing.T) built {
	t.Helper()
	var b built
	for _, l := range ti.layers {
		tarData := makeTar(t, l)
		b.diffIDs = append(b.diffIDs, digest.FromBytes(tarData))
		b.layers = append(b.layers, compress(t, tarData, ti.comp))
	}
	cfg := v1.Image{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Config: v1.ImageConfig{Env: ti.env},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: b.diffIDs}}
	b.config, _ = json.Marshal(cfg)
	return b
}

func (ti testImage) blob(name string, data []byte) []byte {
	if ti.tamper != nil {
		return ti.tamper(name, data)
	}
	return data
}

// writeTarFile writes files (name -> data, in the order of names) as a tar.
func writeTarFile(t *testing.T, file string, names []string, files map[string][]byte) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write(files[n])
	}
	tw.Close()
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dockerArchive writes images as `docker save` does.
func dockerArchive(t *testing.T, file string, images ...testImage) {
	t.Helper()
	files := map[string][]byte{}
	var names []string
	var manifest []dockerManifest
	for _, ti := range images {
		b := ti.build(t)
		cfgName := digest.FromBytes(b.config).Encoded() + ".json"
		files[cfgName] = ti.blob("config", b.config)
		names = append(names, cfgName)
		m := dockerManifest{Config: cfgName, RepoTags: []string{ti.repoTag}}
		for i, l := range b.layers {
			n := b.diffIDs[i].Encoded() + "/layer.tar"
			files[n] = ti.blob("layer"+string(rune('0'+i)), l)
			names = append(names, n)
			m.Layers = append(m.Layers, n)
		}
		manifest = append(manifest, m)
	}
	files["manifest.json"], _ = json.Marshal(manifest)
	names = append(names, "manifest.json")
	writeTarFile(t, file, names, files)
}

// ociLayout writes images into the layout directory dir, the tag of each
// its repoTag's.
func ociLayout(t *testing.T, dir string, images ...testImage) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	os.MkdirAll(blobs, 0o755)
	put := func(data []byte) digest.Digest {
		d := digest.FromBytes(data)
		os.WriteFile(filepath.Join(blobs, d.Encoded()), data, 0o644)
		return d
	}
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	for _, ti := range images {
		b := ti.build(t)
		// A tampered configuration is described as it is: a consistent
		// layout of a bad configuration.
		cfg := ti.blob("config", b.config)
		m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
			Config: v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: put(cfg), Size: int64(len(cfg))}}
		mt, _ := mediaTypeOf(ti.comp)
		for i, l := range b.layers {
			m.Layers = append(m.Layers, v1.Descriptor{MediaType: mt, Digest: digest.FromBytes(l), Size: int64(len(l))})
			data := ti.blob("layer"+string(rune('0'+i)), l)
			os.WriteFile(filepath.Join(blobs, digest.FromBytes(l).Encoded()), data, 0o644)
		}
		raw, _ := json.Marshal(m)
		_, tag := splitRepoTag(ti.repoTag)
		idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: put(raw), Size: int64(len(raw)),
			Annotations: map[string]string{v1.AnnotationRefName: tag}})
	}
	raw, _ := json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// ociArchive writes the layout of images as a tar.
func ociArchive(t *testing.T, file string, images ...testImage) {
	t.Helper()
	dir := t.TempDir()
	ociLayout(t, dir, images...)
	files := map[string][]byte{}
	var names []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files[rel], _ = os.ReadFile(p)
			names = append(names, rel)
		}
		return nil
	})
	writeTarFile(t, file, names, files)
}

var base = testImage{
	repoTag: "example.org:5000/base:1.0",
	layers: [][]entry{
		{{name: "etc/passwd", data: "root:x:0:0::/root:/bin/sh\n"}, {name: "bin/sh", data: "#!"}},
		{{name: "/usr/share/doc", data: "doc"}, {name: "bin/.wh.sh"}, {name: "bin/sh2", link: "/usr/share/doc"}},
	},
	comp: compressionGzip,
	env:  []string{"PATH=/bin", "LANG=C"},
}

// writers write an image in each format, returning the path to open.
var writers = map[string]func(t *testing.T, images ...testImage) string{
	"docker-archive": func(t *testing.T, images ...testImage) string {
		f := filepath.Join(t.TempDir(), "image.tar")
		dockerArchive(t, f, images...)
		return f
	},
	"docker-archive.gz": func(t *testing.T, images ...testImage) string {
		f := filepath.Join(t.TempDir(), "image.tar")
		dockerArchive(t, f, images...)
		data, _ := os.ReadFile(f)
		os.WriteFile(f+".gz", compress(t, data, compressionGzip), 0o644)
		return f + ".gz"
	},
	"oci": func(t *testing.T, images ...testImage) string {
		d := t.TempDir()
		ociLayout(t, d, images...)
		return d
	},
	"oci-archive": func(t *testing.T, images ...testImage) string {
		f := filepath.Join(t.TempDir(), "image.tar")
		ociArchive(t, f, images...)
		return f
	},
}

func TestOpenVerifyEveryFormat(t *testing.T) {
	for format, write := range writers {
		for _, comp := range []compression{compressionNone, compressionGzip, compressionZstd} {
			t.Run(format+"/"+comp.String(), func(t *testing.T) {
				ti := base
				ti.comp = comp
				p := write(t, ti)
				im, err := Open(p, Selector{})
				if err != nil {
					t.Fatal(err)
				}
				defer im.Close()
				if err := im.Verify(context.Background()); err != nil {
					t.Fatal(err)
				}
				b := ti.build(t)
				for i, l := range im.Layers {
					if l.Digest != digest.FromBytes(b.layers[i]) || l.DiffID != b.diffIDs[i] || l.Size != int64(len(b.layers[i])) {
						t.Errorf("layer %d: %+v", i, l)
					}
					mt, _ := mediaTypeOf(comp)
					if l.MediaType != mt {
						t.Errorf("layer %d: media type %s, want %s", i, l.MediaType, mt)
					}
				}
				if im.RepoTag != "example.org:5000/base:1.0" && im.RepoTag != "1.0" {
					t.Errorf("RepoTag %q", im.RepoTag)
				}
				for p, want := range map[string]bool{"/etc/passwd": true, "/bin/sh": false, "/bin/sh2": true, "/usr/share/doc": true, "/usr/share": false} {
					if im.Has(p) != want {
						t.Errorf("Has(%s) = %v, want %v", p, !want, want)
					}
				}
				if got := strings.Join(im.Config.Config.Env, " "); got != "PATH=/bin LANG=C" {
					t.Errorf("env %q", got)
				}
				var buf bytes.Buffer
				if err := im.CopyLayer(1, &buf); err != nil || !bytes.Equal(buf.Bytes(), b.layers[1]) {
					t.Errorf("CopyLayer: %v (%d bytes)", err, buf.Len())
				}
				v, err := im.V1()
				if err != nil {
					t.Fatal(err)
				}
				d, err := v.Digest()
				if err != nil || d.String() != im.Digest().String() {
					t.Errorf("V1 digest %v %v, want %s", d, err, im.Digest())
				}
			})
		}
	}
}

func TestSelect(t *testing.T) {
	other := base
	other.repoTag = "example.org:5000/other:2.0"
	other.layers = [][]entry{{{name: "other", data: "x"}}}
	for format, write := range writers {
		p := write(t, base, other)
		for _, c := range []struct {
			sel    Selector
			layers int
			err    string
		}{
			{Selector{}, 2, ""},
			{Selector{Name: "example.org:5000/other", Tag: "2.0"}, 1, ""},
			{Selector{Tag: "2.0"}, 1, ""},
			{Selector{Tag: "1.0"}, 2, ""},
			{Selector{Tag: "3.0"}, 0, "no image named :3.0"},
		} {
			if format == "oci" || format == "oci-archive" {
				if c.sel.Name != "" {
					continue // the test layouts carry tags only
				}
			}
			im, err := Open(p, c.sel)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("%s %v: error %v, want %q", format, c.sel, err, c.err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s %v: %v", format, c.sel, err)
				continue
			}
			if len(im.Layers) != c.layers {
				t.Errorf("%s %v: %d layers, want %d", format, c.sel, len(im.Layers), c.layers)
			}
			if c.sel == (Selector{}) && len(im.Warnings) != 1 {
				t.Errorf("%s: no warning about the first image taken: %v", format, im.Warnings)
			}
			im.Close()
		}
	}
}

func flip(data []byte) []byte {
	out := append([]byte(nil), data...)
	out[len(out)-5] ^= 0xff
	return out
}

func TestMalformed(t *testing.T) {
	for _, c := range []struct {
		name    string
		formats string // the writers the case applies to, or "" for all
		image   testImage
		remove  string // a blob to remove, OCI layouts only
		err     string
	}{
		{name: "flipped layer byte", formats: "oci oci-archive", image: withTamper(base, "layer1", flip), err: "has the digest"},
		{name: "flipped layer byte", formats: "docker-archive docker-archive.gz", image: withTamper(base, "layer1", flip), err: "layer 2"},
		{name: "config not JSON", image: withTamper(base, "config", func([]byte) []byte { return []byte("{not json") }), err: "is not valid JSON"},
		{name: "dot-dot entry", image: withLayers(base, []entry{{name: "a/../../etc/x", data: "x"}}), err: `entry "a/../../etc/x" leaves the root filesystem`},
		{name: "absolute dot-dot entry", image: withLayers(base, []entry{{name: "/../x", data: "x"}}), err: "leaves the root"},
		{name: "hard link out", image: withLayers(base, []entry{{name: "x", link: "../../etc/shadow"}}), err: `hard link "x": target`},
		{name: "missing blob", formats: "oci", image: base, remove: "layer0", err: "is missing"},
	} {
		for format, write := range writers {
			if c.formats != "" && !strings.Contains(" "+c.formats+" ", " "+format+" ") {
				continue
			}
			t.Run(c.name+"/"+format, func(t *testing.T) {
				p := write(t, c.image)
				if c.remove != "" {
					b := c.image.build(t)
					os.Remove(filepath.Join(p, "blobs", "sha256", digest.FromBytes(b.layers[0]).Encoded()))
				}
				im, err := Open(p, Selector{})
				if err == nil {
					err = im.Verify(context.Background())
					im.Close()
				}
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), p) {
					t.Errorf("error %q is not one line naming %s", err, p)
				}
			})
		}
	}
}

func withTamper(ti testImage, name string, f func([]byte) []byte) testImage {
	ti.tamper = func(n string, data []byte) []byte {
		if n == name {
			return f(data)
		}
		return data
	}
	return ti
}

func withLayers(ti testImage, layers ...[]entry) testImage {
	ti.layers = append(append([][]entry(nil), ti.layers...), layers...)
	return ti
}

func TestIndexPlatform(t *testing.T) {
	dir := t.TempDir()
	ociLayout(t, dir, base)
	// Wrap the image in an index of two platforms, both the same image.
	raw, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	var idx v1.Index
	json.Unmarshal(raw, &idx)
	m := idx.Manifests[0]
	m.Annotations = nil
	amd, arm := m, m
	amd.Platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	inner, _ := json.Marshal(v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{amd, arm}})
	d := digest.FromBytes(inner)
	os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), inner, 0o644)
	idx.Manifests = []v1.Descriptor{{MediaType: v1.MediaTypeImageIndex, Digest: d, Size: int64(len(inner)), Annotations: map[string]string{v1.AnnotationRefName: "multi"}}}
	raw, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644)
	for _, c := range []struct {
		p   *v1.Platform
		err string
	}{
		{&v1.Platform{OS: "linux", Architecture: "amd64"}, ""},
		{&v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, ""},
		{&v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, "has no image for linux/arm/v6 (it has linux/amd64, linux/arm/v7)"},
		{nil, "is an index of several platforms"},
	} {
		im, err := Open(dir, Selector{Platform: c.p})
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%v: error %v, want %q", c.p, err, c.err)
		}
		if im != nil {
			im.Close()
		}
	}
}

func TestPlatformMatches(t *testing.T) {
	for _, c := range []struct {
		want, have v1.Platform
		ok         bool
	}{
		{v1.Platform{OS: "linux", Architecture: "arm64"}, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, true},
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, v1.Platform{OS: "linux", Architecture: "arm64"}, true},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, false},
		{v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm64"}, false},
	} {
		if PlatformMatches(c.want, c.have) != c.ok {
			t.Errorf("PlatformMatches(%v, %v) != %v", c.want, c.have, c.ok)
		}
	}
}
