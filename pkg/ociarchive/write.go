// Package ociarchive writes and reads images as one tar that every loader
// reads, as `docker save` writes since Docker 25: an OCI image layout
// (oci-layout, index.json, blobs/sha256/...) with Docker's manifest.json
// (and repositories) beside index.json. docker load (Docker 20.10 and
// later), podman load and skopeo's docker-archive: read manifest.json,
// whose layers and configuration are blobs of the layout; containerd's
// ctr images import, k3s and skopeo's oci-archive: read index.json.
//
// The tar is deterministic: entries sorted by name, mode 0444 (0755 for
// directories), mtime 1, owner 0. Blobs are written as they are
// (compressed or not), each checked against its digest as it is copied.
package ociarchive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotation keys of the index's descriptors, as Docker 25 writes them.
const (
	// AnnotationImageName is containerd's: the image's full reference
	// (docker.io/library/NAME:TAG), the name ctr images import and k3s
	// give the image.
	AnnotationImageName = "io.containerd.image.name"
)

// Blobs opens the blobs of images.
type Blobs interface {
	// Open opens the blob d and says its size.
	Open(d digest.Digest) (io.ReadCloser, int64, error)
}

// Image is one image of an archive.
type Image struct {
	// Manifest describes the image's manifest (a blob), with its platform.
	Manifest v1.Descriptor
	// RepoTag is the image's reference, NAME:TAG (docker.io/ may be left
	// out, as docker save does).
	RepoTag string
	// Referrers are artifacts whose subject is the image (its SBOMs and
	// provenance, pkg/image): listed in index.json after it, as in an
	// image layout, with their blobs; manifest.json lists images only.
	Referrers []v1.Descriptor
}

// ManifestEntry is an entry of Docker's manifest.json.
type ManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

var modTime = time.Unix(1, 0)

// blobName is the archive's name of the blob d.
func blobName(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// Write writes the archive of images, whose blobs blobs opens, to w.
func Write(w io.Writer, blobs Blobs, images []Image) error {
	if len(images) == 0 {
		return fmt.Errorf("an archive needs at least one image")
	}
	index := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	var entries []ManifestEntry
	repositories := map[string]map[string]string{}
	needed := map[digest.Digest]bool{}
	for _, img := range images {
		repo, tag, err := SplitRepoTag(img.RepoTag)
		if err != nil {
			return err
		}
		raw, err := readBlob(blobs, img.Manifest.Digest)
		if err != nil {
			return fmt.Errorf("manifest of %s: %w", img.RepoTag, err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("manifest of %s: %w", img.RepoTag, err)
		}
		if len(m.Layers) == 0 {
			return fmt.Errorf("image %s has no layer: docker load refuses it", img.RepoTag)
		}
		d := img.Manifest
		d.Annotations = map[string]string{AnnotationImageName: FullName(repo) + ":" + tag, v1.AnnotationRefName: tag}
		index.Manifests = append(index.Manifests, d)
		for _, r := range img.Referrers {
			if r.ArtifactType == "" {
				return fmt.Errorf("referrer %s of %s has no artifactType", r.Digest, img.RepoTag)
			}
			raw, err := readBlob(blobs, r.Digest)
			if err != nil {
				return fmt.Errorf("artifact %s of %s: %w", r.Digest, img.RepoTag, err)
			}
			var a v1.Manifest
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("artifact %s of %s: %w", r.Digest, img.RepoTag, err)
			}
			needed[r.Digest], needed[a.Config.Digest] = true, true
			for _, l := range a.Layers {
				needed[l.Digest] = true
			}
			index.Manifests = append(index.Manifests, r)
		}
		e := ManifestEntry{Config: blobName(m.Config.Digest), RepoTags: []string{img.RepoTag}}
		needed[img.Manifest.Digest], needed[m.Config.Digest] = true, true
		for _, l := range m.Layers {
			e.Layers = append(e.Layers, blobName(l.Digest))
			needed[l.Digest] = true
		}
		entries = append(entries, e)
		if repositories[repo] == nil {
			repositories[repo] = map[string]string{}
		}
		repositories[repo][tag] = m.Layers[len(m.Layers)-1].Digest.Encoded()
	}
	files := map[string][]byte{}
	var err error
	if files["index.json"], err = json.Marshal(index); err != nil {
		return err
	}
	if files["manifest.json"], err = json.Marshal(entries); err != nil {
		return err
	}
	if files["repositories"], err = json.Marshal(repositories); err != nil {
		return err
	}
	if files["oci-layout"], err = json.Marshal(v1.ImageLayout{Version: v1.ImageLayoutVersion}); err != nil {
		return err
	}
	digests := make([]digest.Digest, 0, len(needed))
	for d := range needed {
		digests = append(digests, d)
	}
	sort.Slice(digests, func(i, j int) bool { return digests[i] < digests[j] })

	bw := bufio.NewWriterSize(w, 1<<20)
	tw := tar.NewWriter(bw)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: modTime}); err != nil {
			return fmt.Errorf("write %s: %w", dir, err)
		}
	}
	for _, d := range digests {
		if err := copyBlob(tw, blobs, d); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := writeFile(tw, n, files[n]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish the archive: %w", err)
	}
	return bw.Flush()
}

