package image

import (
	"fmt"

	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/sbom"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// SBOMOptions are what an image's documents (package sbom) say beyond its
// closure and the image itself.
type SBOMOptions struct {
	// Name is the image's name in the documents (default "image").
	Name string
	// Build is how the image was built.
	Build sbom.Build
	// Licenses are the licences the Nix library knew.
	Licenses []sbom.PathLicenses
}

// sbomInput is the documents' input for the image whose manifest is
// manifest.
func (p *Plan) sbomInput(manifest v1.Descriptor) sbom.Input {
	o := p.SBOM
	name := o.Name
	if name == "" {
		name = "image"
	}
	closure := p.Closure
	if !p.Verify {
		// Unverified, the graph's NAR hashes may not even parse (verify
		// false is how such a graph is used): those are left out.
		closure = make([]*store.PathInfo, len(p.Closure))
		for i, info := range p.Closure {
			closure[i] = info
			if _, err := nar.ParseHash(info.NarHash); info.NarHash != "" && err != nil {
				c := *info
				c.NarHash = ""
				closure[i] = &c
			}
		}
	}
	in := sbom.Input{
		Closure: closure,
		Image: sbom.Image{
			Name:         name,
			Tag:          p.Tag,
			Manifest:     manifest.Digest.String(),
			OS:           p.Config.OS,
			Architecture: p.Config.Architecture,
		},
		Build:    o.Build,
		Licenses: o.Licenses,
	}
	if p.Config.Created != nil {
		in.Image.Created = *p.Config.Created
	}
	return in
}

// writeReferrers writes the image's documents as OCI 1.1 artifacts whose
// subject is the image manifest: for each, the document blob, the empty
// configuration and the artifact manifest. It returns the artifact
// manifests' descriptors for index.json.
func writeReferrers(blobs string, p *Plan, manifest v1.Descriptor) ([]v1.Descriptor, error) {
	docs, err := sbom.Documents(p.sbomInput(manifest))
	if err != nil {
		return nil, err
	}
	empty := v1.DescriptorEmptyJSON
	empty.Data = nil
	if _, err := writeBlob(blobs, empty.MediaType, []byte("{}")); err != nil {
		return nil, fmt.Errorf("empty configuration: %w", err)
	}
	subject := v1.Descriptor{MediaType: manifest.MediaType, Digest: manifest.Digest, Size: manifest.Size}
	out := make([]v1.Descriptor, 0, len(docs))
	for _, d := range docs {
		layer, err := writeBlob(blobs, d.ArtifactType, d.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Title, err)
		}
		layer.Annotations = map[string]string{v1.AnnotationTitle: d.Title}
		desc, err := writeJSONBlob(blobs, v1.MediaTypeImageManifest, v1.Manifest{
			Versioned:    specs.Versioned{SchemaVersion: 2},
			MediaType:    v1.MediaTypeImageManifest,
			ArtifactType: d.ArtifactType,
			Config:       empty,
			Layers:       []v1.Descriptor{layer},
			Subject:      &subject,
			Annotations:  d.Annotations,
		})
		if err != nil {
			return nil, fmt.Errorf("%s artifact manifest: %w", d.Title, err)
		}
		desc.ArtifactType = d.ArtifactType
		desc.Annotations = d.Annotations
		out = append(out, desc)
	}
	return out, nil
}

// closureOf is the closure as the documents take it.
func closureOf(infos []*store.PathInfo) []*store.PathInfo {
	out := make([]*store.PathInfo, len(infos))
	copy(out, infos)
	return out
}
