package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/ociarchive"
)

// source is the image of an OCI image layout, opened for copying, and the
// artifacts whose subject it is (its SBOMs and provenance). Its manifest
// and configuration are read when it is opened and checked against their
// descriptors (digest and size); every layer blob is found with its size
// then, and its bytes are checked as they are read (blobReader). So are
// the artifacts'. A blob may be a symbolic link only to a regular file in
// the Nix store: an image that buildImage made with layer derivations links
// its layer blobs to their outputs. Every other file read is a regular
// file, never a link followed.
type source struct {
	*layoutFiles
	// desc is the manifest's descriptor in index.json, tag its name.
	desc     v1.Descriptor
	tag      string
	manifest []byte
	m        *v1.Manifest
	config   []byte
	// of ends the names of the blobs in messages: "" for the image, " of
	// the artifact sha256:..." for an artifact.
	of string
	// referrers are the artifacts of the layout whose subject is the
	// image, in index.json's order.
	referrers []*source
}

// layoutFiles reads the files of a source layout.
type layoutFiles struct {
	ctx      context.Context
	dir      string
	storeDir string
	// beforeOpen, when set (by tests), is called with the path of a blob
	// just before it is opened.
	beforeOpen func(path string)
	// opener, when set, opens the blobs of a source that is not a layout
	// (an archive's, a registry's: origins.go), as readers that check
	// them.
	opener func(b blob) (io.ReadCloser, error)
	// unpacked, when set, is the temporary directory an archive source
	// was unpacked into (dir), removed by close; archive is the archive's
	// file, which messages name instead (fileName).
	unpacked, archive string

	mu sync.Mutex
	// bad is the first error of a blob's reader: the reason of a failed
	// copy, whatever words the destination's writer (an HTTP client) put
	// around it.
	bad error
}

// badBlob returns the first error of a blob's reader, if any.
func (l *layoutFiles) badBlob() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bad
}

// openSource opens the image src names: the one tagged src.Tag, else the
// layout's only image, with its artifacts. storeDir is the Nix store, into
// which blobs may link.
func openSource(ctx context.Context, src Ref, storeDir string) (*source, error) {
	dir := src.Path
	var unpacked string
	switch src.Transport {
	case OCI:
	case OCIArchive, DockerArchive:
		// An archive (archive.go): its layout unpacked, then read as
		// any layout (a docker-archive: one with index.json too, as
		// the dockerTools style's and Docker 25's).
		var err error
		if unpacked, err = unpackArchive(src.Path); err != nil {
			return nil, fmt.Errorf("source %s: %w", src, err)
		}
		dir = unpacked
	default:
		return nil, fmt.Errorf("source %s: only image layouts and archives with index.json can be copied", src)
	}
	lf := &layoutFiles{ctx: ctx, dir: dir, storeDir: storeDir, unpacked: unpacked}
	if unpacked != "" {
		lf.archive = src.Path
	}
	s := &source{layoutFiles: lf}
	named := ""
	if src.Transport == DockerArchive {
		named = src.Name
	}
	if err := s.read(src.Tag, named); err != nil {
		s.close()
		return nil, fmt.Errorf("source %s: %w", src, err)
	}
	return s, nil
}

// close removes what openSource unpacked (an archive's layout).
func (s *source) close() {
	if s.unpacked != "" {
		os.RemoveAll(s.unpacked)
	}
}

