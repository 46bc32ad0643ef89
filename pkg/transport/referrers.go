package transport

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// An image's SBOMs and provenance are OCI 1.1 artifacts whose subject is
// the image's manifest, listed in the layout's index.json beside it. The
// source reads those of the image it copies (source.referrers), checked as
// the image is, and every destination but a docker-archive receives them.

// isArtifact tells an artifact's descriptor (an SBOM, a provenance) from an
// image's: a manifest with an artifactType that is not an image
// configuration's media type (go-containerregistry gives images' index
// entries their configuration's as artifactType).
func isArtifact(d v1.Descriptor) bool {
	switch types.MediaType(d.ArtifactType) {
	case "", types.OCIConfigJSON, types.DockerConfigJSON:
		return false
	}
	return d.MediaType.IsImage()
}

// pushReferrers uploads the artifacts whose subject is an image already
// pushed to repo, by digest: go-containerregistry then lists each under
// the subject, through the registry's referrers API when it has one (the
// registry does it), else in the index tagged sha256-<subject digest>
// (OCI 1.1's fallback, which it updates).
func pushReferrers(repo name.Repository, refs []*source, ropts []remote.Option) error {
	for _, r := range refs {
		img, err := r.image()
		if err != nil {
			return err
		}
		if err := remote.Write(repo.Digest(r.desc.Digest.String()), img, ropts...); err != nil {
			return fmt.Errorf("artifact %s: %w", r.desc.Digest, err)
		}
	}
	return nil
}
