package outside

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Verify reads every layer of the image: its bytes must have the digest
// and size of the manifest (a Docker archive's layers get theirs here),
// be compressed as its media type says, hold a tar whose digest is the
// configuration's DiffID, and name no entry (or hard link target) that
// leaves the root with "..". A leading "/" is read as the root, as Docker,
// podman and containerd read it (dockerTools' layered images have such
// names). On success the files of the image's root filesystem are known
// (Has).
func (im *Image) Verify(ctx context.Context) error {
	files := newFileSet()
	for i := range im.Layers {
		l := &im.Layers[i]
		if err := im.verifyLayer(ctx, l, files); err != nil {
			return fmt.Errorf("image %s: layer %d (%s): %w", im.Path, i+1, l.File, err)
		}
	}
	if im.Format == FormatDockerArchive {
		im.Manifest.Layers = make([]v1.Descriptor, len(im.Layers))
		for i, l := range im.Layers {
			im.Manifest.Layers[i] = v1.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
		}
		raw, err := marshal(im.Manifest)
		if err != nil {
			return fmt.Errorf("image %s: encode its manifest: %w", im.Path, err)
		}
		im.RawManifest = raw
	}
	im.files = files
	im.verified = true
	return nil
}

// Has tells whether the image's root filesystem has the file p (an
// absolute path), once Verify has succeeded.
func (im *Image) Has(p string) bool {
	return im.files != nil && im.files.contains(strings.TrimPrefix(path.Clean(p), "/"))
}

// Digest is the image's manifest digest (after Verify for a Docker
// archive, whose manifest is made then).
func (im *Image) Digest() digest.Digest { return digest.FromBytes(im.RawManifest) }

// countingHash hashes and counts what is written to it.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func newCountingHash() *countingHash { return &countingHash{h: sha256.New()} }

func (c *countingHash) digest() digest.Digest { return digest.NewDigest(digest.SHA256, c.h) }

func (im *Image) verifyLayer(ctx context.Context, l *Layer, files *fileSet) error {
	rc, _, err := im.src.open(l.File)
	if err != nil {
		return err
	}
	defer rc.Close()
	blob := newCountingHash()
	br := bufio.NewReaderSize(io.TeeReader(rc, blob), 1<<20)
	err = readLayer(ctx, l, br, files)
	if err != nil && ctx.Err() == nil {
		// A blob that is not what the manifest names is told as such,
		// rather than as what its bytes broke.
		if _, cerr := io.Copy(io.Discard, br); cerr == nil && l.Digest != "" && blob.digest() != l.Digest {
			return fmt.Errorf("has the digest %s, the manifest says %s", blob.digest(), l.Digest)
		}
		return err
	}
	if l.Digest == "" {
		l.Digest = blob.digest()
	} else if got := blob.digest(); got != l.Digest {
		return fmt.Errorf("has the digest %s, the manifest says %s", got, l.Digest)
	}
	if blob.n != l.Size {
		return fmt.Errorf("is %d bytes, the manifest says %d", blob.n, l.Size)
	}
	return nil
}

// readLayer reads the layer's blob from br: its tar entries (added to
// files) and its DiffID.
func readLayer(ctx context.Context, l *Layer, br *bufio.Reader, files *fileSet) error {
	magic, _ := br.Peek(4)
	if c := compressionOf(magic); c != l.compression {
		return fmt.Errorf("the blob is %s, its media type %s says %s", c, l.MediaType, l.compression)
	}
	var tarStream io.Reader = br
	switch l.compression {
	case compressionGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		tarStream = zr
	case compressionZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		tarStream = zr
	}
	diff := newCountingHash()
	tr := tar.NewReader(io.TeeReader(tarStream, diff))
	var added []string
	var whiteouts []string
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not a valid tar: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // no file: ignored, as Docker and flatten ignore it
		}
		name, wh, err := CheckEntry(hdr)
		if err != nil {
			return err
		}
		switch {
		case wh == WhiteoutOpaque:
			whiteouts = append(whiteouts, name+"/")
		case wh == WhiteoutName:
			whiteouts = append(whiteouts, name)
		case name != "":
			added = append(added, name)
		}
	}
	// What follows the tar's end is part of the DiffID too.
	if _, err := io.Copy(diff, tarStream); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if got := diff.digest(); got != l.DiffID {
		return fmt.Errorf("its tar has the digest %s, the configuration's diff_id is %s", got, l.DiffID)
	}
	applyLayer(files, whiteouts, added)
	return nil
}

