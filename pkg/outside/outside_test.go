package outside

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/outside/outsidetest"
)

var base = outsidetest.Image{
	RepoTag: "example.org:5000/base:1.0",
	Layers: [][]outsidetest.Entry{
		{{Name: "etc/passwd", Data: "root:x:0:0::/root:/bin/sh\n"}, {Name: "bin/sh", Data: "#!"}},
		{{Name: "/usr/share/doc", Data: "doc"}, {Name: "bin/.wh.sh"}, {Name: "bin/sh2", Link: "/usr/share/doc"}},
	},
	Compression: "gzip",
	Env:         []string{"PATH=/bin", "LANG=C"},
}

var writers = outsidetest.Writers

func TestOpenVerifyEveryFormat(t *testing.T) {
	for format, write := range writers {
		for _, comp := range []string{"", "gzip", "zstd"} {
			t.Run(format+"/"+comp, func(t *testing.T) {
				ti := base
				ti.Compression = comp
				p := write(t, ti)
				im, err := Open(p, Selector{})
				if err != nil {
					t.Fatal(err)
				}
				defer im.Close()
				if err := im.Verify(context.Background()); err != nil {
					t.Fatal(err)
				}
				b := ti.Build(t)
				for i, l := range im.Layers {
					if l.Digest != digest.FromBytes(b.Layers[i]) || l.DiffID != b.DiffIDs[i] || l.Size != int64(len(b.Layers[i])) {
						t.Errorf("layer %d: %+v", i, l)
					}
					if mt := outsidetest.MediaType(comp); l.MediaType != mt {
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
				if err := im.CopyLayer(1, &buf); err != nil || !bytes.Equal(buf.Bytes(), b.Layers[1]) {
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
	other.RepoTag = "example.org:5000/other:2.0"
	other.Layers = [][]outsidetest.Entry{{{Name: "other", Data: "x"}}}
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
			{Selector{Tag: "3.0"}, 0, "no image tagged 3.0"},
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
		image   outsidetest.Image
		remove  string // a blob to remove, OCI layouts only
		err     string
	}{
		{name: "flipped layer byte", formats: "oci oci-archive", image: withTamper(base, "layer1", flip), err: "has the digest"},
		{name: "flipped layer byte", formats: "docker-archive docker-archive.gz", image: withTamper(base, "layer1", flip), err: "layer 2"},
		{name: "config not JSON", image: withTamper(base, "config", func([]byte) []byte { return []byte("{not json") }), err: "is not valid JSON"},
		{name: "dot-dot entry", image: withLayers(base, []outsidetest.Entry{{Name: "a/../../etc/x", Data: "x"}}), err: `entry "a/../../etc/x" leaves the root filesystem`},
		{name: "absolute dot-dot entry", image: withLayers(base, []outsidetest.Entry{{Name: "/../x", Data: "x"}}), err: "leaves the root"},
		{name: "hard link out", image: withLayers(base, []outsidetest.Entry{{Name: "x", Link: "../../etc/shadow"}}), err: `hard link "x": target`},
		{name: "missing blob", formats: "oci", image: base, remove: "layer0", err: "is missing"},
		// What flatten refuses (exportImage, runAsRoot) is refused here too.
		{name: "whiteout of nothing", image: withLayers(base, []outsidetest.Entry{{Name: "etc/.wh."}}), err: `whiteout "etc/.wh." names no file`},
		{name: "whiteout of dot-dot", image: withLayers(base, []outsidetest.Entry{{Name: "etc/.wh..."}}), err: `whiteout "etc/.wh..." names no file`},
		{name: "long symbolic link", image: withLayers(base, []outsidetest.Entry{{Name: "l", Link: strings.Repeat("a/", 2049), Type: tar.TypeSymlink}}), err: `symbolic link "l": its target is longer than 4096 bytes`},
		{name: "root a file", image: withLayers(base, []outsidetest.Entry{{Name: ".", Data: "x", Type: tar.TypeReg}}), err: `entry ".": the root must be a directory`},
		{name: "long name", image: withLayers(base, []outsidetest.Entry{{Name: strings.Repeat("n/", 2049) + "f", Data: "x"}}), err: `... is longer than 4096 bytes`},
		{name: "volume header", image: withLayers(base, []outsidetest.Entry{{Name: "v", Type: 'V'}}), err: `entry "v" has the tar type 'V'`},
	} {
		for format, write := range writers {
			if c.formats != "" && !strings.Contains(" "+c.formats+" ", " "+format+" ") {
				continue
			}
			t.Run(c.name+"/"+format, func(t *testing.T) {
				p := write(t, c.image)
				if c.remove != "" {
					b := c.image.Build(t)
					os.Remove(filepath.Join(p, "blobs", "sha256", digest.FromBytes(b.Layers[0]).Encoded()))
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

// TestGlobalHeaderIgnored: a pax global header (git archive writes one)
// is no file, as Docker and flatten read it.
func TestGlobalHeaderIgnored(t *testing.T) {
	ti := withLayers(base, []outsidetest.Entry{{Type: tar.TypeXGlobalHeader}, {Name: "etc/motd", Data: "hi"}})
	p := writers["oci"](t, ti)
	im := openVerified(t, p)
	if !im.Has("/etc/motd") {
		t.Error("the layer after the global header was not read")
	}
	// Go's tar writer names a global header GlobalHead.0.0.
	if im.Has("/GlobalHead.0.0") {
		t.Error("the global header was taken for a file")
	}
}

// openVerified opens and verifies the image at p, closed at the test's
// end.
func openVerified(t *testing.T, p string) *Image {
	t.Helper()
	im, err := Open(p, Selector{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	if err := im.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	return im
}

func withTamper(ti outsidetest.Image, name string, f func([]byte) []byte) outsidetest.Image {
	ti.Tamper = func(n string, data []byte) []byte {
		if n == name {
			return f(data)
		}
		return data
	}
	return ti
}

func withLayers(ti outsidetest.Image, layers ...[]outsidetest.Entry) outsidetest.Image {
	ti.Layers = append(append([][]outsidetest.Entry(nil), ti.Layers...), layers...)
	return ti
}

// TestSkipsArtifacts: an image's SBOMs listed beside it in index.json
// are not images to pick.
func TestSkipsArtifacts(t *testing.T) {
	dir := t.TempDir()
	outsidetest.OCILayout(t, dir, base)
	raw, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	var idx v1.Index
	json.Unmarshal(raw, &idx)
	sbom := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/vnd.cyclonedx+json", Digest: digest.FromString("x"), Size: 1}
	idx.Manifests = append([]v1.Descriptor{sbom}, idx.Manifests...)
	raw, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644)
	im, err := Open(dir, Selector{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if len(im.Warnings) != 0 || len(im.Layers) != 2 {
		t.Errorf("warnings %v, %d layers", im.Warnings, len(im.Layers))
	}
}

func TestIndexPlatform(t *testing.T) {
	// The image in an index of two platforms, both the same image.
	dir := layoutWithIndex(t, "multi", &v1.Platform{OS: "linux", Architecture: "amd64"}, &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	for _, c := range []struct {
		p   *v1.Platform
		err string
	}{
		{&v1.Platform{OS: "linux", Architecture: "amd64"}, ""},
		{&v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, ""},
		{&v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, "has no image for linux/arm/v6 (it has linux/amd64, linux/arm/v7)"},
		{nil, "is an index of 2 images (platforms: linux/amd64, linux/arm/v7): name one platform"},
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

// layoutWithIndex writes an OCI layout whose index.json names, as ref, an
// index of base's image once per platform given.
func layoutWithIndex(t *testing.T, ref string, platforms ...*v1.Platform) string {
	t.Helper()
	dir := t.TempDir()
	outsidetest.OCILayout(t, dir, base)
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	var entries []v1.Descriptor
	for _, p := range platforms {
		m := idx.Manifests[0]
		m.Annotations, m.Platform = nil, p
		entries = append(entries, m)
	}
	inner, _ := json.Marshal(v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: entries})
	d := digest.FromBytes(inner)
	idx.Manifests = []v1.Descriptor{{MediaType: v1.MediaTypeImageIndex, Digest: d, Size: int64(len(inner)), Annotations: map[string]string{v1.AnnotationRefName: ref}}}
	raw, _ = json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), inner, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestIndexOnePlatform: an index of one image gives it when no platform
// is named (exportImage, base-tree and layer-diff name none), an
// attestation manifest beside it ignored, as Docker and containerd do.
func TestIndexOnePlatform(t *testing.T) {
	dir := layoutWithIndex(t, "one", &v1.Platform{OS: "linux", Architecture: "arm64"}, &v1.Platform{OS: "unknown", Architecture: "unknown"})
	im := openVerified(t, dir)
	if !im.Has("/etc/passwd") {
		t.Error("the image's files are not those of the one image")
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

// TestLayoutNotRegular: a FIFO in a layout directory (given on the command
// line; the store holds none) is refused at once, not waited on in
// open(2) for a writer that never comes.
func TestLayoutNotRegular(t *testing.T) {
	for _, tc := range []struct {
		name string
		file func(dir string) string
	}{
		{"index", func(dir string) string { return filepath.Join(dir, "index.json") }},
		{"configuration blob", func(dir string) string {
			b := base.Build(t)
			return filepath.Join(dir, "blobs", "sha256", digest.FromBytes(b.Config).Encoded())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			outsidetest.OCILayout(t, dir, base)
			f := tc.file(dir)
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(f, 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				im, err := Open(dir, Selector{})
				if err == nil {
					err = im.Verify(context.Background())
					im.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("error %v, want one saying it is not a regular file", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("still waiting on the FIFO after 20 s")
			}
		})
	}
}

// TestDecompressToTemp: a compressed archive's tar is written to the
// temporary file, what follows its end is not (a small archive of zeros
// made gigabytes of it), and what is not a tar is refused.
func TestDecompressToTemp(t *testing.T) {
	tarball := outsidetest.Tar(t, []outsidetest.Entry{{Name: "manifest.json", Data: "[]"}})
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(i*7919 + i>>8)
	}
	for _, tc := range []struct {
		name, err string
		data      []byte
		// size is the temporary file's size, when no error.
		size int64
	}{
		{"tar", "", tarball, int64(len(tarball))},
		{"tar then 64 MiB of zeros", "", append(append([]byte{}, tarball...), make([]byte, 64<<20)...), int64(len(tarball))},
		{"zeros only", "", make([]byte, 64<<20), 1024},
		{"not a tar", "not a tar archive", random, 0},
	} {
		for _, c := range []struct {
			name string
			comp compression
		}{{"gzip", compressionGzip}, {"zstd", compressionZstd}} {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				f, err := decompressToTemp(bytes.NewReader(outsidetest.Compress(t, tc.data, c.name)), c.comp)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("error %v, want %q", err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				fi, err := f.Stat()
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != tc.size {
					t.Errorf("temporary file of %d bytes, want %d", fi.Size(), tc.size)
				}
				got, err := io.ReadAll(f)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tc.data[:len(got)]) {
					t.Error("the temporary file's bytes are not the tar's")
				}
			})
		}
	}
}
