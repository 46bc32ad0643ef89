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
		// storeLink: NIX_STORE_DIR is a symbolic link to the store.
		storeLink bool
		// corrupt: a linked blob's bytes change (same size).
		corrupt bool
		dest    string
		err     string
	}{
		{"into the store", true, false, false, "oci", ""},
		{"out of the store", false, false, false, "oci", "is a symbolic link to "},
		{"store behind a link", true, true, false, "oci", ""},
		{"changed blob, oci", true, false, true, "oci", "has the digest sha256:"},
		{"changed blob, docker-archive", true, false, true, "docker-archive", "has the digest sha256:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := randomImage(t, 2)
			src := writeSource(t, img, "v1")
			store := t.TempDir()
			elsewhere := t.TempDir()
			t.Setenv("NIX_STORE_DIR", store)
			if tc.storeLink {
				link := filepath.Join(t.TempDir(), "store")
				if err := os.Symlink(store, link); err != nil {
					t.Fatal(err)
				}
				t.Setenv("NIX_STORE_DIR", link)
			}
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
				if tc.corrupt && i == 1 {
					data, err := os.ReadFile(target)
					if err != nil {
						t.Fatal(err)
					}
					data[len(data)-1] ^= 1
					if err := os.WriteFile(target, data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			dest := filepath.Join(t.TempDir(), "out")
			destRef := "oci:" + dest
			if tc.dest == "docker-archive" {
				destRef = "docker-archive:" + dest + ".tar"
			}
			_, err = copyTo(t, "oci:"+src+":v1", destRef, Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line with %q", err, tc.err)
				}
				if testing.Verbose() {
					t.Log(err)
				}
				if !tc.inStore && !strings.Contains(err.Error(), "outside the store "+store) {
					t.Fatalf("error %v, want %q", err, "outside the store "+store)
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

// TestLinkedOpenSwapped: a blob that becomes a symbolic link between the
// check and the open (a plain blob, or the store file a blob links to) is
// refused, not followed.
func TestLinkedOpenSwapped(t *testing.T) {
	hex := strings.Repeat("a", 64)
	for _, linked := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain blob", true: "linked blob"}[linked], func(t *testing.T) {
			dir, store, elsewhere := t.TempDir(), t.TempDir(), t.TempDir()
			secret := filepath.Join(elsewhere, "secret")
			if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
				t.Fatal(err)
			}
			blobs := filepath.Join(dir, "blobs", "sha256")
			if err := os.MkdirAll(blobs, 0o755); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(blobs, hex)
			if linked {
				file = filepath.Join(store, "layer")
				if err := os.Symlink(file, filepath.Join(blobs, hex)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(file, []byte("layer"), 0o644); err != nil {
				t.Fatal(err)
			}
			l := &layoutFiles{dir: dir, storeDir: store, beforeOpen: func(p string) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(secret, p); err != nil {
					t.Fatal(err)
				}
			}}
			f, err := l.openFile(filepath.Join(blobs, hex), "blob")
			if err == nil {
				f.Close()
				t.Fatal("a blob swapped for a link was opened")
			}
			if want := "became a symbolic link while it was read"; !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}
