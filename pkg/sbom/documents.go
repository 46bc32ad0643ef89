package sbom

// Document is one of an image's documents, attached to it as an OCI 1.1
// artifact: a manifest whose artifactType is ArtifactType, whose one layer
// is Data (of that media type) and whose subject is the image manifest.
type Document struct {
	// ArtifactType is the document's media type and the artifact's type.
	ArtifactType string
	// Title is a file name for it (the layer's
	// org.opencontainers.image.title, which tools such as oras use).
	Title string
	// Annotations are the artifact manifest's annotations.
	Annotations map[string]string
	// Data is the document.
	Data []byte
}

// Documents returns the image's three documents: CycloneDX, SPDX and the
// SLSA provenance, in that order.
func Documents(in Input) ([]Document, error) {
	cdx, err := CycloneDX(in)
	if err != nil {
		return nil, err
	}
	spdx, err := SPDX(in)
	if err != nil {
		return nil, err
	}
	prov, err := Provenance(in)
	if err != nil {
		return nil, err
	}
	return []Document{
		{ArtifactType: CycloneDXType, Title: "sbom.cdx.json", Data: cdx},
		{ArtifactType: SPDXType, Title: "sbom.spdx.json", Data: spdx},
		{ArtifactType: InTotoType, Title: "provenance.intoto.json", Data: prov,
			Annotations: map[string]string{PredicateTypeAnnotation: SLSAProvenance}},
	}, nil
}