// copyBlob copies the blob d into tw, checking its digest.
func copyBlob(tw *tar.Writer, blobs Blobs, d digest.Digest) error {
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("blob %s: not a sha256 digest", d)
	}
	r, size, err := blobs.Open(d)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	defer r.Close()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: blobName(d), Size: size, Mode: 0o444, ModTime: modTime}); err != nil {
		return fmt.Errorf("write %s: %w", blobName(d), err)
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, sum), r)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	if n != size {
		return fmt.Errorf("blob %s: %d bytes, not %d", d, n, size)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != d.Encoded() {
		return fmt.Errorf("blob %s has the sha256 %s: it changed", d, got)
	}
	return nil
}

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o444, ModTime: modTime}); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// readBlob reads a whole (small) blob.
func readBlob(blobs Blobs, d digest.Digest) ([]byte, error) {
	r, size, err := blobs.Open(d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if size > 64<<20 {
		return nil, fmt.Errorf("blob %s is %d bytes, too big for a manifest", d, size)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if digest.FromBytes(data) != d {
		return nil, fmt.Errorf("blob %s does not have that digest", d)
	}
	return data, nil
}

// SplitRepoTag splits NAME:TAG at the colon after the last slash; the tag
// is required.
func SplitRepoTag(ref string) (repo, tag string, err error) {
	slash := strings.LastIndexByte(ref, '/')
	colon := strings.LastIndexByte(ref, ':')
	if colon <= slash || colon == len(ref)-1 || colon == 0 {
		return "", "", fmt.Errorf("image reference %q has no NAME:TAG form", ref)
	}
	return ref[:colon], ref[colon+1:], nil
}

// FullName is a repository name as containerd and Kubernetes name it,
// Docker's normalisation: a name without a registry (its first component
// has no '.' or ':' and is not localhost) is on docker.io, and a name of
// one component is in docker.io/library.
func FullName(repo string) string {
	first, _, found := strings.Cut(repo, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return repo
	}
	if !found {
		return "docker.io/library/" + first
	}
	return "docker.io/" + repo
}

// Manifests reads the entries of Docker's manifest.json.
func Manifests(data []byte) ([]ManifestEntry, error) {
	var m []ManifestEntry
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	return m, nil
}

// Layout opens the blobs of an image layout directory (following links:
// an image with layer derivations links its blobs into the store).
type Layout string

// Open opens the blob d of the layout.
func (l Layout) Open(d digest.Digest) (io.ReadCloser, int64, error) {
	if err := d.Validate(); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(filepath.Join(string(l), filepath.FromSlash(blobName(d))))
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// Archives opens a blob from the first of its archives that has it.
type Archives []*Archive

// Open opens the blob d.
func (as Archives) Open(d digest.Digest) (io.ReadCloser, int64, error) {
	for _, a := range as {
		if a.Has(blobName(d)) {
			return a.Open(d)
		}
	}
	return nil, 0, fmt.Errorf("no archive has the blob %s", d)
}