// MaxName bounds a layer entry's name and a symbolic link's target
// (Linux's PATH_MAX).
const MaxName = 4096

// EntryName is a layer entry's name relative to the root ("" for the
// root; a leading "/" read as the root), or an error when it is longer
// than MaxName, has a NUL byte or leaves the root with "..".
func EntryName(n string) (string, error) {
	if len(n) > MaxName {
		return "", fmt.Errorf("entry %q... is longer than %d bytes", n[:64], MaxName)
	}
	if strings.IndexByte(n, 0) >= 0 {
		return "", fmt.Errorf("entry %q has a NUL byte", n)
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", fmt.Errorf("entry %q leaves the root filesystem (\"..\")", n)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+n), "/"), nil
}

// Whiteout is what a layer entry removes from the layers below it.
type Whiteout int

const (
	// NoWhiteout: the entry is a file, directory, link or device.
	NoWhiteout Whiteout = iota
	// WhiteoutName (".wh.NAME") removes NAME and what is below it.
	WhiteoutName
	// WhiteoutOpaque (".wh..wh..opq") empties its directory.
	WhiteoutOpaque
)

// CheckEntry reads a layer's tar entry as every reader of layers here does
// (fromImage's verification, and flatten for exportImage, runAsRoot and
// layer-diff), so that an image one refuses the others refuse too: it
// gives the entry's name below the root ("" the root), or for a whiteout
// the name it removes (WhiteoutName) or the directory it empties
// (WhiteoutOpaque, "" the root). It refuses, naming the entry, a name or
// hard link target that EntryName refuses, a whiteout naming no file, a
// symbolic link target longer than MaxName or with a NUL byte, a tar type
// no image holds and a root entry that is not a directory. A pax global
// header (tar.TypeXGlobalHeader) is no entry: callers skip it first, as
// Docker ignores it.
func CheckEntry(hdr *tar.Header) (string, Whiteout, error) {
	name, err := EntryName(hdr.Name)
	if err != nil {
		return "", NoWhiteout, err
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if w, ok := strings.CutPrefix(base, ".wh."); ok {
		switch w {
		case ".wh..opq":
			return dir, WhiteoutOpaque, nil
		case "", ".", "..":
			return "", NoWhiteout, fmt.Errorf("whiteout %q names no file", hdr.Name)
		}
		return path.Join(dir, w), WhiteoutName, nil
	}
	switch hdr.Typeflag {
	case tar.TypeLink:
		if _, err := EntryName(hdr.Linkname); err != nil {
			return "", NoWhiteout, fmt.Errorf("hard link %q: target %w", hdr.Name, err)
		}
	case tar.TypeSymlink:
		if len(hdr.Linkname) > MaxName || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return "", NoWhiteout, fmt.Errorf("symbolic link %q: its target is longer than %d bytes or has a NUL byte", hdr.Name, MaxName)
		}
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return "", NoWhiteout, fmt.Errorf("entry %q has the tar type %q, which no image holds", hdr.Name, hdr.Typeflag)
	}
	if name == "" && hdr.Typeflag != tar.TypeDir {
		return "", NoWhiteout, fmt.Errorf("entry %q: the root must be a directory", hdr.Name)
	}
	return name, NoWhiteout, nil
}

// applyLayer updates the set of files with a layer: its whiteouts remove
// what lower layers had (a name ending in "/" empties that directory, "/"
// the root), then its entries are added.
func applyLayer(files *fileSet, whiteouts, added []string) {
	for _, w := range whiteouts {
		if dir, ok := strings.CutSuffix(w, "/"); ok {
			files.empty(dir)
			continue
		}
		files.remove(w)
	}
	for _, a := range added {
		files.add(a)
	}
}

// ErrNotVerified is returned by what needs Verify first.
var ErrNotVerified = errors.New("the image was not verified")

// CopyLayer writes layer i's blob, unchanged, to w, and fails if its bytes
// are no longer those Verify read (the digest and size are checked at its
// end: the caller discards what it wrote on an error).
func (im *Image) CopyLayer(i int, w io.Writer) error {
	if !im.verified {
		return ErrNotVerified
	}
	rc, err := im.OpenLayer(i)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return err
	}
	return nil
}

// OpenLayer opens layer i's blob; its reader fails at the end when the
// bytes do not have the layer's digest and size.
func (im *Image) OpenLayer(i int) (io.ReadCloser, error) {
	if !im.verified {
		return nil, ErrNotVerified
	}
	return im.OpenBlob(i, im.Layers[i].Digest, im.Layers[i].Size)
}

// OpenBlob opens layer i's blob, which an earlier Verify found to have
// the digest want and size bytes (recorded elsewhere, as a streamed
// image's description does); its reader fails at the end when the bytes
// differ.
func (im *Image) OpenBlob(i int, want digest.Digest, size int64) (io.ReadCloser, error) {
	if i < 0 || i >= len(im.Layers) {
		return nil, fmt.Errorf("image %s has no layer %d (it has %d)", im.Path, i+1, len(im.Layers))
	}
	l := im.Layers[i]
	rc, _, err := im.src.open(l.File)
	if err != nil {
		return nil, fmt.Errorf("image %s: layer %d: %w", im.Path, i+1, err)
	}
	return &checkedReader{rc: rc, sum: newCountingHash(), want: want, size: size, what: fmt.Sprintf("image %s: layer %d (%s)", im.Path, i+1, l.File)}, nil
}

// checkedReader reads a blob and checks its digest and size at the end.
type checkedReader struct {
	rc   io.ReadCloser
	sum  *countingHash
	want digest.Digest
	size int64
	what string
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.sum.Write(p[:n])
	if r.sum.n > r.size {
		return n, fmt.Errorf("%s is longer than its %d bytes", r.what, r.size)
	}
	if err == io.EOF {
		if r.sum.n != r.size {
			return n, fmt.Errorf("%s is %d bytes, not %d", r.what, r.sum.n, r.size)
		}
		if got := r.sum.digest(); got != r.want {
			return n, fmt.Errorf("%s has the digest %s, not %s: it changed since it was checked", r.what, got, r.want)
		}
	}
	return n, err
}

func (r *checkedReader) Close() error { return r.rc.Close() }

// OpenLayerTar opens layer i's tar, uncompressed, once Verify has
// succeeded; its reader fails at the blob's end when the bytes are no
// longer those Verify read.
func (im *Image) OpenLayerTar(i int) (io.ReadCloser, error) {
	rc, err := im.OpenLayer(i)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 1<<20)
	var r io.Reader = br
	var zclose func()
	switch im.Layers[i].compression {
	case compressionGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("image %s: layer %d: gzip: %w", im.Path, i+1, err)
		}
		r, zclose = zr, func() { zr.Close() }
	case compressionZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("image %s: layer %d: zstd: %w", im.Path, i+1, err)
		}
		r, zclose = zr, zr.Close
	}
	return &layerTar{r: r, br: br, rc: rc, zclose: zclose}, nil
}

// layerTar is a layer's uncompressed tar; at its end, the rest of the
// blob is read, so that its digest is checked.
type layerTar struct {
	r      io.Reader
	br     *bufio.Reader
	rc     io.ReadCloser
	zclose func()
}

func (l *layerTar) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err == io.EOF {
		if _, cerr := io.Copy(io.Discard, l.br); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

func (l *layerTar) Close() error {
	if l.zclose != nil {
		l.zclose()
	}
	return l.rc.Close()
}
