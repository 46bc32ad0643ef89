package outside

import (
	"bytes"
	"fmt"
	"io"

	ggcr "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// V1 gives the verified image as go-containerregistry's image, for the
// writers of package transport: its manifest is RawManifest, and each
// layer's reader checks the blob's digest and size again at its end.
func (im *Image) V1() (ggcr.Image, error) {
	if !im.verified {
		return nil, ErrNotVerified
	}
	return partial.CompressedToImage(&v1Image{im: im})
}

type v1Image struct{ im *Image }

func (v *v1Image) RawConfigFile() ([]byte, error) { return v.im.RawConfig, nil }
func (v *v1Image) RawManifest() ([]byte, error)   { return v.im.RawManifest, nil }
func (v *v1Image) MediaType() (types.MediaType, error) {
	if v.im.Manifest.MediaType != "" {
		return types.MediaType(v.im.Manifest.MediaType), nil
	}
	return types.OCIManifestSchema1, nil
}

// LayerByDigest gives the layer blob h (or the configuration's).
func (v *v1Image) LayerByDigest(h ggcr.Hash) (partial.CompressedLayer, error) {
	for i, l := range v.im.Layers {
		if l.Digest.String() == h.String() {
			return &v1Layer{im: v.im, i: i}, nil
		}
	}
	if v.im.Manifest.Config.Digest.String() == h.String() {
		return &v1Config{im: v.im}, nil
	}
	return nil, fmt.Errorf("image %s has no blob %s", v.im.Path, h)
}

type v1Layer struct {
	im *Image
	i  int
}

func (l *v1Layer) Digest() (ggcr.Hash, error) { return ggcr.NewHash(l.im.Layers[l.i].Digest.String()) }
func (l *v1Layer) Size() (int64, error)       { return l.im.Layers[l.i].Size, nil }
func (l *v1Layer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.im.Layers[l.i].MediaType), nil
}
func (l *v1Layer) Compressed() (io.ReadCloser, error) { return l.im.OpenLayer(l.i) }

type v1Config struct{ im *Image }

func (c *v1Config) Digest() (ggcr.Hash, error) {
	return ggcr.NewHash(c.im.Manifest.Config.Digest.String())
}
func (c *v1Config) Size() (int64, error) { return int64(len(c.im.RawConfig)), nil }
func (c *v1Config) MediaType() (types.MediaType, error) {
	return types.MediaType(c.im.Manifest.Config.MediaType), nil
}
func (c *v1Config) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(c.im.RawConfig)), nil
}
