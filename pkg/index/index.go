// Package index writes multi-platform images: an OCI image layout whose
// index.json names one image index, tagged, over images built for
// several platforms (ociTools.buildImageIndex). Each entry of the image
// index carries its image's platform (os, architecture and variant, from
// the image's configuration), so that a client asking for one platform
// gets that one. The images' documents (their SBOMs and provenance,
// artifacts whose subject is the image) come along: index.json lists them
// after the index, untagged, as an image layout lists them after its
// image.
package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/outside"
)

// Entry is one image of an index, opened and verified
// (outside.Image.Verify).
type Entry struct {
	Image *outside.Image
}

// Platform is the entry's platform: its configuration's os,
// architecture and variant (arm64's variant is v8 when the configuration
// names none).
func (e Entry) Platform() (v1.Platform, error) {
	c := e.Image.Config
	p := v1.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}
	if p.OS == "" || p.Architecture == "" {
		return p, fmt.Errorf("image %s: its configuration names no os or architecture", e.Image.Path)
	}
	if p.Architecture == "arm64" && p.Variant == "" {
		p.Variant = "v8"
	}
	return p, nil
}

// Result describes a written index.
type Result struct {
	// Index is the descriptor of the image index.
	Index v1.Descriptor
	// Manifests are its entries.
	Manifests []v1.Descriptor
	// Documents are the images' artifacts (SBOMs, provenance), listed in
	// index.json after the index.
	Documents []v1.Descriptor
}

// Write creates the image layout out (which must not exist) holding
// every entry's blobs (copied, each checked again as it is copied), the
// image index over them and index.json naming it, tagged tag. Two entries
// for one platform are refused.
func Write(ctx context.Context, out, tag string, entries []Entry) (Result, error) {
	var res Result
	if len(entries) == 0 {
		return res, errors.New("an image index needs at least one image")
	}
	seen := map[string]string{}
	for _, e := range entries {
		p, err := e.Platform()
		if err != nil {
			return res, err
		}
		key := outside.PlatformString(p)
		if other, ok := seen[key]; ok {
			return res, fmt.Errorf("images %s and %s are both for %s: an index has one image per platform", other, e.Image.Path, key)
		}
		seen[key] = e.Image.Path
	}
	blobs := filepath.Join(out, v1.ImageBlobsDir, string(digest.SHA256))
	if err := os.Mkdir(out, 0o755); err != nil {
		return res, fmt.Errorf("create output directory: %w", err)
	}
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return res, err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		d, err := copyImage(blobs, e)
		if err != nil {
			return res, err
		}
		res.Manifests = append(res.Manifests, d)
		docs, err := copyDocuments(blobs, e)
		if err != nil {
			return res, err
		}
		res.Documents = append(res.Documents, docs...)
	}
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: res.Manifests}
	var err error
	if res.Index, err = writeJSON(blobs, v1.MediaTypeImageIndex, idx); err != nil {
		return res, err
	}
	top := res.Index
	top.Annotations = map[string]string{v1.AnnotationRefName: tag}
	for _, f := range []struct {
		name string
		v    any
	}{
		{v1.ImageLayoutFile, v1.ImageLayout{Version: v1.ImageLayoutVersion}},
		{v1.ImageIndexFile, v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: append([]v1.Descriptor{top}, res.Documents...)}},
	} {
		data, err := json.Marshal(f.v)
		if err != nil {
			return res, err
		}
		if err := os.WriteFile(filepath.Join(out, f.name), data, 0o644); err != nil {
			return res, err
		}
	}
	return res, nil
}

// copyImage copies an entry's manifest, configuration and layers into
// blobs and describes its manifest for the index.
func copyImage(blobs string, e Entry) (v1.Descriptor, error) {
	im := e.Image
	p, err := e.Platform()
	if err != nil {
		return v1.Descriptor{}, err
	}
	for i, l := range im.Layers {
		if err := copyLayer(blobs, im, i, l.Digest); err != nil {
			return v1.Descriptor{}, err
		}
	}
	if _, err := writeBlob(blobs, im.RawConfig); err != nil {
		return v1.Descriptor{}, err
	}
	d, err := writeBlob(blobs, im.RawManifest)
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt := im.Manifest.MediaType
	if mt == "" {
		mt = v1.MediaTypeImageManifest
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(im.RawManifest)), Platform: &p}, nil
}

// copyDocuments copies the blobs of an entry's documents into blobs and
// gives their descriptors, without the names (tags) they had.
func copyDocuments(blobs string, e Entry) ([]v1.Descriptor, error) {
	docs, err := e.Image.Documents()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, doc := range docs {
		for _, data := range doc.Blobs {
			if _, err := writeBlob(blobs, data); err != nil {
				return nil, err
			}
		}
		d := doc.Descriptor
		d.Annotations = withoutRefName(d.Annotations)
		out = append(out, d)
	}
	return out, nil
}

// withoutRefName is a copy of annotations without the layout's
// reference name, nil when nothing else is left.
func withoutRefName(annotations map[string]string) map[string]string {
	var out map[string]string
	for k, v := range annotations {
		if k == v1.AnnotationRefName {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// copyLayer copies layer i of im to blobs, once.
func copyLayer(blobs string, im *outside.Image, i int, d digest.Digest) error {
	dest := filepath.Join(blobs, d.Encoded())
	if _, err := os.Lstat(dest); err == nil {
		return nil // shared with an image copied before
	}
	tmp := dest + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = im.CopyLayer(i, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dest)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy layer %d of %s: %w", i+1, im.Path, err)
	}
	return nil
}

// writeBlob stores data under its digest (once).
func writeBlob(blobs string, data []byte) (digest.Digest, error) {
	d := digest.FromBytes(data)
	p := filepath.Join(blobs, d.Encoded())
	if _, err := os.Lstat(p); err == nil {
		return d, nil
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return d, err
	}
	return d, nil
}

// writeJSON stores v as a blob of media type mt.
func writeJSON(blobs, mt string, v any) (v1.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := writeBlob(blobs, data)
	return v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(data))}, err
}
