package transport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oci-builder/oci-builder/pkg/store/local"
)

// An image that buildImage made with layer derivations ('layers') links
// its layer blobs to their outputs: blobs/sha256/HEX is a symbolic link into
// another store path. go-containerregistry's layout refuses to follow links
// in blobs/ (a layout from elsewhere could link to any file), so such an
// image is read by linkedImage, which follows a link only to a regular file
// inside the Nix store.

// hasLinkedBlobs tells whether a layer blob of the manifest m in the layout
// dir is a symbolic link.
func hasLinkedBlobs(dir string, m *v1.Manifest) bool {
	for _, l := range m.Layers {
		fi, err := os.Lstat(filepath.Join(dir, "blobs", l.Digest.Algorithm, l.Digest.Hex))
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return true
		}
	}
	return false
}

// linkedImage is an image of a layout whose layer blobs may be symbolic
// links into the Nix store.
type linkedImage struct {
	dir, storeDir    string
	manifest, config []byte
	configDigest     v1.Hash
	mediaType        types.MediaType
	layers           map[v1.Hash]v1.Descriptor
	// beforeOpen, when set (by tests), is called with the path of a blob
	// just before it is opened.
	beforeOpen func(path string)
}

// readLinkedImage reads the image of the layout dir whose manifest is
// manifest (with media type mediaType).
func readLinkedImage(dir string, manifest []byte, mediaType types.MediaType) (v1.Image, error) {
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return nil, err
	}
	li := &linkedImage{dir: dir, storeDir: local.StoreDir(os.Getenv), manifest: manifest, mediaType: mediaType, layers: map[v1.Hash]v1.Descriptor{}}
	if li.config, err = li.readBlob(m.Config.Digest); err != nil {
		return nil, err
	}
	li.configDigest = m.Config.Digest
	for _, l := range m.Layers {
		li.layers[l.Digest] = l
	}
	return partial.CompressedToImage(li)
}

func (li *linkedImage) RawManifest() ([]byte, error)        { return li.manifest, nil }
func (li *linkedImage) RawConfigFile() ([]byte, error)      { return li.config, nil }
func (li *linkedImage) MediaType() (types.MediaType, error) { return li.mediaType, nil }

// LayerByDigest returns the layer blob h of the manifest.
func (li *linkedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	d, ok := li.layers[h]
	if !ok {
		if h == li.configDigest {
			return &linkedLayer{li: li, desc: v1.Descriptor{Digest: h, Size: int64(len(li.config))}}, nil
		}
		return nil, fmt.Errorf("the manifest has no layer %s", h)
	}
	return &linkedLayer{li: li, desc: d}, nil
}

// open opens the blob h, following a symbolic link only to a regular file
// in the store (the store directory as it is named or with its own links
// resolved). The file opened is never a link itself (O_NOFOLLOW), so a
// blob swapped for a link after the check is refused, as
// go-containerregistry's layout refuses links.
func (li *linkedImage) open(h v1.Hash) (*os.File, error) {
	p := filepath.Join(li.dir, "blobs", h.Algorithm, h.Hex)
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("layout blob %s: %w", h, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("layout blob %s: %w", h, err)
		}
		if !li.inStore(target) {
			return nil, fmt.Errorf("layout blob %s is a symlink to %s, outside the store %s", h, target, li.storeDir)
		}
		p = target
	}
	if li.beforeOpen != nil {
		li.beforeOpen(p)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("layout blob %s: %s became a symbolic link while it was read", h, p)
		}
		return nil, fmt.Errorf("layout blob %s: %w", h, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("layout blob %s is not a regular file", h)
	}
	return f, nil
}

// inStore tells whether the path p (links resolved) is in the store.
func (li *linkedImage) inStore(p string) bool {
	if strings.HasPrefix(p, li.storeDir+"/") {
		return true
	}
	real, err := filepath.EvalSymlinks(li.storeDir)
	return err == nil && strings.HasPrefix(p, real+"/")
}

// openVerified opens the blob h as open does; its reader fails at the end
// if the blob's SHA-256 is not h.
func (li *linkedImage) openVerified(h v1.Hash) (io.ReadCloser, error) {
	if h.Algorithm != "sha256" {
		return nil, fmt.Errorf("layout blob %s: not a sha256 digest", h)
	}
	f, err := li.open(h)
	if err != nil {
		return nil, err
	}
	return &verifyingReader{f: f, h: h, sum: sha256.New()}, nil
}

// verifyingReader reads a blob and, at its end, checks its SHA-256.
type verifyingReader struct {
	f   *os.File
	h   v1.Hash
	sum hash.Hash
}

func (r *verifyingReader) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	r.sum.Write(b[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(r.sum.Sum(nil)); got != r.h.Hex {
			return n, fmt.Errorf("layout blob %s (%s) has the sha256 %s: it changed since the image was made", r.h, r.f.Name(), got)
		}
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.f.Close() }

func (li *linkedImage) readBlob(h v1.Hash) ([]byte, error) {
	rc, err := li.openVerified(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// linkedLayer is a layer blob of a linkedImage.
type linkedLayer struct {
	li   *linkedImage
	desc v1.Descriptor
}

func (l *linkedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *linkedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *linkedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *linkedLayer) Compressed() (io.ReadCloser, error)  { return l.li.openVerified(l.desc.Digest) }
func (l *linkedLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }
