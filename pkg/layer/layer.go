package layer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Compression is how layer tars are compressed.
type Compression string

// The supported compressions.
const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	// None leaves the tar uncompressed: the blob is the tar, its digest
	// the DiffID (dockerTools' compressor = "none").
	None Compression = "none"
)

// zstdLevel is the zstd layers' level: klauspost/compress's default
// (SpeedDefault, about zstd -3). gzip layers' matcher is set by
// gzipParams.
const zstdLevel = zstd.SpeedDefault

// ParseCompression reads a compression name; empty means gzip.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", Gzip:
		return Gzip, nil
	case Zstd:
		return Zstd, nil
	case None:
		return None, nil
	}
	return "", fmt.Errorf("compression %q is not supported (use %q, %q or %q)", s, Gzip, Zstd, None)
}

// MediaType is the OCI media type of layers compressed with c.
func (c Compression) MediaType() string {
	switch c {
	case Zstd:
		return v1.MediaTypeImageLayerZstd
	case None:
		return v1.MediaTypeImageLayer
	}
	return v1.MediaTypeImageLayerGzip
}

// Layer describes a written layer blob.
type Layer struct {
	// Digest and Size are those of the compressed blob.
	Digest digest.Digest
	Size   int64
	// DiffID is the digest of the uncompressed tar, TarSize its size.
	DiffID  digest.Digest
	TarSize int64
	Stats
}

// Write writes the layer holding paths (absolute store paths directly in
// storeDir) to w, compressed with c, and describes it. opts are WriteTar's.
func Write(ctx context.Context, w io.Writer, storeDir string, paths []string, c Compression, opts Options) (Layer, error) {
	return compressed(w, c, opts.Pool, func(tw io.Writer) (Stats, error) {
		return WriteTar(ctx, tw, storeDir, paths, opts)
	})
}

// compressed runs writeTar on a writer that compresses what it gets with c
// into w, in blocks compressed on pool (see parallelWriter), hashing the
// tar and the compressed blob on the way.
func compressed(w io.Writer, c Compression, pool *Pool, writeTar func(io.Writer) (Stats, error)) (Layer, error) {
	var codec blockCodec
	switch c {
	case Gzip:
		codec = &gzipCodec{block: gzipBlockSize}
	case Zstd:
		codec = &zstdCodec{block: zstdBlockSize}
	case None:
		return uncompressed(w, writeTar)
	default:
		return Layer{}, fmt.Errorf("compression %q is not supported", c)
	}
	return compressedWith(w, c, codec, pool, writeTar)
}

// compressedWith is compressed with codec, which compresses with c.
func compressedWith(w io.Writer, c Compression, codec blockCodec, pool *Pool, writeTar func(io.Writer) (Stats, error)) (Layer, error) {
	blobHash := sha256.New()
	blob := &counter{w: io.MultiWriter(w, blobHash)}
	dest := &errorMarker{w: blob}
	diffHash := sha256.New()
	tar := &counter{w: diffHash}
	zw, err := newParallelWriter(dest, tar, pool, codec)
	if err != nil {
		return Layer{}, err
	}
	// No buffering between the tar and the blocks: the tar writer reads
	// file contents straight into the blocks (lend), and its headers are
	// small copies.
	stats, err := writeTar(zw)
	if err != nil {
		zw.Close()
		return Layer{}, err
	}
	if err := zw.Close(); err != nil {
		return Layer{}, fmt.Errorf("finish %s stream: %w", c, err)
	}
	return Layer{
		Digest:  digest.NewDigest(digest.SHA256, blobHash),
		Size:    blob.n,
		DiffID:  digest.NewDigest(digest.SHA256, diffHash),
		TarSize: tar.n,
		Stats:   stats,
	}, nil
}

// uncompressed runs writeTar on a writer into w, hashing the tar once: the
// blob and the tar are the same bytes.
func uncompressed(w io.Writer, writeTar func(io.Writer) (Stats, error)) (Layer, error) {
	sum := sha256.New()
	blob := &counter{w: io.MultiWriter(w, sum)}
	buffered := bufio.NewWriterSize(&errorMarker{w: blob}, 256*1024)
	stats, err := writeTar(buffered)
	if err == nil {
		err = buffered.Flush()
	}
	if err != nil {
		return Layer{}, err
	}
	d := digest.NewDigest(digest.SHA256, sum)
	return Layer{Digest: d, Size: blob.n, DiffID: d, TarSize: blob.n, Stats: stats}, nil
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// errorMarker wraps the destination's errors in writeError.
type errorMarker struct{ w io.Writer }

func (m *errorMarker) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err != nil {
		err = &writeError{fmt.Errorf("write layer: %w", err)}
	}
	return n, err
}
