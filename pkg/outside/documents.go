package outside

import (
	"errors"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Document is an artifact attached to an image (an SBOM, a provenance
// statement: an OCI 1.1 manifest whose subject is the image's manifest),
// as index.json lists it beside the image, read whole and checked.
type Document struct {
	// Descriptor is the artifact manifest's descriptor in index.json.
	Descriptor v1.Descriptor
	// Blobs are the artifact's manifest, configuration and layers, each
	// the bytes of its digest.
	Blobs map[digest.Digest][]byte
}

// Documents reads the artifacts that the file's index.json lists whose
// subject is the image (a layout's, an oci-archive's, and a
// docker-archive's with an index.json, as the dockerTools-style results
// and Docker 25's archives have): every blob checked against its
// descriptor, at most maxJSON bytes each. An image without index.json has
// none. Call it after Verify (a Docker archive's manifest is made then).
func (im *Image) Documents() ([]Document, error) {
	if !im.verified {
		return nil, errors.New("outside: Documents before Verify")
	}
	if !im.src.has(v1.ImageIndexFile) {
		return nil, nil
	}
	data, err := im.readFile(v1.ImageIndexFile, nil)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", im.Path, err)
	}
	var idx v1.Index
	if err := decodeJSON(v1.ImageIndexFile, data, &idx); err != nil {
		return nil, fmt.Errorf("image %s: %w", im.Path, err)
	}
	subject := im.Digest()
	var docs []Document
	for _, d := range idx.Manifests {
		if !isArtifact(d) {
			continue
		}
		doc, ok, err := im.readDocument(d, subject)
		if err != nil {
			return nil, fmt.Errorf("image %s: artifact %s: %w", im.Path, d.Digest, err)
		}
		if ok {
			docs = append(docs, doc)
		}
	}
	return docs, nil
}

// readDocument reads the artifact d, and tells whether its subject is
// subject (another image's artifacts are skipped).
func (im *Image) readDocument(d v1.Descriptor, subject digest.Digest) (Document, bool, error) {
	doc := Document{Descriptor: d, Blobs: map[digest.Digest][]byte{}}
	read := func(want v1.Descriptor) ([]byte, error) {
		if err := checkSHA256(want.Digest); err != nil {
			return nil, fmt.Errorf("digest %w", err)
		}
		data, err := im.readFile(blobName(want.Digest), &want)
		if err != nil {
			return nil, err
		}
		doc.Blobs[want.Digest] = data
		return data, nil
	}
	raw, err := read(d)
	if err != nil {
		return doc, false, err
	}
	var m v1.Manifest
	if err := decodeJSON("the artifact manifest", raw, &m); err != nil {
		return doc, false, err
	}
	if m.Subject == nil || m.Subject.Digest != subject {
		return doc, false, nil
	}
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if _, err := read(b); err != nil {
			return doc, false, err
		}
	}
	return doc, true, nil
}
