package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oci-builder/oci-builder/internal/readlimit"
)

// source is the image of an OCI image layout, opened for copying. Its
// manifest and configuration are read when it is opened and checked
// against their descriptors (digest and size); every layer blob is found
// with its size then, and its bytes are checked as they are read
// (blobReader). A blob may be a symbolic link only to a regular file in
// the Nix store: an image that buildImage made with layer derivations links
// its layer blobs to their outputs. Every other file read is a regular
// file, never a link followed.
type source struct {
	ctx      context.Context
	dir      string
	storeDir string
	// desc is the manifest's descriptor in index.json, tag its name.
	desc     v1.Descriptor
	tag      string
	manifest []byte
	m        *v1.Manifest
	config   []byte
	// beforeOpen, when set (by tests), is called with the path of a blob
	// just before it is opened.
	beforeOpen func(path string)

	mu sync.Mutex
	// bad is the first error of a blob's reader: the reason of a failed
	// copy, whatever words the destination's writer (an HTTP client) put
	// around it.
	bad error
}

// badBlob returns the first error of a blob's reader, if any.
func (s *source) badBlob() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}

// openSource opens the image src names: the one tagged src.Tag, else the
// layout's only image. storeDir is the Nix store, into which blobs may
// link.
func openSource(ctx context.Context, src Ref, storeDir string) (*source, error) {
	if src.Transport != OCI {
		return nil, fmt.Errorf("source %s: only image layouts can be copied", src)
	}
	s := &source{ctx: ctx, dir: src.Path, storeDir: storeDir}
	if err := s.read(src.Tag); err != nil {
		return nil, fmt.Errorf("source %s: %w", src, err)
	}
	return s, nil
}

// read reads index.json, the manifest tagged tag and its configuration,
// and finds every layer.
func (s *source) read(tag string) error {
	f, err := s.openFile(filepath.Join(s.dir, "index.json"), "the index")
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("not an OCI image layout: %s has no index.json", s.dir)
	}
	if err != nil {
		return err
	}
	data, err := readlimit.Open(f, "an image index", readlimit.ImageJSON)
	f.Close()
	if err != nil {
		return err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	var found []v1.Descriptor
	var tags []string
	for _, d := range idx.Manifests {
		t := d.Annotations[refNameAnnotation]
		tags = append(tags, t)
		if tag == "" || t == tag {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0 && tag != "":
		return fmt.Errorf("no image tagged %q (the layout has %s)", tag, strings.Join(tags, ", "))
	case len(found) == 0:
		return errors.New("the layout holds no image")
	case len(found) > 1:
		return fmt.Errorf("the layout holds %d images: name one with oci:DIR:TAG (tags: %s)", len(found), strings.Join(tags, ", "))
	}
	s.desc, s.tag = found[0], found[0].Annotations[refNameAnnotation]
	if !s.desc.MediaType.IsImage() {
		return fmt.Errorf("%s is a %s, not an image manifest", s.desc.Digest, s.desc.MediaType)
	}
	if s.manifest, err = s.readJSON(s.desc, "the manifest"); err != nil {
		return err
	}
	if s.m, err = v1.ParseManifest(bytes.NewReader(s.manifest)); err != nil {
		return fmt.Errorf("the manifest %s: %w", s.desc.Digest, err)
	}
	if s.config, err = s.readJSON(s.m.Config, "the configuration"); err != nil {
		return err
	}
	// Every layer is there with its size (and is no link out of the
	// store) before anything is written.
	for i, l := range s.m.Layers {
		rc, err := s.openBlob(l, s.layerName(i))
		if err != nil {
			return err
		}
		rc.Close()
	}
	return nil
}

// layerName names layer i in messages.
func (s *source) layerName(i int) string {
	return fmt.Sprintf("layer %d of %d", i+1, len(s.m.Layers))
}

// readJSON reads the small blob d (a manifest, a configuration), checked.
func (s *source) readJSON(d v1.Descriptor, what string) ([]byte, error) {
	if d.Size < 0 || d.Size > readlimit.ImageJSON {
		return nil, fmt.Errorf("%s: its descriptor gives the size %d, over the limit of %d for %s", what, d.Size, readlimit.ImageJSON, "a manifest or configuration")
	}
	rc, err := s.openBlob(d, what)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// openBlob opens the blob d, what naming it in errors, as a reader that
// checks its bytes.
func (s *source) openBlob(d v1.Descriptor, what string) (io.ReadCloser, error) {
	if d.Size < 0 {
		return nil, fmt.Errorf("%s: its descriptor gives the size %d", what, d.Size)
	}
	f, err := s.openFile(filepath.Join(s.dir, "blobs", d.Digest.Algorithm, d.Digest.Hex), what)
	if err != nil {
		return nil, err
	}
	b, err := newBlobReader(s.ctx, f, d, what)
	if err != nil {
		f.Close()
		return nil, err
	}
	b.onBad = func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.bad == nil {
			s.bad = err
		}
	}
	return b, nil
}

// openFile opens the file p of the layout, what naming it in errors,
// following a symbolic link only to a regular file in the store (the store
// directory as it is named or with its own links resolved). The file
// opened is never a link itself (O_NOFOLLOW), so a file swapped for a link
// after the check is refused.
func (s *source) openFile(p, what string) (*os.File, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %s is a symbolic link that does not resolve: %w", what, p, err)
		}
		if !s.inStore(target) {
			return nil, fmt.Errorf("%s: %s is a symbolic link to %s, outside the store %s", what, p, target, s.storeDir)
		}
		p = target
	}
	if s.beforeOpen != nil {
		s.beforeOpen(p)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s: %s became a symbolic link while it was read", what, p)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %s is not a regular file", what, p)
	}
	return f, nil
}