// read reads index.json, the manifest tagged tag (or, in a docker-archive,
// named named: NAME:TAG) and its configuration, finds every layer, then
// does the same for the artifacts whose subject the image is.
func (s *source) read(tag, named string) error {
	f, err := s.openFile(filepath.Join(s.dir, "index.json"), "the index")
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("not an OCI image layout: %s has no index.json", s.dir)
	}
	if err != nil {
		return err
	}
	data, err := readlimit.Open(f, "an image index", readlimit.ImageJSON)
	f.Close()
	if err != nil {
		return err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	var found, artifacts []v1.Descriptor
	var tags []string
	var names map[v1.Hash][]string
	if named != "" {
		if names, err = s.archiveNames(idx); err != nil {
			return err
		}
	}
	for _, d := range idx.Manifests {
		if isArtifact(d) {
			artifacts = append(artifacts, d)
			continue
		}
		t := d.Annotations[refNameAnnotation]
		tags = append(tags, t)
		if named != "" {
			if slices.Contains(names[d.Digest], ociarchive.NormalName(named)) {
				found = append(found, d)
			}
			continue
		}
		if tag == "" || t == tag {
			found = append(found, d)
		}
	}
	if named != "" && len(found) == 0 {
		var all []string
		for _, n := range names {
			all = append(all, n...)
		}
		slices.Sort(all)
		return fmt.Errorf("no image named %s (the archive has %s)", named, strings.Join(slices.Compact(all), ", "))
	}
	switch {
	case len(found) == 0 && tag != "":
		return fmt.Errorf("no image tagged %q (the layout has %s)", tag, strings.Join(tags, ", "))
	case len(found) == 0:
		return errors.New("the layout holds no image")
	case len(found) > 1:
		return fmt.Errorf("the layout holds %d images: name one with oci:DIR:TAG (tags: %s)", len(found), strings.Join(tags, ", "))
	}
	s.desc, s.tag = found[0], found[0].Annotations[refNameAnnotation]
	if !s.desc.MediaType.IsImage() {
		return fmt.Errorf("%s is a %s, not an image manifest", s.desc.Digest, s.desc.MediaType)
	}
	if err := s.readManifest(); err != nil {
		return err
	}
	if err := s.readContents(); err != nil {
		return err
	}
	return attachReferrers(s.layoutFiles, []*source{s}, artifacts)
}

// containerdName is the index annotation naming an image in archives
// that docker load reads (dockerTools' style, Docker 25's docker save).
const containerdName = "io.containerd.image.name"

// archiveNames gives the names (normalised, as ociarchive.NormalName) of the images
// of an archive's index idx, by manifest digest: from their
// io.containerd.image.name annotations and from the RepoTags of Docker's
// manifest.json beside index.json, whose entries name an image by its
// configuration blob.
func (s *source) archiveNames(idx *v1.IndexManifest) (map[v1.Hash][]string, error) {
	names := map[v1.Hash][]string{}
	for _, d := range idx.Manifests {
		if n, ok := d.Annotations[containerdName]; ok && !isArtifact(d) {
			names[d.Digest] = append(names[d.Digest], ociarchive.NormalName(n))
		}
	}
	file := filepath.Join(s.dir, "manifest.json")
	if _, err := os.Lstat(file); errors.Is(err, os.ErrNotExist) {
		return names, nil
	}
	f, err := s.openFile(file, "Docker's manifest.json")
	if err != nil {
		return nil, err
	}
	data, err := readlimit.Open(f, "Docker's manifest.json", readlimit.ImageJSON)
	f.Close()
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	byConfig := map[string][]string{}
	for _, e := range entries {
		hex := strings.TrimSuffix(filepath.Base(e.Config), ".json")
		for _, t := range e.RepoTags {
			byConfig[hex] = append(byConfig[hex], ociarchive.NormalName(t))
		}
	}
	if len(byConfig) == 0 {
		return names, nil
	}
	for _, d := range idx.Manifests {
		if isArtifact(d) || !d.MediaType.IsImage() {
			continue
		}
		raw, err := s.readJSON(d, "the manifest")
		if err != nil {
			return nil, err
		}
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("the manifest %s: %w", d.Digest, err)
		}
		for _, n := range byConfig[m.Config.Digest.Hex] {
			if !slices.Contains(names[d.Digest], n) {
				names[d.Digest] = append(names[d.Digest], n)
			}
		}
	}
	return names, nil
}

// attachReferrers reads the artifacts of the layout lf lists and adds
// each to the referrers of the image among images that is its subject
// (those of no image of images are skipped).
func attachReferrers(lf *layoutFiles, images []*source, artifacts []v1.Descriptor) error {
	for _, d := range artifacts {
		a := &source{layoutFiles: lf, desc: d, of: " of the artifact " + d.Digest.String()}
		if err := a.readManifest(); err != nil {
			return err
		}
		var subject *source
		for _, s := range images {
			if a.m.Subject != nil && a.m.Subject.Digest == s.desc.Digest {
				subject = s
				break
			}
		}
		if subject == nil {
			continue // another image's
		}
		if err := a.readContents(); err != nil {
			return err
		}
		// An artifact's documents are small and, in a registry, pushed
		// after the image: read whole now, so that a damaged one fails
		// the copy before the image is shown anywhere.
		for i, l := range a.m.Layers {
			rc, err := a.openBlob(l, a.layerName(i))
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				return err
			}
		}
		subject.referrers = append(subject.referrers, a)
	}
	return nil
}

