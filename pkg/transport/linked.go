package transport

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oci-builder/oci-builder/pkg/localstore"
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
}

// readLinkedImage reads the image of the layout dir whose manifest is
// manifest (with media type mediaType).
func readLinkedImage(dir string, manifest []byte, mediaType types.MediaType) (v1.Image, error) {
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return nil, err
	}
	li := &linkedImage{dir: dir, storeDir: localstore.StoreDir(os.Getenv), manifest: manifest, mediaType: mediaType, layers: map[v1.Hash]v1.Descriptor{}}
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
// in the store.
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
		if !strings.HasPrefix(target, li.storeDir+"/") {
			return nil, fmt.Errorf("layout blob %s is a symlink to %s, outside the store %s", h, target, li.storeDir)
		}
		p = target
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("layout blob %s: %w", h, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("layout blob %s is not a regular file", h)
	}
	return f, nil
}

func (li *linkedImage) readBlob(h v1.Hash) ([]byte, error) {
	f, err := li.open(h)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// linkedLayer is a layer blob of a linkedImage.
type linkedLayer struct {
	li   *linkedImage
	desc v1.Descriptor
}

func (l *linkedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *linkedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *linkedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *linkedLayer) Compressed() (io.ReadCloser, error)  { return l.li.open(l.desc.Digest) }
func (l *linkedLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }
