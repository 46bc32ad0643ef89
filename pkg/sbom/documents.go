package sbom

import "sync"

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
// SLSA provenance, in that order. The input is checked once, and the three
// are encoded at once (each depends only on the input).
func Documents(in Input) ([]Document, error) {
	comps, mhex, err := prepare(in)
	if err != nil {
		return nil, err
	}
	encoders := []func(Input, []Component, string) ([]byte, error){cycloneDX, spdx, provenance}
	data := make([][]byte, len(encoders))
	errs := make([]error, len(encoders))
	var wg sync.WaitGroup
	for i, encode := range encoders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data[i], errs[i] = encode(in, comps, mhex)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return []Document{
		{ArtifactType: CycloneDXType, Title: "sbom.cdx.json", Data: data[0]},
		{ArtifactType: SPDXType, Title: "sbom.spdx.json", Data: data[1]},
		{ArtifactType: InTotoType, Title: "provenance.intoto.json", Data: data[2],
			Annotations: map[string]string{PredicateTypeAnnotation: SLSAProvenance}},
	}, nil
}
