package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/tests/treestate"
)

// readManifest reads the manifest of the only image of the layout dir.
func readManifest(t *testing.T, dir string) (v1.Descriptor, *v1.Manifest) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	d := idx.Manifests[0]
	m, err := v1.ParseManifest(openBlobFile(t, dir, d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	return d, m
}

func openBlobFile(t *testing.T, dir string, h v1.Hash) io.Reader {
	t.Helper()
	data, err := os.ReadFile(blobPath(dir, h))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(data)
}

func blobPath(dir string, h v1.Hash) string {
	return filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
}

// flipByte flips one bit of the byte in the middle of the file p.
func flipByte(t *testing.T, p string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// damages are the ways a source layout is broken: each gets the layout's
// directory and returns the words the error must hold, and the digest of
// a blob the destination must not receive ("" for none).
var damages = []struct {
	name   string
	damage func(t *testing.T, dir string) (want string, blob v1.Hash)
}{
	{"layer byte flipped", func(t *testing.T, dir string) (string, v1.Hash) {
		_, m := readManifest(t, dir)
		flipByte(t, blobPath(dir, m.Layers[1].Digest))
		return "layer 2 of 3: " + blobPath(dir, m.Layers[1].Digest) + " has the digest sha256:", m.Layers[1].Digest
	}},
	{"config byte flipped", func(t *testing.T, dir string) (string, v1.Hash) {
		_, m := readManifest(t, dir)
		flipByte(t, blobPath(dir, m.Config.Digest))
		return "the configuration: " + blobPath(dir, m.Config.Digest) + " has the digest sha256:", m.Config.Digest
	}},
	{"manifest byte flipped", func(t *testing.T, dir string) (string, v1.Hash) {
		d, _ := readManifest(t, dir)
		flipByte(t, blobPath(dir, d.Digest))
		return "the manifest: " + blobPath(dir, d.Digest) + " has the digest sha256:", d.Digest
	}},
	{"layer truncated", func(t *testing.T, dir string) (string, v1.Hash) {
		_, m := readManifest(t, dir)
		p := blobPath(dir, m.Layers[2].Digest)
		if err := os.Truncate(p, m.Layers[2].Size-1); err != nil {
			t.Fatal(err)
		}
		return "its descriptor says", m.Layers[2].Digest
	}},
	{"layer missing", func(t *testing.T, dir string) (string, v1.Hash) {
		_, m := readManifest(t, dir)
		if err := os.Remove(blobPath(dir, m.Layers[0].Digest)); err != nil {
			t.Fatal(err)
		}
		return "no such file or directory", m.Layers[0].Digest
	}},
	{"layer a link out of the store", func(t *testing.T, dir string) (string, v1.Hash) {
		// The link's target has the right bytes: links out of the store
		// are refused whatever they hold.
		_, m := readManifest(t, dir)
		p := blobPath(dir, m.Layers[0].Digest)
		elsewhere := filepath.Join(t.TempDir(), "layer")
		if err := os.Rename(p, elsewhere); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(elsewhere, p); err != nil {
			t.Fatal(err)
		}
		return "is a symbolic link to " + elsewhere + ", outside the store", v1.Hash{}
	}},
	{"artifact's document byte flipped", func(t *testing.T, dir string) (string, v1.Hash) {
		d, _ := readManifest(t, dir)
		doc := attachArtifact(t, dir, d, `{"spdxVersion":"SPDX-2.3","name":"flipped"}`)
		flipByte(t, blobPath(dir, doc))
		return "layer 1 of 1 of the artifact sha256:", v1.Hash{}
	}},
	{"index.json of 1 GiB", func(t *testing.T, dir string) (string, v1.Hash) {
		p := filepath.Join(dir, "index.json")
		if err := os.Truncate(p, 1<<30); err != nil {
			t.Fatal(err)
		}
		return p + " is 1.0 GiB, over the limit of 4.0 MiB for an image index", v1.Hash{}
	}},
	{"manifest of 5 MiB", func(t *testing.T, dir string) (string, v1.Hash) {
		d, _ := readManifest(t, dir)
		p := filepath.Join(dir, "index.json")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		size := regexp.MustCompile(`"size": *` + strconv.FormatInt(d.Size, 10))
		if !size.Match(data) {
			t.Fatalf("index.json has no size %d: %s", d.Size, data)
		}
		if err := os.WriteFile(p, size.ReplaceAll(data, []byte(`"size":5242880`)), 0o644); err != nil {
			t.Fatal(err)
		}
		return "the manifest: its descriptor gives the size 5242880, over the limit of 4194304 for a manifest or configuration", v1.Hash{}
	}},
	// A named pipe would block the copy in open(2), where no signal stops it.
	{"index.json a named pipe", func(t *testing.T, dir string) (string, v1.Hash) {
		p := filepath.Join(dir, "index.json")
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return "the index: " + p + " is not a regular file", v1.Hash{}
	}},
	{"layer a named pipe", func(t *testing.T, dir string) (string, v1.Hash) {
		_, m := readManifest(t, dir)
		p := blobPath(dir, m.Layers[1].Digest)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return "layer 2 of 3: " + p + " is not a regular file", m.Layers[1].Digest
	}},
	{"index.json a link out of the store", func(t *testing.T, dir string) (string, v1.Hash) {
		p := filepath.Join(dir, "index.json")
		elsewhere := filepath.Join(t.TempDir(), "index.json")
		if err := os.Rename(p, elsewhere); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(elsewhere, p); err != nil {
			t.Fatal(err)
		}
		return "the index: " + p + " is a symbolic link to " + elsewhere, v1.Hash{}
	}},
}

// TestCopyDamagedSource: a layout with a blob that is not what its digest
// and size say, or a link out of the store, fails the copy to every
// destination with one line naming the blob, and the destination is as it
// was: absent, or the existing layout unchanged, or the registry without
// the tag or the blob.
func TestCopyDamagedSource(t *testing.T) {
	t.Setenv("NIX_STORE_DIR", t.TempDir())
	img := randomImage(t, 3)
	other := writeSource(t, randomImage(t, 2), "other")
	for _, dmg := range damages {
		for _, dest := range []string{"oci", "oci existing", "oci-archive", "docker-archive", "docker"} {
			t.Run(dmg.name+", "+dest, func(t *testing.T) {
				src := writeSource(t, img, "v1")
				want, bad := dmg.damage(t, src)
				dir := t.TempDir()
				out := filepath.Join(dir, "out")
				var ref, registryURL string
				switch dest {
				case "oci":
					ref = "oci:" + out
				case "oci existing":
					ref = "oci:" + out + ":v1"
					if _, err := copyTo(t, other, "oci:"+out, Options{}); err != nil {
						t.Fatal(err)
					}
				case "oci-archive", "docker-archive":
					ref = dest + ":" + out
				case "docker":
					// A registry of its own: it holds blobs for all its
					// repositories.
					srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
					defer srv.Close()
					registryURL = srv.URL
					ref = "docker://" + strings.TrimPrefix(srv.URL, "http://") + "/app:v1"
				}
				before := treestate.Of(t, dir)
				_, err := copyTo(t, "oci:"+src+":v1", ref, pushOptions)
				if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v\nwant one line with %q", err, want)
				}
				if testing.Verbose() {
					t.Log(err)
				}
				if after := treestate.Of(t, dir); after != before {
					t.Fatalf("the destination changed:\n%s\nwas:\n%s", after, before)
				}
				if dest == "docker" {
					r, err := name.ParseReference(strings.TrimPrefix(ref, "docker://"))
					if err != nil {
						t.Fatal(err)
					}
					if _, err := remote.Head(r); err == nil {
						t.Fatal("the registry has the tag")
					}
					if bad.Hex != "" {
						resp, err := http.Head(registryURL + "/v2/" + r.Context().RepositoryStr() + "/blobs/" + bad.String())
						if err != nil {
							t.Fatal(err)
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusNotFound {
							t.Fatalf("the registry answers %s for the blob %s", resp.Status, bad)
						}
					}
				}
			})
		}
	}
}

// TestCopyInterrupted: a copy whose context ends while it writes (SIGINT,
// SIGTERM) stops, saying so, and leaves a new layout absent and an
// existing one as it was.
func TestCopyInterrupted(t *testing.T) {
	img := randomImage(t, 3)
	other := writeSource(t, randomImage(t, 2), "other")
	for _, dest := range []string{"oci", "oci existing", "oci-archive", "docker-archive"} {
		t.Run(dest, func(t *testing.T) {
			src := writeSource(t, img, "v1")
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			ref := dest + ":" + out
			if dest == "oci existing" {
				ref = "oci:" + out + ":v1"
				if _, err := copyTo(t, other, "oci:"+out, Options{}); err != nil {
					t.Fatal(err)
				}
			}
			before := treestate.Of(t, dir)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := openSource(ctx, Ref{Transport: OCI, Path: src, Tag: "v1"}, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			// The second layer opened for the copy ends the context.
			opened := 0
			s.beforeOpen = func(string) {
				if opened++; opened == 2 {
					cancel()
				}
			}
			d, err := ParseDestination(ref)
			if err != nil {
				t.Fatal(err)
			}
			switch d.Transport {
			case OCI:
				err = writeLayout(ctx, s, d.Path, d.Tag, t.TempDir(), nil)
			case OCIArchive:
				err = writeArchive(d.Path, t.TempDir(), func(w io.Writer) error { return writeLayoutTar(w, s, "v1") })
			case DockerArchive:
				err = writeArchive(d.Path, t.TempDir(), func(w io.Writer) error { return writeDockerArchive(w, s, "") })
			}
			if err == nil || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("error %v, want interrupted", err)
			}
			if opened < 2 {
				t.Fatalf("%d blobs opened", opened)
			}
			if after := treestate.Of(t, dir); after != before {
				t.Fatalf("the destination changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

// TestCopyIntoExistingLayout: what an existing layout holds is checked
// before it is reused, and nothing is written through a link.
func TestCopyIntoExistingLayout(t *testing.T) {
	img := randomImage(t, 2)
	src := writeSource(t, img, "v1")
	_, m := readManifest(t, src)
	layer := m.Layers[0].Digest
	tests := []struct {
		name string
		// prepare changes the existing layout out; it returns a file
		// outside the layout that must not be written.
		prepare func(t *testing.T, out string) string
		err     string // "" when the copy succeeds
		warning string
	}{
		{"damaged blob", func(t *testing.T, out string) string {
			// As a copy that ran out of space would have left it.
			if err := os.WriteFile(blobPath(out, layer), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "", "replacing a damaged blob of the destination: layer 1 of 2: "},
		{"blob of the same size, other bytes", func(t *testing.T, out string) string {
			flipByte(t, blobPath(out, layer))
			return ""
		}, "", "has the digest"},
		{"dangling link at a blob's path", func(t *testing.T, out string) string {
			target := filepath.Join(t.TempDir(), "target")
			if err := os.Remove(blobPath(out, layer)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, blobPath(out, layer)); err != nil {
				t.Fatal(err)
			}
			return target
		}, "", "is a symbolic link: replacing it by the blob"},
		{"index.json a link", func(t *testing.T, out string) string {
			target := filepath.Join(t.TempDir(), "index.json")
			if err := os.Rename(filepath.Join(out, "index.json"), target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(out, "index.json")); err != nil {
				t.Fatal(err)
			}
			return target
		}, "index.json is a symbolic link: copy never writes through links", ""},
		{"blobs a link", func(t *testing.T, out string) string {
			target := filepath.Join(t.TempDir(), "blobs")
			if err := os.Rename(filepath.Join(out, "blobs"), target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(out, "blobs")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(target, "sha256")
		}, "/blobs is a symbolic link: copy never writes through links", ""},
		// Not layouts: a directory whose index.json is someone else's.
		{"no oci-layout", func(t *testing.T, out string) string {
			if err := os.Remove(filepath.Join(out, "oci-layout")); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "is not an OCI image layout: it has an index.json but no oci-layout file", ""},
		{"a web application", func(t *testing.T, out string) string {
			if err := os.RemoveAll(out); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, "index.json"), []byte(`{"name":"app","scripts":{"start":"node ."}}`), 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "is not an OCI image layout: it has an index.json but no oci-layout file", ""},
		{"layout version 2", func(t *testing.T, out string) string {
			if err := os.WriteFile(filepath.Join(out, "oci-layout"), []byte(`{"imageLayoutVersion":"2.0.0"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}, `oci-layout gives imageLayoutVersion "2.0.0": copy writes into layouts of version 1`, ""},
		{"oci-layout not JSON", func(t *testing.T, out string) string {
			if err := os.WriteFile(filepath.Join(out, "oci-layout"), []byte("layout"), 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "oci-layout is not an oci-layout file", ""},
		{"index schema version 99", func(t *testing.T, out string) string {
			if err := os.WriteFile(filepath.Join(out, "index.json"), []byte(`{"schemaVersion":99,"manifests":[]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "index.json: not an image index of schema version 2 (schemaVersion 99)", ""},
		{"index of another media type", func(t *testing.T, out string) string {
			if err := os.WriteFile(filepath.Join(out, "index.json"), []byte(`{"schemaVersion":2,"mediaType":"text/plain","manifests":[]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}, `index.json: not an OCI image index (mediaType "text/plain")`, ""},
		{"leftover of a killed copy", func(t *testing.T, out string) string {
			if err := os.WriteFile(filepath.Join(out, "blobs", "sha256", tmpPrefix+"0123"+tmpSuffix), []byte("partial"), 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if _, err := copyTo(t, src, "oci:"+out+":v0", Options{}); err != nil {
				t.Fatal(err)
			}
			outside := tc.prepare(t, out)
			var outsideBefore string
			if outside != "" {
				outsideBefore = treestate.Of(t, outside)
			}
			before := treestate.Of(t, out)
			var log bytes.Buffer
			_, err := copyTo(t, src, "oci:"+out+":v1", Options{Log: &log})
			if outside != "" {
				if got := treestate.Of(t, outside); got != outsideBefore {
					t.Fatalf("%s changed:\n%s\nwas:\n%s", outside, got, outsideBefore)
				}
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if after := treestate.Of(t, out); after != before {
					t.Fatalf("the layout changed:\n%s\nwas:\n%s", after, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), tc.warning) {
				t.Fatalf("log:\n%s\nwant %q", log.String(), tc.warning)
			}
			// Both tags read back, every blob checked, all files 0644.
			for _, tag := range []string{"v0", "v1"} {
				got, _, err := ReadImage(Ref{Transport: OCI, Path: out, Tag: tag})
				if err != nil {
					t.Fatal(err)
				}
				if digestOf(t, got) != digestOf(t, img) {
					t.Fatalf("%s: %s, want %s", tag, digestOf(t, got), digestOf(t, img))
				}
				layers, _ := got.Layers()
				for _, l := range layers {
					rc, err := l.Compressed()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, rc); err != nil {
						t.Fatal(err)
					}
					rc.Close()
				}
			}
			if s := treestate.Of(t, out); strings.Contains(s, "->") || strings.Contains(s, tmpPrefix) || strings.Contains(s, "-rw-------") {
				t.Fatalf("the layout holds a link, a temporary file or a 0600 file:\n%s", s)
			}
		})
	}
}

// TestCopyRefusesTheStore: a destination in the store, named or reached
// through a link, is refused before anything is written.
func TestCopyRefusesTheStore(t *testing.T) {
	store := t.TempDir()
	t.Setenv("NIX_STORE_DIR", store)
	t.Setenv("NIX_STORE", "")
	img := randomImage(t, 1)
	src := writeSource(t, img, "v1")
	// A store path holding an image layout, and a result link to it.
	storePath := filepath.Join(store, "0123456789abcdfghijklmnpqrsvwxyz-image")
	if _, err := copyTo(t, src, "oci:"+t.TempDir()+"/x", Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(storePath, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := copyTo(t, src, "oci:"+filepath.Join(storePath, "layout"), Options{Getenv: func(string) string { return "" }}); err != nil {
		t.Fatal(err) // NIX_STORE_DIR unset for this one: the store is /nix/store
	}
	work := t.TempDir()
	result := filepath.Join(work, "result")
	if err := os.Symlink(filepath.Join(storePath, "layout"), result); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	before := treestate.Of(t, store)
	for _, dest := range []string{
		"oci:" + filepath.Join(storePath, "layout") + ":extra",
		"oci:./result:extra",
		"oci:result",
		"oci:" + filepath.Join(store, "new"),
		"oci:" + filepath.Join(result, "new"),
		"oci-archive:" + filepath.Join(storePath, "x.tar"),
		"docker-archive:" + filepath.Join(result, "x.tar"),
	} {
		_, err := copyTo(t, src, dest, Options{})
		if err == nil || !strings.Contains(err.Error(), "in the Nix store "+store) {
			t.Errorf("%s: error %v, want a refusal", dest, err)
		}
	}
	if after := treestate.Of(t, store); after != before {
		t.Fatalf("the store changed:\n%s\nwas:\n%s", after, before)
	}
}

// TestCopyArchiveExists: an existing archive (or a link at its path) is
// refused, saying so, and left alone.
func TestCopyArchiveExists(t *testing.T) {
	src := writeSource(t, randomImage(t, 1), "v1")
	dir := t.TempDir()
	file := filepath.Join(dir, "img.tar")
	dangling := filepath.Join(dir, "dangling.tar")
	if err := os.WriteFile(file, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	before := treestate.Of(t, dir)
	for _, dest := range []string{"oci-archive:" + file, "docker-archive:" + file, "docker-archive:" + dangling + ":a/b:c"} {
		_, err := copyTo(t, src, dest, Options{})
		if err == nil || !strings.HasSuffix(err.Error(), "already exists: copy does not replace archives (remove it first)") {
			t.Errorf("%s: %v", dest, err)
		}
	}
	if after := treestate.Of(t, dir); after != before {
		t.Fatalf("changed:\n%s\nwas:\n%s", after, before)
	}
}

// TestCopyModes: every file a copy writes has the same mode, 0644 less
// the umask.
func TestCopyModes(t *testing.T) {
	src := writeSource(t, randomImage(t, 2), "v1")
	out := filepath.Join(t.TempDir(), "out")
	if _, err := copyTo(t, src, "oci:"+out, Options{}); err != nil {
		t.Fatal(err)
	}
	modes := map[fs.FileMode]int{}
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, _ := d.Info()
			modes[fi.Mode()]++
		}
		return err
	})
	if len(modes) != 1 {
		t.Fatalf("file modes %v, want one", modes)
	}
	// The index keeps what it held, and names the image.
	data, err := os.ReadFile(filepath.Join(out, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(data, &idx); err != nil || idx.SchemaVersion != 2 || idx.MediaType != "application/vnd.oci.image.index.v1+json" || len(idx.Manifests) != 1 {
		t.Fatalf("index.json %s: %v", data, err)
	}
}

// attachArtifact adds to the layout dir an artifact (as oci-builder
// attaches SBOMs: an OCI 1.1 manifest whose subject is the image subject)
// holding doc, and returns the document's digest.
func attachArtifact(t *testing.T, dir string, subject v1.Descriptor, doc string) v1.Hash {
	t.Helper()
	const docType = "application/spdx+json"
	layer := static.NewLayer([]byte(doc), docType)
	art, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	art = mutate.MediaType(art, types.OCIManifestSchema1)
	art = mutate.ConfigMediaType(art, "application/vnd.oci.empty.v1+json")
	art = mutate.Subject(art, v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}).(v1.Image)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteImage(art); err != nil {
		t.Fatal(err)
	}
	d, err := partial.Descriptor(art)
	if err != nil {
		t.Fatal(err)
	}
	d.ArtifactType = docType
	if err := p.AppendDescriptor(*d); err != nil {
		t.Fatal(err)
	}
	h, err := layer.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestCopyReferrers: the image's artifacts (SBOMs, provenance) go with it
// to layouts (listed once), oci-archives and registries, not another
// image's; a docker-archive has no place for them.
func TestCopyReferrers(t *testing.T) {
	img := randomImage(t, 2)
	src := writeSource(t, img, "v1")
	desc, _ := readManifest(t, src)
	attachArtifact(t, src, desc, `{"spdxVersion":"SPDX-2.3"}`)
	attachArtifact(t, src, desc, `{"bomFormat":"CycloneDX"}`)
	otherDesc := desc
	otherDesc.Digest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	attachArtifact(t, src, otherDesc, `{"another":"image's"}`)
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	for _, tc := range []struct {
		dest      string
		referrers int
	}{
		{"oci:" + dir + "/layout", 2},
		{"oci:" + dir + "/layout:again", 2},
		{"oci-archive:" + dir + "/oci.tar", 2},
		{"docker-archive:" + dir + "/docker.tar", 0},
		{"docker://" + host + "/app:v1", 2},
	} {
		sum, err := copyTo(t, "oci:"+src+":v1", tc.dest, pushOptions)
		if err != nil {
			t.Fatalf("%s: %v", tc.dest, err)
		}
		if sum.Referrers != tc.referrers {
			t.Errorf("%s: %d referrers, want %d", tc.dest, sum.Referrers, tc.referrers)
		}
	}
	// The layout lists the image twice (two tags) and each artifact once.
	data, err := os.ReadFile(filepath.Join(dir, "layout", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var images, artifacts int
	for _, d := range idx.Manifests {
		if isArtifact(d) {
			artifacts++
		} else {
			images++
		}
	}
	if images != 2 || artifacts != 2 {
		t.Fatalf("index.json lists %d images and %d artifacts, want 2 and 2:\n%s", images, artifacts, data)
	}
	// Read back through the source: checked, and the image's only.
	s, err := openSource(context.Background(), Ref{Transport: OCI, Path: filepath.Join(dir, "layout"), Tag: "again"}, t.TempDir())
	if err != nil || len(s.referrers) != 2 {
		t.Fatalf("the copy's referrers: %v, %v", s, err)
	}
	r, err := name.ParseReference(host + "/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	refs, err := remote.Referrers(r.Context().Digest(desc.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := refs.IndexManifest(); len(m.Manifests) != 2 {
		t.Fatalf("the registry lists %d referrers, want 2", len(m.Manifests))
	}
}

// TestCopyTagsLast: a push shows the tag last: the image's manifest goes
// by digest, then its documents, then the tag, so that a push that fails
// (or is interrupted) while the documents go leaves no tag naming the
// image without them.
func TestCopyTagsLast(t *testing.T) {
	img := randomImage(t, 1)
	src := writeSource(t, img, "v1")
	desc, _ := readManifest(t, src)
	attachArtifact(t, src, desc, `{"spdxVersion":"SPDX-2.3"}`)
	attachArtifact(t, src, desc, `{"bomFormat":"CycloneDX"}`)
	for _, failDocuments := range []bool{false, true} {
		var puts []string
		reg := registry.New(registry.Logger(nilLogger()))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				ref := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
				if failDocuments && len(puts) > 0 && ref != "v1" {
					http.Error(w, "no space left", http.StatusInternalServerError)
					return
				}
				puts = append(puts, ref)
			}
			reg.ServeHTTP(w, r)
		}))
		host := strings.TrimPrefix(srv.URL, "http://")
		_, err := copyTo(t, "oci:"+src+":v1", "docker://"+host+"/app:v1", pushOptions)
		tagged, _ := name.ParseReference(host + "/app:v1")
		_, headErr := remote.Head(tagged)
		srv.Close()
		if failDocuments {
			if err == nil || headErr == nil {
				t.Fatalf("the documents failing: copy %v, the tag %v (want both errors)", err, headErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		// (this registry has no referrers API: the documents are listed
		// in the index tagged sha256-DIGEST, OCI 1.1's fallback)
		if len(puts) < 4 || puts[0] != desc.Digest.String() || puts[len(puts)-1] != "v1" || slices.Index(puts, "v1") != len(puts)-1 {
			t.Fatalf("manifest PUTs %v, want the image by digest, its 2 documents, then the tag", puts)
		}
	}
}

// TestCopyToDaemonChecksEveryByte: a load the daemon reports done is a
// success only when every byte of the image was sent and checked: a
// damaged layer blob fails the copy, naming it, even if the daemon
// answers OK, and so does a daemon answering before it has read the
// image whole.
func TestCopyToDaemonChecksEveryByte(t *testing.T) {
	for _, tc := range []struct {
		name   string
		early  bool // the daemon answers after 1 KiB
		damage bool // a layer blob of the source is damaged
		err    string
	}{
		{"whole", false, false, ""},
		{"answered early", true, false, "answered before the image was sent whole"},
		{"damaged layer", false, true, "has the digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 16 MiB: more than the socket buffers hold, and the 256 KiB
			// a Go server reads of a body its handler left.
			img, err := random.Image(16<<20, 1)
			if err != nil {
				t.Fatal(err)
			}
			src := writeSource(t, img, "v1")
			if tc.damage {
				_, m := readManifest(t, src)
				flipByte(t, blobPath(src, m.Layers[0].Digest))
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.early {
					io.CopyN(io.Discard, r.Body, 1024)
				} else {
					io.Copy(io.Discard, r.Body)
				}
				w.Write([]byte(`{"stream":"Loaded image: app:v1\n"}`))
			}))
			defer srv.Close()
			opts := Options{Daemon: DaemonOptions{Host: "tcp://" + strings.TrimPrefix(srv.URL, "http://")}}
			_, err = copyTo(t, "oci:"+src+":v1", "docker-daemon:app:v1", opts)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}
