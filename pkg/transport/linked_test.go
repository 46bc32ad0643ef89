package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyLinkedBlobs: a layout whose layer blobs are links into the store
// (as buildImage's with layer derivations) is copied whole; a link out of
// the store is refused, naming the blob.
func TestCopyLinkedBlobs(t *testing.T) {
	tests := []struct {
		name    string
		inStore bool
		err     string
	}{
		{"into the store", true, ""},
		{"out of the store", false, "is a symlink to "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := randomImage(t, 2)
			src := writeSource(t, img, "v1")
			store := t.TempDir()
			elsewhere := t.TempDir()
			t.Setenv("NIX_STORE_DIR", store)
			t.Setenv("NIX_STORE", "")
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range layers {
				d, err := l.Digest()
				if err != nil {
					t.Fatal(err)
				}
				blob := filepath.Join(src, "blobs", "sha256", d.Hex)
				dir := store
				if !tc.inStore && i == 1 {
					dir = elsewhere
				}
				target := filepath.Join(dir, "layer-"+d.Hex)
				if err := os.Rename(blob, target); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, blob); err != nil {
					t.Fatal(err)
				}
			}
			dest := filepath.Join(t.TempDir(), "out")
			_, err = copyTo(t, "oci:"+src+":v1", "oci:"+dest, Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "outside the store "+store) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := ReadImage(Ref{Transport: OCI, Path: dest})
			if err != nil {
				t.Fatal(err)
			}
			if digestOf(t, got) != digestOf(t, img) {
				t.Fatalf("copied %s, want %s", digestOf(t, got), digestOf(t, img))
			}
			// The copy's blobs are files, readable by the library as they are.
			gotLayers, err := got.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range gotLayers {
				rc, err := l.Compressed()
				if err != nil {
					t.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}
