// Package outsidetest writes images as other tools do, for the tests of
// the packages that read them: Docker archives (`docker save`,
// dockerTools), OCI image layouts and OCI archives, with layers made of
// a few files, compressed or not, and ways to spoil them.
package outsidetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/imageconfig"
)

// Entry is a file of a test layer: a regular file holding Data, or a
// hard link to Link; or, when Type is set, an entry of that tar type
// (a symbolic link to Link, a directory, a device...).
type Entry struct {
	Name, Data, Link string
	Type             byte
}

// Image is an image to write.
type Image struct {
	// RepoTag is NAME:TAG (a layout gets the tag as its reference name).
	RepoTag string
	// Layers are the layers' entries, base layer first.
	Layers [][]Entry
	// Compression is "", "gzip" or "zstd".
	Compression string
	// Arch is the configuration's architecture (default amd64).
	Arch string
	// Env and Cmd are the configuration's.
	Env, Cmd []string
	// Healthcheck is the configuration's (Docker's key), when not nil.
	Healthcheck *imageconfig.HealthConfig
	// Tamper, when set, changes the blobs as they are written, by name:
	// "config", "layer0", "layer1", ...
	Tamper func(name string, data []byte) []byte
}

// Built is an image's blobs.
type Built struct {
	Config  []byte
	Layers  [][]byte
	DiffIDs []digest.Digest
}

// Tar is the tar of entries.
func Tar(t testing.TB, entries []Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Mode: 0o755, Typeflag: tar.TypeReg, Size: int64(len(e.Data))}
		if e.Link != "" {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, e.Link, 0
		}
		if e.Type != 0 {
			hdr.Typeflag = e.Type
			if e.Type != tar.TypeReg {
				hdr.Size = 0
			}
			if e.Type == tar.TypeXGlobalHeader {
				hdr = &tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "from git archive"}}
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.Data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Compress compresses data with "gzip" or "zstd" ("" leaves it).
func Compress(t testing.TB, data []byte, c string) []byte {
	t.Helper()
	var b bytes.Buffer
	switch c {
	case "gzip":
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
	case "zstd":
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		zw.Close()
	case "":
		return data
	default:
		t.Fatalf("unknown compression %q", c)
	}
	return b.Bytes()
}

// MediaType is the OCI layer media type of compression c.
func MediaType(c string) string {
	if c == "" {
		return v1.MediaTypeImageLayer
	}
	return v1.MediaTypeImageLayer + "+" + c
}

// Build makes the image's blobs.
func (im Image) Build(t testing.TB) Built {
	t.Helper()
	var b Built
	for _, l := range im.Layers {
		data := Tar(t, l)
		b.DiffIDs = append(b.DiffIDs, digest.FromBytes(data))
		b.Layers = append(b.Layers, Compress(t, data, im.Compression))
	}
	arch := im.Arch
	if arch == "" {
		arch = "amd64"
	}
	cfg := imageconfig.Image{Platform: v1.Platform{OS: "linux", Architecture: arch},
		Config: imageconfig.Config{ImageConfig: v1.ImageConfig{Env: im.Env, Cmd: im.Cmd}, Healthcheck: im.Healthcheck},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: b.DiffIDs}}
	var err error
	if b.Config, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	return b
}

func (im Image) blob(name string, data []byte) []byte {
	if im.Tamper != nil {
		return im.Tamper(name, data)
	}
	return data
}

// WriteTar writes files (name to data) as a tar, in the order of names.
func WriteTar(t testing.TB, file string, names []string, files map[string][]byte) {
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

// DockerArchive writes images to file as `docker save` does (config
// HEX.json, layers DIFFID/layer.tar, manifest.json last).
func DockerArchive(t testing.TB, file string, images ...Image) {
	t.Helper()
	files := map[string][]byte{}
	var names []string
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	for _, im := range images {
		b := im.Build(t)
		cfgName := digest.FromBytes(b.Config).Encoded() + ".json"
		files[cfgName] = im.blob("config", b.Config)
		names = append(names, cfgName)
		m := entry{Config: cfgName, RepoTags: []string{im.RepoTag}}
		for i, l := range b.Layers {
			n := b.DiffIDs[i].Encoded() + "/layer.tar"
			files[n] = im.blob(fmt.Sprintf("layer%d", i), l)
			names = append(names, n)
			m.Layers = append(m.Layers, n)
		}
		manifest = append(manifest, m)
	}
	files["manifest.json"], _ = json.Marshal(manifest)
	names = append(names, "manifest.json")
	WriteTar(t, file, names, files)
}

// OCILayout writes images into the layout directory dir. A tampered
// configuration is described as it is (a consistent layout of a bad
// configuration); tampered layers keep their first descriptors.
func OCILayout(t testing.TB, dir string, images ...Image) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(d digest.Digest, data []byte) {
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	for _, im := range images {
		b := im.Build(t)
		cfg := im.blob("config", b.Config)
		put(digest.FromBytes(cfg), cfg)
		m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
			Config: v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}}
		for i, l := range b.Layers {
			d := digest.FromBytes(l)
			m.Layers = append(m.Layers, v1.Descriptor{MediaType: MediaType(im.Compression), Digest: d, Size: int64(len(l))})
			put(d, im.blob(fmt.Sprintf("layer%d", i), l))
		}
		raw, _ := json.Marshal(m)
		put(digest.FromBytes(raw), raw)
		tag := im.RepoTag
		if i := strings.LastIndexByte(tag, ':'); i >= 0 {
			tag = tag[i+1:]
		}
		idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw)),
			Annotations: map[string]string{v1.AnnotationRefName: tag}})
	}
	raw, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

// OCIArchive writes the layout of images as a tar to file.
func OCIArchive(t testing.TB, file string, images ...Image) {
	t.Helper()
	dir := t.TempDir()
	OCILayout(t, dir, images...)
	TarDir(t, dir, file)
}

// TarDir writes the files under dir as a tar to file.
func TarDir(t testing.TB, dir, file string) {
	t.Helper()
	files := map[string][]byte{}
	var names []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		files[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	WriteTar(t, file, names, files)
}

// Writers write images in each format and give the path to open: a file,
// or a directory for "oci".
var Writers = map[string]func(t testing.TB, images ...Image) string{
	"docker-archive": func(t testing.TB, images ...Image) string {
		f := filepath.Join(t.TempDir(), "image.tar")
		DockerArchive(t, f, images...)
		return f
	},
	"docker-archive.gz": func(t testing.TB, images ...Image) string {
		f := filepath.Join(t.TempDir(), "image.tar")
		DockerArchive(t, f, images...)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f+".gz", Compress(t, data, "gzip"), 0o644); err != nil {
			t.Fatal(err)
		}
		return f + ".gz"
	},
	"oci": func(t testing.TB, images ...Image) string {
		d := t.TempDir()
		OCILayout(t, d, images...)
		return d
	},
	"oci-archive": func(t testing.TB, images ...Image) string {
		f := filepath.Join(t.TempDir(), "image.tar")
		OCIArchive(t, f, images...)
		return f
	},
}