// readManifest reads and parses the manifest desc names, checked.
func (s *source) readManifest() error {
	var err error
	if s.manifest, err = s.readJSON(s.desc, "the manifest"+s.of); err != nil {
		return err
	}
	if s.m, err = v1.ParseManifest(bytes.NewReader(s.manifest)); err != nil {
		return fmt.Errorf("the manifest%s %s: %w", s.of, s.desc.Digest, err)
	}
	return nil
}

// readContents reads the configuration, checked, and finds every layer
// with its size (and no link out of the store), before anything is
// written.
func (s *source) readContents() error {
	var err error
	if s.config, err = s.readJSON(s.m.Config, "the configuration"+s.of); err != nil {
		return err
	}
	for i, l := range s.m.Layers {
		rc, err := s.openBlob(l, s.layerName(i))
		if err != nil {
			return err
		}
		rc.Close()
	}
	return nil
}

// layerName names layer i in messages.
func (s *source) layerName(i int) string {
	return fmt.Sprintf("layer %d of %d%s", i+1, len(s.m.Layers), s.of)
}

// readJSON reads the small blob d (a manifest, a configuration), checked.
func (l *layoutFiles) readJSON(d v1.Descriptor, what string) ([]byte, error) {
	if d.Size < 0 || d.Size > readlimit.ImageJSON {
		return nil, fmt.Errorf("%s: its descriptor gives the size %d, over the limit of %d for %s", what, d.Size, readlimit.ImageJSON, "a manifest or configuration")
	}
	rc, err := l.openBlob(d, what)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// openBlob opens the blob d, what naming it in errors, as a reader that
// checks its bytes.
func (l *layoutFiles) openBlob(d v1.Descriptor, what string) (io.ReadCloser, error) {
	if d.Size < 0 {
		return nil, fmt.Errorf("%s: its descriptor gives the size %d", what, d.Size)
	}
	p := filepath.Join(l.dir, "blobs", d.Digest.Algorithm, d.Digest.Hex)
	f, err := l.openFile(p, what)
	if err != nil {
		return nil, err
	}
	b, err := newBlobReader(l.ctx, f, l.file(p), d, what)
	if err != nil {
		f.Close()
		return nil, err
	}
	b.onBad = func(err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.bad == nil {
			l.bad = err
		}
	}
	return b, nil
}

// openFile opens the file p of the layout, what naming it in errors,
// following a symbolic link only to a regular file in the store (the store
// directory as it is named or with its own links resolved). The file
// opened is never a link itself (O_NOFOLLOW), so a file swapped for a link
// after the check is refused, and it is a regular file (a named pipe or a
// device is refused, never waited for).
func (l *layoutFiles) openFile(p, what string) (*os.File, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, l.fileError(what, p, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %s is a symbolic link that does not resolve: %w", what, p, err)
		}
		if !l.inStore(target) {
			return nil, fmt.Errorf("%s: %s is a symbolic link to %s, outside the store %s", what, p, target, l.storeDir)
		}
		p = target
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s is not a regular file", what, l.file(p).name)
	}
	if l.beforeOpen != nil {
		l.beforeOpen(p)
	}
	// O_NONBLOCK: a named pipe swapped in after the check would block the
	// open, where no signal stops it; the file type is checked below.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s: %s became a symbolic link while it was read", what, l.file(p).name)
		}
		return nil, l.fileError(what, p, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %s is not a regular file", what, l.file(p).name)
	}
	return f, nil
}

// file names the layout's file p in messages: its path, or, in an
// unpacked archive, its name there and the archive's ("blobs/sha256/HEX
// in FILE"): the temporary directory means nothing to the user.
func (l *layoutFiles) file(p string) blobFile {
	if l.unpacked != "" {
		if rel, err := filepath.Rel(l.unpacked, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return blobFile{name: filepath.ToSlash(rel) + " in " + l.archive, in: "archive"}
		}
	}
	return layoutFile(p)
}

