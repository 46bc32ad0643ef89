package ociarchive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Archive is an image archive open for reading: its entries are found
// once, and read in place (no extraction).
type Archive struct {
	f       *os.File
	path    string
	entries map[string]section
}

// section is where an entry's bytes are in the file.
type section struct{ off, size int64 }

// Open opens the archive at path and indexes its regular files. A
// compressed archive (gzip, zstd, as dockerTools' are) is refused, naming
// the tool that decompresses it.
func Open(path string) (*Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	a := &Archive{f: f, path: path, entries: map[string]section{}}
	if err := a.index(); err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

// offsetReader reads a file through its own offset, and seeks (so that
// archive/tar skips entries' bytes instead of reading them).
type offsetReader struct {
	f   *os.File
	off int64
}

func (r *offsetReader) Read(p []byte) (int, error) {
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *offsetReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		r.off = offset
	case io.SeekCurrent:
		r.off += offset
	case io.SeekEnd:
		fi, err := r.f.Stat()
		if err != nil {
			return 0, err
		}
		r.off = fi.Size() + offset
	}
	return r.off, nil
}

func (a *Archive) index() error {
	magic := make([]byte, 4)
	if n, _ := a.f.ReadAt(magic, 0); n == 4 {
		switch {
		case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
			return fmt.Errorf("%s is a gzip-compressed archive: decompress it first (gunzip -c %s > image.tar)", a.path, a.path)
		case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			return fmt.Errorf("%s is a zstd-compressed archive: decompress it first (zstd -dc %s > image.tar)", a.path, a.path)
		}
	}
	r := &offsetReader{f: a.f}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s is not a tar archive: %w", a.path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := h.Name
		for len(name) > 2 && name[:2] == "./" {
			name = name[2:]
		}
		a.entries[name] = section{off: r.off, size: h.Size}
	}
	return nil
}

// Close closes the archive's file.
func (a *Archive) Close() error { return a.f.Close() }

// Has tells whether the archive has the regular file name.
func (a *Archive) Has(name string) bool {
	_, ok := a.entries[name]
	return ok
}

// Names are the archive's regular files, sorted.
func (a *Archive) Names() []string {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// OpenFile opens the regular file name for reading.
func (a *Archive) OpenFile(name string) (io.Reader, error) {
	s, ok := a.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s has no %s", a.path, name)
	}
	return io.NewSectionReader(a.f, s.off, s.size), nil
}

// ReadFile reads the regular file name (a small one: index.json,
// manifest.json, a configuration).
func (a *Archive) ReadFile(name string) ([]byte, error) {
	s, ok := a.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s has no %s", a.path, name)
	}
	if s.size > 64<<20 {
		return nil, fmt.Errorf("%s: %s is %d bytes, too big", a.path, name, s.size)
	}
	data := make([]byte, s.size)
	if _, err := a.f.ReadAt(data, s.off); err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", a.path, name, err)
	}
	return data, nil
}

// Index reads the archive's index.json.
func (a *Archive) Index() (*v1.Index, error) {
	data, err := a.ReadFile("index.json")
	if err != nil {
		return nil, err
	}
	var idx v1.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", a.path, err)
	}
	return &idx, nil
}

// Open opens the blob d (blobs/ALGORITHM/HEX) and says its size; the
// reader does not check the digest (Write does, as it copies).
func (a *Archive) Open(d digest.Digest) (io.ReadCloser, int64, error) {
	if err := d.Validate(); err != nil {
		return nil, 0, err
	}
	s, ok := a.entries[blobName(d)]
	if !ok {
		return nil, 0, fmt.Errorf("%s has no blob %s", a.path, d)
	}
	return io.NopCloser(io.NewSectionReader(a.f, s.off, s.size)), s.size, nil
}

// Images pairs the image manifests of the archive's index.json with the
// RepoTags of its manifest.json, which list them in the same order (as
// Write writes them), each with the artifacts listed after it: the images
// of the archive, for Write (mergeImages).
func (a *Archive) Images() ([]Image, error) {
	idx, err := a.Index()
	if err != nil {
		return nil, err
	}
	data, err := a.ReadFile("manifest.json")
	if err != nil {
		return nil, err
	}
	entries, err := Manifests(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.path, err)
	}
	// The index's images, each with the artifacts listed after it.
	var images []Image
	for _, d := range idx.Manifests {
		if d.ArtifactType != "" {
			if len(images) == 0 {
				return nil, fmt.Errorf("%s: index.json lists the artifact %s before any image", a.path, d.Digest)
			}
			images[len(images)-1].Referrers = append(images[len(images)-1].Referrers, d)
			continue
		}
		d.Annotations = nil
		images = append(images, Image{Manifest: d})
	}
	if len(entries) != len(images) {
		return nil, fmt.Errorf("%s: index.json has %d images, manifest.json %d", a.path, len(images), len(entries))
	}
	for i, e := range entries {
		if len(e.RepoTags) == 0 {
			return nil, fmt.Errorf("%s: image %d has no name in manifest.json", a.path, i+1)
		}
		images[i].RepoTag = e.RepoTags[0]
	}
	return images, nil
}