// inStore tells whether the path p (links resolved) is in the store.
func (s *source) inStore(p string) bool {
	if strings.HasPrefix(p, s.storeDir+"/") {
		return true
	}
	real, err := filepath.EvalSymlinks(s.storeDir)
	return err == nil && strings.HasPrefix(p, real+"/")
}

// blob is one blob of the image, to write.
type blob struct {
	desc v1.Descriptor
	what string
	// data is the blob's bytes when they are read already (the manifest,
	// the configuration: checked when the source was opened).
	data []byte
}

// blobs lists the image's blobs, each once: its layers, configuration and
// manifest.
func (s *source) blobs() []blob {
	var out []blob
	seen := map[v1.Hash]bool{}
	for i, l := range s.m.Layers {
		if !seen[l.Digest] {
			seen[l.Digest] = true
			out = append(out, blob{desc: l, what: s.layerName(i)})
		}
	}
	if !seen[s.m.Config.Digest] {
		seen[s.m.Config.Digest] = true
		out = append(out, blob{desc: s.m.Config, what: "the configuration", data: s.config})
	}
	if !seen[s.desc.Digest] {
		out = append(out, blob{desc: s.desc, what: "the manifest", data: s.manifest})
	}
	return out
}

// open opens the blob b as a reader that checks it.
func (s *source) open(b blob) (io.ReadCloser, error) {
	if b.data != nil {
		return io.NopCloser(bytes.NewReader(b.data)), nil
	}
	return s.openBlob(b.desc, b.what)
}

// image is the source as go-containerregistry's v1.Image, for the
// registry and docker-archive writers.
func (s *source) image() (v1.Image, error) { return partial.CompressedToImage(s) }

func (s *source) RawManifest() ([]byte, error)   { return s.manifest, nil }
func (s *source) RawConfigFile() ([]byte, error) { return s.config, nil }

func (s *source) MediaType() (types.MediaType, error) {
	if s.m.MediaType != "" {
		return s.m.MediaType, nil
	}
	return s.desc.MediaType, nil
}

// LayerByDigest returns the layer blob h of the manifest, or its
// configuration.
func (s *source) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for i, l := range s.m.Layers {
		if l.Digest == h {
			return &sourceLayer{s: s, b: blob{desc: l, what: s.layerName(i)}}, nil
		}
	}
	if h == s.m.Config.Digest {
		return &sourceLayer{s: s, b: blob{desc: s.m.Config, what: "the configuration", data: s.config}}, nil
	}
	return nil, fmt.Errorf("the manifest has no layer %s", h)
}

// sourceLayer is a blob of a source, as a layer.
type sourceLayer struct {
	s *source
	b blob
}

func (l *sourceLayer) Digest() (v1.Hash, error)            { return l.b.desc.Digest, nil }
func (l *sourceLayer) Size() (int64, error)                { return l.b.desc.Size, nil }
func (l *sourceLayer) MediaType() (types.MediaType, error) { return l.b.desc.MediaType, nil }
func (l *sourceLayer) Compressed() (io.ReadCloser, error)  { return l.s.open(l.b) }
func (l *sourceLayer) Descriptor() (*v1.Descriptor, error) { d := l.b.desc; return &d, nil }
