package transport

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/outside"
)

// maxDocument bounds the size of a document, manifest or index.json read
// into memory.
const maxDocument = 256 << 20

// ErrNoDocument is wrapped by ReadDocument's error for an image that has
// no document of the type asked.
var ErrNoDocument = errors.New("no such document attached")

// ParseImage parses the image of `oci-builder sbom`: an image layout
// (oci:DIR[:TAG] or DIR), an archive holding one (oci-archive:FILE, or a
// FILE: an oci-archive, or a docker-archive with index.json as Docker 25
// and dockerTools-style archives have) or a registry's image
// (docker://HOST/REPO:TAG or @DIGEST).
func ParseImage(s string) (Ref, error) {
	transport, rest, ok := strings.Cut(s, ":")
	switch {
	case s == "":
		return Ref{}, errors.New("empty image name")
	case ok && transport == Docker:
		return parse(s, "image")
	case ok && (transport == OCIArchive || transport == DockerArchive):
		if rest == "" {
			return Ref{}, fmt.Errorf("image %q names no file", s)
		}
		// A docker-archive's :REF does not matter: it is read whole.
		if transport == DockerArchive {
			rest, _, _ = strings.Cut(rest, ":")
		}
		return Ref{Transport: OCIArchive, Path: rest}, nil
	case ok && transport == OCI:
		return parsePathTag(OCI, rest, s)
	}
	if fi, err := os.Stat(s); err == nil && fi.Mode().IsRegular() {
		return Ref{Transport: OCIArchive, Path: s}, nil
	}
	return ParseSource(s)
}

// ReadDocument returns the document of media type artifactType attached
// to the image ref names (an SBOM or a provenance, as oci-builder attaches
// them: an OCI 1.1 artifact whose subject is the image manifest). From a
// layout or an archive, the artifact is found in index.json and every
// blob read is checked against its digest; from a registry, through its
// referrers API or the sha256-<digest> fallback tag (go-containerregistry
// checks the blobs). Where ref names an image index (buildImageIndex's),
// the document is that of its image for opts' platform.
func ReadDocument(ctx context.Context, ref Ref, artifactType string, opts Options) ([]byte, error) {
	switch ref.Transport {
	case OCI:
		return layoutDocument(ref, artifactType, opts, func(d digest.Digest) ([]byte, error) {
			return readBlobFile(ref.Path, d)
		})
	case OCIArchive:
		return layoutDocument(ref, artifactType, opts, func(d digest.Digest) ([]byte, error) {
			return readTarMember(ref.Path, d)
		})
	case Docker:
		return registryDocument(ctx, ref, artifactType, opts)
	}
	return nil, fmt.Errorf("%s: cannot read documents from a %s", ref, ref.Transport)
}

// layoutDocument finds the document in a layout whose blobs blob reads
// (index.json under the empty digest).
func layoutDocument(ref Ref, artifactType string, opts Options, blob func(digest.Digest) ([]byte, error)) ([]byte, error) {
	raw, err := blob("")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(raw, &index); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", ref, err)
	}
	var images []v1.Descriptor
	var tags []string
	for _, d := range index.Manifests {
		if isArtifact(d) || !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
			continue
		}
		t := d.Annotations[refNameAnnotation]
		tags = append(tags, t)
		if ref.Tag == "" || t == ref.Tag {
			images = append(images, d)
		}
	}
	switch {
	case len(images) == 0 && ref.Tag != "":
		return nil, fmt.Errorf("%s: no image tagged %q (the layout has %s)", ref, ref.Tag, strings.Join(tags, ", "))
	case len(images) == 0:
		return nil, fmt.Errorf("%s: holds no image", ref)
	case len(images) > 1:
		return nil, fmt.Errorf("%s: holds %d images: name one with oci:DIR:TAG (tags: %s)", ref, len(images), strings.Join(tags, ", "))
	}
	subject := images[0].Digest
	if images[0].MediaType.IsIndex() {
		raw, err := blob(digest.Digest(subject.String()))
		if err != nil {
			return nil, fmt.Errorf("%s: the image index %s: %w", ref, subject, err)
		}
		d, err := platformManifest(raw, opts.platform())
		if err != nil {
			return nil, fmt.Errorf("%s: the image index %s: %w", ref, subject, err)
		}
		subject = d.Digest
	}
	for _, d := range index.Manifests {
		if d.ArtifactType != artifactType || !d.MediaType.IsImage() {
			continue
		}
		raw, err := blob(digest.Digest(d.Digest.String()))
		if err != nil {
			return nil, fmt.Errorf("%s: artifact %s: %w", ref, d.Digest, err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%s: artifact %s: %w", ref, d.Digest, err)
		}
		if m.Subject == nil || m.Subject.Digest != subject {
			continue
		}
		if len(m.Layers) != 1 || string(m.Layers[0].MediaType) != artifactType {
			return nil, fmt.Errorf("%s: artifact %s does not hold one %s document", ref, d.Digest, artifactType)
		}
		data, err := blob(digest.Digest(m.Layers[0].Digest.String()))
		if err != nil {
			return nil, fmt.Errorf("%s: document %s: %w", ref, m.Layers[0].Digest, err)
		}
		return data, nil
	}
	return nil, fmt.Errorf("%s: %w: the image %s has no %s artifact", ref, ErrNoDocument, subject, artifactType)
}