// fileError is the error of the layout's file p that cannot be opened,
// what naming it: an unpacked archive's names the archive's member, and a
// member missing is the archive's damage.
func (l *layoutFiles) fileError(what, p string, err error) error {
	at := l.file(p)
	if at.in != "archive" {
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %s", what, at.damaged("is missing"))
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %s: %s: %w", what, pe.Op, at.name, pe.Err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// inStore tells whether the path p (links resolved) is in the store.
func (l *layoutFiles) inStore(p string) bool {
	if strings.HasPrefix(p, l.storeDir+"/") {
		return true
	}
	real, err := filepath.EvalSymlinks(l.storeDir)
	return err == nil && strings.HasPrefix(p, real+"/")
}

// blob is one blob of the image, to write.
type blob struct {
	desc v1.Descriptor
	what string
	// data is the blob's bytes when they are read already (the manifest,
	// the configuration: checked when the source was opened).
	data []byte
}

// blobs lists the blobs of the image and its artifacts, each once: the
// image's layers, configuration and manifest, then each artifact's.
func (s *source) blobs() []blob {
	var out []blob
	seen := map[v1.Hash]bool{}
	add := func(b blob) {
		if !seen[b.desc.Digest] {
			seen[b.desc.Digest] = true
			out = append(out, b)
		}
	}
	for _, m := range append([]*source{s}, s.referrers...) {
		for i, l := range m.m.Layers {
			add(blob{desc: l, what: m.layerName(i)})
		}
		add(blob{desc: m.m.Config, what: "the configuration" + m.of, data: m.config})
		add(blob{desc: m.desc, what: "the manifest" + m.of, data: m.manifest})
	}
	return out
}

// open opens the blob b as a reader that checks it.
func (l *layoutFiles) open(b blob) (io.ReadCloser, error) {
	if b.data != nil {
		return io.NopCloser(bytes.NewReader(b.data)), nil
	}
	if l.opener != nil {
		rc, err := l.opener(b)
		if err != nil {
			return nil, err
		}
		return &noticedReader{rc: rc, l: l}, nil
	}
	return l.openBlob(b.desc, b.what)
}

// noticedReader records the first error of an opener's reader as the
// source's bad blob (badBlob), as blobReader does.
type noticedReader struct {
	rc io.ReadCloser
	l  *layoutFiles
}

func (r *noticedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		r.l.mu.Lock()
		if r.l.bad == nil {
			r.l.bad = err
		}
		r.l.mu.Unlock()
	}
	return n, err
}

func (r *noticedReader) Close() error { return r.rc.Close() }

// image is the source as go-containerregistry's v1.Image, for the
// registry and docker-archive writers.
func (s *source) image() (v1.Image, error) { return partial.CompressedToImage(s) }

func (s *source) RawManifest() ([]byte, error)   { return s.manifest, nil }
func (s *source) RawConfigFile() ([]byte, error) { return s.config, nil }

func (s *source) MediaType() (types.MediaType, error) {
	if s.m.MediaType != "" {
		return s.m.MediaType, nil
	}
	return s.desc.MediaType, nil
}

// LayerByDigest returns the layer blob h of the manifest, or its
// configuration.
func (s *source) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for i, l := range s.m.Layers {
		if l.Digest == h {
			return &sourceLayer{s: s, b: blob{desc: l, what: s.layerName(i)}}, nil
		}
	}
	if h == s.m.Config.Digest {
		return &sourceLayer{s: s, b: blob{desc: s.m.Config, what: "the configuration" + s.of, data: s.config}}, nil
	}
	return nil, fmt.Errorf("the manifest has no layer %s", h)
}

// sourceLayer is a blob of a source, as a layer.
type sourceLayer struct {
	s *source
	b blob
}

func (l *sourceLayer) Digest() (v1.Hash, error)            { return l.b.desc.Digest, nil }
func (l *sourceLayer) Size() (int64, error)                { return l.b.desc.Size, nil }
func (l *sourceLayer) MediaType() (types.MediaType, error) { return l.b.desc.MediaType, nil }
func (l *sourceLayer) Compressed() (io.ReadCloser, error)  { return l.s.open(l.b) }
func (l *sourceLayer) Descriptor() (*v1.Descriptor, error) { d := l.b.desc; return &d, nil }
