package transport

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/oci-builder/oci-builder/pkg/outside/outsidetest"
)

// TestCopyDamagedArchive: a blob of an oci-archive that is not what its
// descriptor says is named as the archive's member, in the archive the
// user gave (never by the temporary directory it is unpacked into), and
// the archive is said to be changed or damaged; the same damage to a
// layout names the layout's file and the layout.
func TestCopyDamagedArchive(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	defer srv.Close()
	registryDest := "docker://" + strings.TrimPrefix(srv.URL, "http://") + "/app:v1"
	blobName := func(h v1.Hash) string { return "blobs/sha256/" + h.Hex }
	// Each damage breaks the layout dir and returns the blob it broke
	// and what the message says of it, after the blob's file.
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string) (what string, blob v1.Hash, says string)
	}{
		{"layer byte flipped", func(t *testing.T, dir string) (string, v1.Hash, string) {
			_, m := readManifest(t, dir)
			flipByte(t, blobPath(dir, m.Layers[1].Digest))
			return "layer 2 of 2", m.Layers[1].Digest, " has the digest sha256:"
		}},
		{"config byte flipped", func(t *testing.T, dir string) (string, v1.Hash, string) {
			_, m := readManifest(t, dir)
			flipByte(t, blobPath(dir, m.Config.Digest))
			return "the configuration", m.Config.Digest, " has the digest sha256:"
		}},
		{"layer truncated", func(t *testing.T, dir string) (string, v1.Hash, string) {
			_, m := readManifest(t, dir)
			if err := os.Truncate(blobPath(dir, m.Layers[0].Digest), m.Layers[0].Size-1); err != nil {
				t.Fatal(err)
			}
			return "layer 1 of 2", m.Layers[0].Digest, fmt.Sprintf(" is %d bytes, its descriptor says %d", m.Layers[0].Size-1, m.Layers[0].Size)
		}},
		{"layer missing", func(t *testing.T, dir string) (string, v1.Hash, string) {
			_, m := readManifest(t, dir)
			if err := os.Remove(blobPath(dir, m.Layers[1].Digest)); err != nil {
				t.Fatal(err)
			}
			return "layer 2 of 2", m.Layers[1].Digest, " is missing"
		}},
	}
	for _, tc := range tests {
		for _, kind := range []string{"oci-archive", "oci"} {
			for _, dest := range []string{"oci", "docker"} {
				t.Run(tc.name+", "+kind+" to "+dest, func(t *testing.T) {
					dir := t.TempDir()
					outsidetest.OCILayout(t, dir, archived)
					what, blob, says := tc.damage(t, dir)
					var src, want, end string
					switch {
					case kind == "oci-archive":
						file := filepath.Join(t.TempDir(), "flip.tar")
						outsidetest.TarDir(t, dir, file)
						src = "oci-archive:" + file
						want = what + ": " + blobName(blob) + " in " + file + says
						end = ": the archive was changed or damaged"
						if strings.HasPrefix(what, "layer ") && strings.HasPrefix(says, " has the digest") {
							// An archive is checked whole first, as
							// fromImage reads it (package outside).
							n, _, _ := strings.Cut(strings.TrimPrefix(what, "layer "), " ")
							want = "image " + file + ": layer " + n + " (" + blobName(blob) + "): has the digest"
							end = ""
						}
					case says == " is missing":
						src = "oci:" + dir
						want = what + ": lstat " + filepath.Join(dir, blobName(blob)) + ": no such file or directory"
					default:
						src = "oci:" + dir
						want = what + ": " + filepath.Join(dir, blobName(blob)) + says
						end = ": the layout was changed or damaged"
					}
					ref := registryDest
					if dest == "oci" {
						ref = "oci:" + filepath.Join(t.TempDir(), "out")
					}
					_, err := copyTo(t, src, ref, pushOptions)
					if err == nil || !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), end) ||
						strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "oci-builder-archive-") {
						t.Fatalf("error %v\nwant one line with %q, ending %q", err, want, end)
					}
				})
			}
		}
	}
}