// blobName is the name of a layout's blob d, index.json for the empty
// digest.
func blobName(d digest.Digest) (string, error) {
	if d == "" {
		return "index.json", nil
	}
	if err := d.Validate(); err != nil {
		return "", err
	}
	return "blobs/" + string(d.Algorithm()) + "/" + d.Encoded(), nil
}

// readBlobFile reads the blob d of the layout dir (index.json for the
// empty digest), checking its digest.
func readBlobFile(dir string, d digest.Digest) ([]byte, error) {
	name, err := blobName(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readChecked(f, d)
}

// readTarMember reads the blob d of the layout in the tar archive
// (index.json for the empty digest), checking its digest.
func readTarMember(archive string, d digest.Digest) ([]byte, error) {
	member, err := blobName(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF && d == "" {
			return nil, errors.New("no index.json in the archive: not an OCI layout's (a docker-archive without one has no place for documents)")
		}
		if err == io.EOF {
			return nil, fmt.Errorf("no %s in the archive", member)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", archive, err)
		}
		if strings.TrimPrefix(h.Name, "./") == member && h.Typeflag == tar.TypeReg {
			return readChecked(tr, d)
		}
	}
}

// readChecked reads r whole (at most maxDocument bytes) and checks its
// digest when d is not empty.
func readChecked(r io.Reader, d digest.Digest) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxDocument+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDocument {
		return nil, fmt.Errorf("larger than %d MiB", maxDocument>>20)
	}
	if d != "" {
		if got := d.Algorithm().FromBytes(data); got != d {
			return nil, fmt.Errorf("blob %s has the digest %s", d, got)
		}
	}
	return data, nil
}

// registryDocument asks the registry for the image's referrers (its API,
// else the fallback tag) and returns the first artifact of the type.
func registryDocument(ctx context.Context, ref Ref, artifactType string, opts Options) ([]byte, error) {
	var nameOpts []name.Option
	if opts.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref.Name, nameOpts...)
	if err != nil {
		return nil, err
	}
	auth, from, err := authenticator(r.Context(), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	// failed explains a failed request (explain), naming the image.
	failed := func(err error) error {
		return fmt.Errorf("%s: %w", ref, explain(err, r.Context().RegistryStr(), from, opts.FlagPrefix))
	}
	rt := opts.roundTripper()
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt), remote.WithUserAgent("oci-builder")}
	desc, err := remote.Head(r, ropts...)
	if err != nil {
		return nil, failed(err)
	}
	subject := r.Context().Digest(desc.Digest.String())
	if desc.MediaType.IsIndex() {
		raw, err := remote.Get(subject, ropts...)
		if err != nil {
			return nil, failed(err)
		}
		d, err := platformManifest(raw.Manifest, opts.platform())
		if err != nil {
			return nil, fmt.Errorf("%s: the image index %s: %w", ref, desc.Digest, err)
		}
		desc.Digest = d.Digest
		subject = r.Context().Digest(d.Digest.String())
	}
	idx, err := remote.Referrers(subject, ropts...)
	if err != nil {
		return nil, failed(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.ArtifactType != artifactType {
			continue
		}
		img, err := remote.Image(r.Context().Digest(d.Digest.String()), ropts...)
		if err != nil {
			return nil, failed(err)
		}
		layers, err := img.Layers()
		if err != nil {
			return nil, err
		}
		if len(layers) != 1 {
			return nil, fmt.Errorf("%s: artifact %s does not hold one document", ref, d.Digest)
		}
		ld, err := layers[0].Digest()
		if err != nil {
			return nil, err
		}
		rc, err := layers[0].Compressed()
		if err != nil {
			return nil, failed(err)
		}
		defer rc.Close()
		return readChecked(rc, digest.Digest(ld.String()))
	}
	return nil, fmt.Errorf("%s: %w: the image %s has no %s referrer", ref, ErrNoDocument, desc.Digest, artifactType)
}

// platformManifest is the manifest of platform p in the image index raw.
func platformManifest(raw []byte, p v1.Platform) (v1.Descriptor, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, err
	}
	var have []string
	for _, d := range idx.Manifests {
		if d.Platform == nil || !d.MediaType.IsImage() {
			continue
		}
		have = append(have, d.Platform.String())
		pp := d.Platform
		if outside.PlatformMatches(*ociPlatform(p), ocispec.Platform{OS: pp.OS, Architecture: pp.Architecture, Variant: pp.Variant}) {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("no image for %s (it has %s): choose one with --override-arch", p.String(), strings.Join(have, ", "))
}
