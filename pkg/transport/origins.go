package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/ociarchive"
	"github.com/oci-builder/oci-builder/pkg/outside"
)

// Sources other than layouts: an archive (read and checked whole by
// package outside before anything is written) and a registry's image
// (go-containerregistry checks each blob against its digest as it is
// read) become a source as a layout's image is, so that every
// destination's writer takes them; their blobs are opened by the source's
// opener instead of from a layout's files. A layout's image index
// (buildImageIndex's) is pushed whole (copyIndex).

// platform is the platform a copy takes from an index when it must take
// one: Options.Platform, else this machine's.
func (o Options) platform() v1.Platform {
	if o.Platform != nil {
		return *o.Platform
	}
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if p.Architecture == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// ociPlatform is p as package outside takes it.
func ociPlatform(p v1.Platform) *ocispec.Platform {
	return &ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
}

// openOrigin opens the image of any source: a layout's (openSource), an
// archive's or a registry's. The caller closes what the returned function
// closes.
func openOrigin(ctx context.Context, src Ref, storeDir string, opts Options) (*source, func(), error) {
	switch src.Transport {
	case OCI:
		s, err := openSource(ctx, src, storeDir)
		if err != nil {
			return nil, nil, err
		}
		return s, s.close, nil
	case OCIArchive, DockerArchive:
		if hasLayout(src.Path) {
			// An OCI layout inside (the dockerTools style's archives,
			// Docker 25's, oci-archives): read as a layout, its SBOMs
			// and provenance with it (archive.go).
			s, err := openSource(ctx, src, storeDir)
			if err != nil {
				return nil, nil, err
			}
			if err := verifyArchive(ctx, src, s, opts); err != nil {
				s.close()
				return nil, nil, err
			}
			return s, s.close, nil
		}
		return openArchive(ctx, src, opts)
	case Docker:
		img, err := OpenRegistryImage(ctx, src.Name, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: %w", src, err)
		}
		s, err := imageSource(ctx, img, tagOf(src.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: %w", src, err)
		}
		return s, func() {}, nil
	}
	return nil, nil, fmt.Errorf("source %s: images are not read from %s", src, src.Transport)
}

// hasLayout tells whether the archive file holds an OCI layout
// (index.json); a compressed archive, or a docker-archive alone, does not
// and is read by package outside.
func hasLayout(file string) bool {
	a, err := ociarchive.Open(file)
	if err != nil {
		return false
	}
	defer a.Close()
	return a.Has("index.json")
}

// tagOf is the tag of a registry reference, if it has one.
func tagOf(ref string) string {
	if t, err := name.NewTag(ref); err == nil {
		return t.TagStr()
	}
	return ""
}

// openArchive opens and checks the image of an archive.
func openArchive(ctx context.Context, src Ref, opts Options) (*source, func(), error) {
	im, err := outside.Open(src.Path, archiveSelector(src, opts))
	if err != nil {
		return nil, nil, fmt.Errorf("source: %w", err)
	}
	if err := im.Verify(ctx); err != nil {
		im.Close()
		return nil, nil, fmt.Errorf("source: %w", err)
	}
	if opts.Log != nil {
		for _, w := range im.Warnings {
			fmt.Fprintf(opts.Log, "oci-builder: warning: %s\n", w)
		}
	}
	img, err := im.V1()
	if err == nil {
		_, tag := splitTag(im.RepoTag)
		var s *source
		if s, err = imageSource(ctx, img, tag); err == nil {
			return s, func() { im.Close() }, nil
		}
	}
	im.Close()
	return nil, nil, fmt.Errorf("source %s: %w", src, err)
}

// archiveSelector picks the image of the archive src as package outside
// reads it: by the oci-archive's TAG, the docker-archive's NAME:TAG, and
// from an index the platform of opts.
func archiveSelector(src Ref, opts Options) outside.Selector {
	sel := outside.Selector{Tag: src.Tag, Platform: ociPlatform(opts.platform())}
	if src.Transport == DockerArchive && src.Name != "" {
		sel.Name, sel.Tag = splitTag(src.Name)
	}
	return sel
}

// verifyArchive checks an archive SRC whole before the copy, as fromImage
// reads it (package outside): every layer's tar and DiffID, no entry
// leaving the root; and that the image it reads there (from Docker's
// manifest.json first, as docker load does) is the one s, read from
// index.json, holds: the same configuration and layer blobs. An archive
// whose two lists name different images is refused: a reviewer's docker
// load would see another image than the one copied.
func verifyArchive(ctx context.Context, src Ref, s *source, opts Options) error {
	im, err := outside.Open(src.Path, archiveSelector(src, opts))
	if err != nil {
		return fmt.Errorf("source %s: %w", src, err)
	}
	defer im.Close()
	if err := im.Verify(ctx); err != nil {
		return fmt.Errorf("source %s: %w", src, err)
	}
	same := im.Manifest.Config.Digest.String() == s.m.Config.Digest.String() && len(im.Layers) == len(s.m.Layers)
	for i := 0; same && i < len(im.Layers); i++ {
		same = im.Layers[i].Digest.String() == s.m.Layers[i].Digest.String()
	}
	if !same {
		return fmt.Errorf("source %s: its index.json names the image %s, and Docker's manifest.json (which docker load reads) another: the archive was changed or damaged", src, s.desc.Digest)
	}
	return nil
}

// splitTag splits NAME:TAG at a colon after the last slash.
func splitTag(rt string) (string, string) {
	for i := len(rt) - 1; i >= 0 && rt[i] != '/'; i-- {
		if rt[i] == ':' {
			return rt[:i], rt[i+1:]
		}
	}
	return rt, ""
}

// imageSource is img as a source, tagged tag: its manifest and
// configuration read now, its layers opened from img.
func imageSource(ctx context.Context, img v1.Image, tag string) (*source, error) {
	s := &source{layoutFiles: &layoutFiles{ctx: ctx}, tag: tag}
	var err error
	if s.manifest, err = img.RawManifest(); err != nil {
		return nil, err
	}
	if s.m, err = img.Manifest(); err != nil {
		return nil, err
	}
	if s.config, err = img.RawConfigFile(); err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	mt := s.m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	s.desc = v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(s.manifest))}
	s.opener = func(b blob) (io.ReadCloser, error) {
		l, err := img.LayerByDigest(b.desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.what, err)
		}
		return l.Compressed()
	}
	return s, nil
}

// OpenRegistryImage reads the image ref names from its registry: the
// platform's image (Options.Platform, else this machine's) when ref is an
// index's. The credentials are Options.AuthFile's (--src-authfile), else
// those of $REGISTRY_AUTH_FILE or Docker's configuration, as a copy's
// destination reads them. go-containerregistry checks the manifest
// against a digest ref names and each blob as it is read.
func OpenRegistryImage(ctx context.Context, ref string, opts Options) (v1.Image, error) {
	r, err := opts.parseReference(ref)
	if err != nil {
		return nil, err
	}
	ropts, from, err := registryOptions(ctx, r.Context(), opts)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r, append(ropts, remote.WithPlatform(opts.platform()))...)
	if err != nil {
		return nil, explain(err, r.Context().RegistryStr(), from, opts.FlagPrefix)
	}
	return img, nil
}

// parseReference parses a registry's image reference, plain HTTP allowed
// when Insecure.
func (o Options) parseReference(ref string) (name.Reference, error) {
	if o.Insecure {
		return name.ParseReference(ref, name.Insecure)
	}
	return name.ParseReference(ref)
}

// registryOptions are the registry client's options for repo: its
// credentials (and where they came from), transport and retries.
func registryOptions(ctx context.Context, repo name.Repository, opts Options) ([]remote.Option, string, error) {
	auth, from, err := authenticator(repo, opts)
	if err != nil {
		return nil, "", err
	}
	backoff := opts.Retry
	if backoff.Steps == 0 {
		backoff = remote.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 3}
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(auth),
		remote.WithTransport(opts.roundTripper()),
		remote.WithRetryBackoff(backoff),
		remote.WithUserAgent("oci-builder"),
	}, from, nil
}

// layoutIndex is a layout's image index (buildImageIndex's): its bytes,
// descriptor and images.
type layoutIndex struct {
	desc   v1.Descriptor
	raw    []byte
	images []*source
}

// openLayoutIndex opens the index the layout src names (by tag, else its
// only entry), or gives nil when that entry is an image.
func openLayoutIndex(ctx context.Context, src Ref, storeDir string) (*layoutIndex, error) {
	lf := &layoutFiles{ctx: ctx, dir: src.Path, storeDir: storeDir}
	f, err := lf.openFile(src.Path+"/index.json", "the index")
	if err != nil {
		return nil, nil // openSource says what is wrong
	}
	data, err := readlimit.Open(f, "an image index", readlimit.ImageJSON)
	f.Close()
	if err != nil {
		return nil, nil
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return nil, nil
	}
	var found, artifacts []v1.Descriptor
	for _, d := range idx.Manifests {
		if isArtifact(d) {
			artifacts = append(artifacts, d)
		} else if src.Tag == "" || d.Annotations[refNameAnnotation] == src.Tag {
			found = append(found, d)
		}
	}
	if len(found) != 1 || !found[0].MediaType.IsIndex() {
		return nil, nil
	}
	li := &layoutIndex{desc: found[0]}
	if li.raw, err = lf.readJSON(li.desc, "the image index"); err != nil {
		return nil, fmt.Errorf("source %s: %w", src, err)
	}
	inner, err := v1.ParseIndexManifest(bytes.NewReader(li.raw))
	if err != nil {
		return nil, fmt.Errorf("source %s: the image index %s: %w", src, li.desc.Digest, err)
	}
	for _, d := range inner.Manifests {
		if !d.MediaType.IsImage() {
			return nil, fmt.Errorf("source %s: the image index %s lists %s, a %s: only images are copied", src, li.desc.Digest, d.Digest, d.MediaType)
		}
		s := &source{layoutFiles: lf, desc: d, of: " of the image " + d.Digest.String()}
		if err := s.readManifest(); err != nil {
			return nil, fmt.Errorf("source %s: %w", src, err)
		}
		if err := s.readContents(); err != nil {
			return nil, fmt.Errorf("source %s: %w", src, err)
		}
		li.images = append(li.images, s)
	}
	// The images' documents (buildImageIndex lists them after the index).
	if err := attachReferrers(lf, li.images, artifacts); err != nil {
		return nil, fmt.Errorf("source %s: %w", src, err)
	}
	return li, nil
}

// platformImage is the index's image for the platform p.
func (li *layoutIndex) platformImage(p v1.Platform) (*source, error) {
	var have []string
	for _, s := range li.images {
		if s.desc.Platform == nil {
			continue
		}
		have = append(have, s.desc.Platform.String())
		pp := s.desc.Platform
		if outside.PlatformMatches(*ociPlatform(p), ocispec.Platform{OS: pp.OS, Architecture: pp.Architecture, Variant: pp.Variant}) {
			return s, nil
		}
	}
	return nil, fmt.Errorf("the index has no image for %s (it has %v): choose one with --override-arch", p.String(), have)
}

// pushIndex uploads every image of the index by digest, then the index
// under dest's tag.
func pushIndex(ctx context.Context, li *layoutIndex, dest Ref, opts Options, sum *Summary) error {
	ref, err := opts.parseReference(dest.Name)
	if err != nil {
		return err
	}
	for _, s := range li.images {
		sum.Referrers += len(s.referrers)
		byDigest := Ref{Transport: Docker, Name: ref.Context().Digest(s.desc.Digest.String()).String()}
		if err := pushImage(ctx, s, byDigest, opts, sum); err != nil {
			return err
		}
	}
	ropts, from, err := registryOptions(ctx, ref.Context(), opts)
	if err != nil {
		return err
	}
	if err := remote.Put(ref, rawManifest{li.raw, li.desc.MediaType}, ropts...); err != nil {
		return explain(err, ref.Context().RegistryStr(), from, opts.FlagPrefix)
	}
	return nil
}

// rawManifest is a manifest's bytes and media type, to put as they are.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// errIndexToLayout refuses an index for a layout destination.
var errIndexToLayout = errors.New("an image index is copied to a registry (or, one platform's image, to a docker-archive or daemon); copy the layout itself for another layout")
