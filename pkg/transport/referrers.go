package transport

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// LayoutReferrers returns the artifacts of the image layout dir whose
// subject is the manifest subject (an image's SBOMs and provenance, as
// oci-builder attaches them), in index.json's order, with their
// descriptors.
func LayoutReferrers(dir string, subject v1.Hash) ([]v1.Image, []v1.Descriptor, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	var imgs []v1.Image
	var descs []v1.Descriptor
	for _, d := range im.Manifests {
		if !isArtifact(d) {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("artifact %s: %w", d.Digest, err)
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, nil, fmt.Errorf("artifact %s: %w", d.Digest, err)
		}
		if m.Subject == nil || m.Subject.Digest != subject {
			continue
		}
		imgs = append(imgs, img)
		descs = append(descs, d)
	}
	return imgs, descs, nil
}

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
func pushReferrers(repo name.Repository, refs []v1.Image, ropts []remote.Option) error {
	for _, img := range refs {
		d, err := img.Digest()
		if err != nil {
			return err
		}
		if err := remote.Write(repo.Digest(d.String()), img, ropts...); err != nil {
			return fmt.Errorf("artifact %s: %w", d, err)
		}
	}
	return nil
}

// appendReferrers adds the artifacts to the layout at dir, untagged, with
// their descriptors (artifactType included).
func appendReferrers(dir string, refs []v1.Image, descs []v1.Descriptor) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		return err
	}
	for i, img := range refs {
		if err := p.WriteImage(img); err != nil {
			return err
		}
		if err := p.AppendDescriptor(descs[i]); err != nil {
			return err
		}
	}
	return nil
}
