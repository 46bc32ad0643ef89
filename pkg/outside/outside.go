// Package outside opens images that oci-builder did not make (base images,
// pulled images, archives to copy) and checks them before any byte of
// theirs is used: a Docker archive (`docker save`, dockerTools' results,
// skopeo's and ours, gzip- or zstd-compressed or not), an OCI image layout
// directory or an OCI archive (a tar of a layout).
//
// Open reads the image's description: the manifest (or manifest.json's
// entry), the configuration and the list of layers, picking the image a
// Selector names among several and the platform's image of an index.
// Verify then reads every layer: its bytes against the digest and size
// the manifest gives, its uncompressed tar against the DiffID the
// configuration gives, and every entry's name, refusing one that would
// leave the root filesystem. Errors are one line naming the image and
// the part at fault.
package outside

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/imageconfig"
	"github.com/oci-builder/oci-builder/pkg/ociarchive"
)

// The formats of an image from outside.
const (
	// FormatOCILayout is an OCI image layout directory.
	FormatOCILayout = "oci"
	// FormatOCIArchive is a tar of an OCI image layout.
	FormatOCIArchive = "oci-archive"
	// FormatDockerArchive is a `docker save` archive (manifest.json); an
	// archive holding both manifest.json and an OCI layout (Docker 25's
	// `docker save`) is read as one.
	FormatDockerArchive = "docker-archive"
)

// maxJSON bounds the size of every JSON document read from an image.
const maxJSON = 16 << 20

// Selector picks an image among those a file holds.
type Selector struct {
	// Name and Tag, when set, pick the image named NAME:TAG
	// (manifest.json's RepoTags, or the layout's reference name
	// annotations). Either alone picks the first image that matches it;
	// neither picks the first image.
	Name, Tag string
	// Platform, when set, picks among the images of an image index; an
	// index without it is refused.
	Platform *v1.Platform
}

// Image is an image from outside, opened.
type Image struct {
	// Path is the file or directory the image is in.
	Path string
	// Format is FormatOCILayout, FormatOCIArchive or FormatDockerArchive.
	Format string
	// RepoTag is the image's NAME:TAG in the file, when it has one.
	RepoTag string
	// Manifest is the image's manifest: the layout's, or one made for a
	// Docker archive, which has none (media types of OCI).
	Manifest v1.Manifest
	// RawManifest holds Manifest's bytes: those of the layout, whose
	// digest is the image's.
	RawManifest []byte
	// Config is the image configuration (Docker's keys too: see
	// imageconfig), RawConfig its bytes.
	Config    imageconfig.Image
	RawConfig []byte
	// Layers are the image's layers, base layer first.
	Layers []Layer
	// Warnings say what Open chose that the user did not name.
	Warnings []string

	src      source
	verified bool
	files    *fileSet
}

// Layer is a layer of an Image.
type Layer struct {
	// File is the blob's name in the layout or archive.
	File string
	// MediaType is the layer's OCI media type.
	MediaType string
	// Digest and Size are the blob's. A Docker archive records no blob
	// digest: Verify computes it.
	Digest digest.Digest
	Size   int64
	// DiffID is the digest of the uncompressed tar, from the
	// configuration.
	DiffID digest.Digest
	// Compression is what the blob's first bytes say.
	compression compression
}

// Open opens the image at p, a layout directory or an archive file, that
// sel picks. The image's layers are not read: Verify reads them.
func Open(p string, sel Selector) (*Image, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", p, unwrapPath(err))
	}
	im := &Image{Path: p}
	if fi.IsDir() {
		im.src, im.Format = dirSource{root: p}, FormatOCILayout
	} else {
		s, err := openArchive(p)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", p, err)
		}
		im.src = s
		switch {
		case s.has("manifest.json"):
			im.Format = FormatDockerArchive
		case s.has("index.json"):
			im.Format = FormatOCIArchive
		default:
			s.close()
			return nil, fmt.Errorf("image %s: neither a docker-archive (it has no manifest.json) nor an oci-archive (no index.json)", p)
		}
	}
	if im.Format == FormatDockerArchive {
		err = im.readDocker(sel)
	} else {
		err = im.readOCI(sel)
	}
	if err != nil {
		im.src.close()
		return nil, fmt.Errorf("image %s: %w", p, err)
	}
	return im, nil
}

// Close releases the image's file.
func (im *Image) Close() error { return im.src.close() }

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readJSON reads the file name (at most maxJSON bytes) and, when want is
// set, checks its digest and size.
func (im *Image) readFile(name string, want *v1.Descriptor) ([]byte, error) {
	rc, size, err := im.src.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > maxJSON {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a JSON document of an image may have", name, size, maxJSON)
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if want != nil {
		if int64(len(data)) != want.Size {
			return nil, fmt.Errorf("%s is %d bytes, its descriptor says %d", name, len(data), want.Size)
		}
		if got := digest.FromBytes(data); got != want.Digest {
			return nil, fmt.Errorf("%s has the digest %s, its descriptor says %s", name, got, want.Digest)
		}
	}
	return data, nil
}

// decodeJSON decodes data into v, naming the file in the error.
func decodeJSON(name string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s is not valid JSON: %w", name, err)
	}
	return nil
}

// dockerManifest is an entry of a Docker archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// readDocker reads the image sel picks from manifest.json.
func (im *Image) readDocker(sel Selector) error {
	data, err := im.readFile("manifest.json", nil)
	if err != nil {
		return err
	}
	var entries []dockerManifest
	if err := decodeJSON("manifest.json", data, &entries); err != nil {
		return err
	}
	if len(entries) == 0 {
		return errors.New("manifest.json lists no image")
	}
	var all []string
	pick := -1
	for i, e := range entries {
		all = append(all, e.RepoTags...)
		for _, rt := range e.RepoTags {
			// (bash:latest is docker.io/library/bash:latest, as docker
			// load names it)
			if pick < 0 && (sel.matches(splitRepoTag(rt)) ||
				sel.Name != "" && ociarchive.NormalName(rt) == ociarchive.NormalName(strings.TrimSuffix(sel.Name+":"+sel.Tag, ":"))) {
				pick = i
				im.RepoTag = rt
			}
		}
	}
	switch {
	case pick < 0 && (sel.Name != "" || sel.Tag != ""):
		return fmt.Errorf("no image %s (the archive has %s)", sel, listOrNone(all))
	case pick < 0:
		pick = 0
		if len(entries[0].RepoTags) > 0 {
			im.RepoTag = entries[0].RepoTags[0]
		}
		if len(entries) > 1 {
			im.Warnings = append(im.Warnings, fmt.Sprintf("%s holds %d images: took the first (%s); name one with fromImageName and fromImageTag", im.Path, len(entries), listOrNone(entries[0].RepoTags)))
		}
	}
	e := entries[pick]
	if e.Config == "" {
		return errors.New("manifest.json names no Config")
	}
	if im.RawConfig, err = im.readFile(e.Config, nil); err != nil {
		return err
	}
	if err := im.parseConfig(e.Config, len(e.Layers)); err != nil {
		return err
	}
	im.Manifest = v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(im.RawConfig), Size: int64(len(im.RawConfig))},
	}
	for i, name := range e.Layers {
		rc, size, err := im.src.open(name)
		if err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
		magic := make([]byte, 4)
		n, _ := io.ReadFull(rc, magic)
		rc.Close()
		c := compressionOf(magic[:n])
		mt, err := mediaTypeOf(c)
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i+1, name, err)
		}
		im.Layers = append(im.Layers, Layer{File: name, MediaType: mt, Size: size, DiffID: im.Config.RootFS.DiffIDs[i], compression: c})
	}
	return nil
}

// mediaTypeOf is the OCI media type of a layer compressed with c.
func mediaTypeOf(c compression) (string, error) {
	switch c {
	case compressionGzip:
		return v1.MediaTypeImageLayerGzip, nil
	case compressionZstd:
		return v1.MediaTypeImageLayerZstd, nil
	case compressionNone:
		return v1.MediaTypeImageLayer, nil
	}
	return "", fmt.Errorf("%s layers are not supported (gzip, zstd or uncompressed)", c)
}

// parseConfig decodes RawConfig (the file name) and checks that it gives
// one DiffID per layer.
func (im *Image) parseConfig(name string, layers int) error {
	if err := decodeJSON("the configuration "+name, im.RawConfig, &im.Config); err != nil {
		return err
	}
	if im.Config.RootFS.Type != "layers" {
		return fmt.Errorf("the configuration %s has rootfs.type %q, not \"layers\"", name, im.Config.RootFS.Type)
	}
	if len(im.Config.RootFS.DiffIDs) != layers {
		return fmt.Errorf("the configuration %s gives %d diff_ids for %d layers", name, len(im.Config.RootFS.DiffIDs), layers)
	}
	for _, d := range im.Config.RootFS.DiffIDs {
		if err := checkSHA256(d); err != nil {
			return fmt.Errorf("the configuration %s: diff_id %w", name, err)
		}
	}
	return nil
}

// checkSHA256 checks that d is sha256: and 64 lowercase hexadecimal digits.
func checkSHA256(d digest.Digest) error {
	if d.Validate() != nil || d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%q is not a sha256 digest", d)
	}
	return nil
}

// blobName is the layout's file of the blob d.
func blobName(d digest.Digest) string {
	return v1.ImageBlobsDir + "/" + d.Algorithm().String() + "/" + d.Encoded()
}

// readOCI reads the image sel picks from index.json.
func (im *Image) readOCI(sel Selector) error {
	data, err := im.readFile(v1.ImageLayoutFile, nil)
	if err != nil {
		return fmt.Errorf("not an OCI image layout: %w", err)
	}
	var lay v1.ImageLayout
	if err := decodeJSON(v1.ImageLayoutFile, data, &lay); err != nil {
		return err
	}
	if lay.Version != v1.ImageLayoutVersion {
		return fmt.Errorf("%s: imageLayoutVersion %q, not %q", v1.ImageLayoutFile, lay.Version, v1.ImageLayoutVersion)
	}
	data, err = im.readFile(v1.ImageIndexFile, nil)
	if err != nil {
		return err
	}
	var idx v1.Index
	if err := decodeJSON(v1.ImageIndexFile, data, &idx); err != nil {
		return err
	}
	// An image's SBOMs and provenance (artifacts whose subject it is) are
	// listed beside it: not images to pick.
	manifests := idx.Manifests[:0:0]
	for _, d := range idx.Manifests {
		if !isArtifact(d) {
			manifests = append(manifests, d)
		}
	}
	idx.Manifests = manifests
	var all []string
	pick := -1
	for i, d := range idx.Manifests {
		name, tag := d.Annotations[annotationImageName], d.Annotations[v1.AnnotationRefName]
		if n, t := splitRepoTag(name); name != "" {
			if tag == "" {
				tag = t
			}
			name = n
		}
		label := tag
		if name != "" {
			label = name + ":" + tag
		}
		if label != "" {
			all = append(all, label)
		}
		if pick < 0 && sel.matches(name, tag) {
			pick = i
			im.RepoTag = label
		}
	}
	switch {
	case len(idx.Manifests) == 0:
		return fmt.Errorf("%s lists no image", v1.ImageIndexFile)
	case pick < 0 && (sel.Name != "" || sel.Tag != ""):
		return fmt.Errorf("no image %s (the layout has %s)", sel, listOrNone(all))
	case pick < 0:
		pick = 0
		if len(all) > 0 {
			im.RepoTag = all[0]
		}
		if len(idx.Manifests) > 1 {
			im.Warnings = append(im.Warnings, fmt.Sprintf("%s holds %d images: took the first; name one with fromImageName and fromImageTag (%s)", im.Path, len(idx.Manifests), listOrNone(all)))
		}
	}
	d := idx.Manifests[pick]
	for depth := 0; d.MediaType == v1.MediaTypeImageIndex || d.MediaType == mediaTypeDockerList; depth++ {
		if depth == 4 {
			return errors.New("image indexes nested more than 4 deep")
		}
		if d, err = im.pickPlatform(d, sel.Platform); err != nil {
			return err
		}
	}
	if d.MediaType != v1.MediaTypeImageManifest && d.MediaType != mediaTypeDockerManifest {
		return fmt.Errorf("%s is a %q, not an image manifest", d.Digest, d.MediaType)
	}
	if err := checkSHA256(d.Digest); err != nil {
		return fmt.Errorf("manifest digest %w", err)
	}
	if im.RawManifest, err = im.readFile(blobName(d.Digest), &d); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := decodeJSON("the manifest "+d.Digest.String(), im.RawManifest, &im.Manifest); err != nil {
		return err
	}
	cd := im.Manifest.Config
	if err := checkSHA256(cd.Digest); err != nil {
		return fmt.Errorf("configuration digest %w", err)
	}
	if im.RawConfig, err = im.readFile(blobName(cd.Digest), &cd); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := im.parseConfig(cd.Digest.String(), len(im.Manifest.Layers)); err != nil {
		return err
	}
	for i, l := range im.Manifest.Layers {
		if err := checkSHA256(l.Digest); err != nil {
			return fmt.Errorf("layer %d: digest %w", i+1, err)
		}
		mt, c, err := ociMediaType(l.MediaType)
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i+1, l.Digest, err)
		}
		name := blobName(l.Digest)
		rc, size, err := im.src.open(name)
		if err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
		rc.Close()
		if size != l.Size {
			return fmt.Errorf("layer %d: %s is %d bytes, the manifest says %d", i+1, name, size, l.Size)
		}
		im.Layers = append(im.Layers, Layer{File: name, MediaType: mt, Digest: l.Digest, Size: l.Size, DiffID: im.Config.RootFS.DiffIDs[i], compression: c})
	}
	return nil
}

// Media types of Docker's manifests and layers, and the annotation
// containerd and Docker give an image's full name with.
const (
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	annotationImageName     = "io.containerd.image.name"
)

// isArtifact tells whether d is an artifact (an SBOM, a provenance
// statement: a manifest whose artifactType is not an image
// configuration's) rather than an image.
func isArtifact(d v1.Descriptor) bool {
	switch d.ArtifactType {
	case "", v1.MediaTypeImageConfig, "application/vnd.docker.container.image.v1+json":
		return false
	}
	return d.MediaType == v1.MediaTypeImageManifest
}

// ociMediaType maps a layer's media type to OCI's and the compression it
// says.
func ociMediaType(mt string) (string, compression, error) {
	switch mt {
	case v1.MediaTypeImageLayerGzip, mediaTypeDockerLayer:
		return v1.MediaTypeImageLayerGzip, compressionGzip, nil
	case v1.MediaTypeImageLayerZstd:
		return v1.MediaTypeImageLayerZstd, compressionZstd, nil
	case v1.MediaTypeImageLayer:
		return v1.MediaTypeImageLayer, compressionNone, nil
	}
	return "", 0, fmt.Errorf("layer media type %q is not supported (OCI or Docker tar layers, gzip, zstd or uncompressed)", mt)
}

// pickPlatform reads the index d and gives its manifest for platform p.
func (im *Image) pickPlatform(d v1.Descriptor, p *v1.Platform) (v1.Descriptor, error) {
	if err := checkSHA256(d.Digest); err != nil {
		return d, fmt.Errorf("index digest %w", err)
	}
	data, err := im.readFile(blobName(d.Digest), &d)
	if err != nil {
		return d, fmt.Errorf("index: %w", err)
	}
	var idx v1.Index
	if err := decodeJSON("the index "+d.Digest.String(), data, &idx); err != nil {
		return d, err
	}
	var have []string
	for _, m := range idx.Manifests {
		if m.Platform == nil {
			continue
		}
		have = append(have, PlatformString(*m.Platform))
		if p != nil && PlatformMatches(*p, *m.Platform) {
			return m, nil
		}
	}
	if p == nil {
		// No platform asked for: an index of one image (attestations
		// aside) gives it, whatever its platform.
		var images []v1.Descriptor
		var platforms []string
		for _, m := range idx.Manifests {
			if !isArtifact(m) && (m.Platform == nil || m.Platform.OS != "unknown") {
				images = append(images, m)
				if m.Platform != nil {
					platforms = append(platforms, PlatformString(*m.Platform))
				}
			}
		}
		switch len(images) {
		case 0:
			return d, fmt.Errorf("the index %s holds no image", d.Digest)
		case 1:
			return images[0], nil
		}
		return d, fmt.Errorf("%s is an index of %d images (platforms: %s): name one platform", d.Digest, len(images), listOrNone(platforms))
	}
	return d, fmt.Errorf("the index %s has no image for %s (it has %s)", d.Digest, PlatformString(*p), listOrNone(have))
}

// PlatformString is OS/ARCH[/VARIANT].
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// PlatformMatches tells whether an image of platform have serves want:
// same OS and architecture, and the same variant when both name one
// (arm64's "v8" is its only variant).
func PlatformMatches(want, have v1.Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	wv, hv := want.Variant, have.Variant
	if want.Architecture == "arm64" {
		if wv == "" {
			wv = "v8"
		}
		if hv == "" {
			hv = "v8"
		}
	}
	return wv == "" || hv == "" || wv == hv
}

// splitRepoTag splits NAME:TAG; a colon before the last slash is a port.
func splitRepoTag(rt string) (name, tag string) {
	if i := strings.LastIndexByte(rt, ':'); i >= 0 && !strings.Contains(rt[i+1:], "/") {
		return rt[:i], rt[i+1:]
	}
	return rt, ""
}

func (s Selector) matches(name, tag string) bool {
	if s.Name == "" && s.Tag == "" {
		return false
	}
	return (s.Name == "" || s.Name == name) && (s.Tag == "" || s.Tag == tag)
}

// String says what s picks: "named NAME:TAG", "named NAME", "tagged TAG".
func (s Selector) String() string {
	switch {
	case s.Name != "" && s.Tag != "":
		return "named " + s.Name + ":" + s.Tag
	case s.Name != "":
		return "named " + s.Name
	}
	return "tagged " + s.Tag
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "no names"
	}
	return strings.Join(l, ", ")
}

// Marshal encodes v as the JSON of a blob (no trailing newline).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
