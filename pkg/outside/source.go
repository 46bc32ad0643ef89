package outside

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/klauspost/compress/zstd"
)

// source gives the files of an image's container: a layout directory or
// the entries of a tar archive.
type source interface {
	// open opens the file name (slash-separated, relative) and gives its
	// size.
	open(name string) (io.ReadCloser, int64, error)
	// has tells whether the file name exists.
	has(name string) bool
	close() error
}

// dirSource is an image layout directory. Links are followed: every blob
// read is checked against its digest, so a link can only lead to the
// bytes the manifest names.
type dirSource struct{ root string }

func (d dirSource) open(name string) (io.ReadCloser, int64, error) {
	// O_NONBLOCK: a FIFO (or a link to one) in a layout directory given
	// on the command line must be refused below, not wait in open(2) for
	// a writer; it changes nothing for the regular files read.
	f, err := os.OpenFile(filepath.Join(d.root, filepath.FromSlash(name)), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, fmt.Errorf("%s is missing", name)
		}
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file", name)
	}
	return f, fi.Size(), nil
}

func (d dirSource) has(name string) bool {
	fi, err := os.Stat(filepath.Join(d.root, filepath.FromSlash(name)))
	return err == nil && fi.Mode().IsRegular()
}

func (d dirSource) close() error { return nil }

// tarEntry is where a file's bytes are in an archive, or the file a
// symbolic link entry names.
type tarEntry struct {
	offset, size int64
	link         string
}

// tarSource is an uncompressed tar archive, indexed once: each file is
// then read in place (io.SectionReader).
type tarSource struct {
	f       *os.File
	entries map[string]tarEntry
}

// maxLinkDepth bounds the chains of symbolic links followed in an archive.
const maxLinkDepth = 8

// openArchive opens the tar archive file, decompressing a gzip or zstd
// archive (dockerTools' buildImage and buildLayeredImage results) into an
// unnamed temporary file first, and indexes its entries.
func openArchive(file string) (*tarSource, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	magic := make([]byte, 4)
	n, _ := io.ReadFull(f, magic)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	switch compressionOf(magic[:n]) {
	case compressionGzip, compressionZstd:
		t, err := decompressToTemp(f, compressionOf(magic[:n]))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
		f = t
	}
	s := &tarSource{f: f, entries: map[string]tarEntry{}}
	if err := s.index(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// decompressToTemp writes the decompressed tar of r to a temporary file
// that has no name (removed at once: nothing is left behind). The tar's
// headers are read as it is written, so that what is not a tar is refused
// at its first block, and what follows the tar's end (blocks of zeros, up
// to a tar writer's record size) is read to check the compressed stream
// but not written: a small archive of zeros made 2 GiB of temporary file
// before it was refused.
func decompressToTemp(r io.Reader, c compression) (*os.File, error) {
	var dr io.Reader
	switch c {
	case compressionGzip:
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<20))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		dr = zr
	case compressionZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		dr = zr
	}
	t, err := os.CreateTemp("", "oci-builder-base-*.tar")
	if err != nil {
		return nil, err
	}
	os.Remove(t.Name())
	w := &tempWriter{w: bufio.NewWriterSize(t, 1<<20)}
	fail := func(err error) (*os.File, error) {
		t.Close()
		return nil, err
	}
	tr := tar.NewReader(io.TeeReader(dr, w))
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		switch {
		case w.err != nil:
			return fail(fmt.Errorf("write a temporary file: %w", w.err))
		case errors.Is(err, tar.ErrHeader):
			return fail(fmt.Errorf("not a tar archive: %w", err))
		case err != nil:
			return fail(err)
		}
	}
	if err := w.w.Flush(); err != nil {
		return fail(fmt.Errorf("write a temporary file: %w", err))
	}
	if _, err := io.Copy(io.Discard, dr); err != nil {
		return fail(err)
	}
	if _, err := t.Seek(0, io.SeekStart); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// tempWriter writes to w and records the first error, so that a full disk
// is told apart from a damaged archive when the tar reader fails.
type tempWriter struct {
	w   *bufio.Writer
	err error
}

func (t *tempWriter) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.w.Write(p)
	t.err = err
	return n, err
}

// index records where each file's bytes are. A file named twice is
// refused: which one a loader reads is not agreed.
func (s *tarSource) index() error {
	tr := tar.NewReader(s.f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a tar archive: %w", err)
		}
		name := cleanName(hdr.Name)
		if name == "" || name == "." {
			continue
		}
		var e tarEntry
		switch hdr.Typeflag {
		case tar.TypeReg:
			if isSparse(hdr) {
				return fmt.Errorf("%s is a sparse file, which no image archive holds", name)
			}
			off, err := s.f.Seek(0, io.SeekCurrent)
			if err != nil {
				return err
			}
			e = tarEntry{offset: off, size: hdr.Size}
		case tar.TypeSymlink:
			e.link = cleanName(path.Join(path.Dir(name), hdr.Linkname))
		case tar.TypeLink:
			e.link = cleanName(hdr.Linkname)
		default:
			continue
		}
		if _, dup := s.entries[name]; dup {
			return fmt.Errorf("%s is in the archive twice", name)
		}
		s.entries[name] = e
	}
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// cleanName is an archive member's name as loaders read it: relative,
// without "./" and trailing slashes.
func cleanName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

func (s *tarSource) lookup(name string) (tarEntry, bool) {
	name = cleanName(name)
	for i := 0; i < maxLinkDepth; i++ {
		e, ok := s.entries[name]
		if !ok || e.link == "" {
			return e, ok
		}
		name = e.link
	}
	return tarEntry{}, false
}

func (s *tarSource) open(name string) (io.ReadCloser, int64, error) {
	e, ok := s.lookup(name)
	if !ok {
		return nil, 0, fmt.Errorf("%s is missing from the archive", name)
	}
	return io.NopCloser(io.NewSectionReader(s.f, e.offset, e.size)), e.size, nil
}

func (s *tarSource) has(name string) bool {
	_, ok := s.lookup(name)
	return ok
}

func (s *tarSource) close() error { return s.f.Close() }

// compression is how a blob is compressed, told by its first bytes.
type compression int

const (
	compressionNone compression = iota
	compressionGzip
	compressionZstd
	compressionOther
)

func compressionOf(magic []byte) compression {
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return compressionGzip
	case len(magic) >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		return compressionZstd
	case len(magic) >= 3 && magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h',
		len(magic) >= 4 && magic[0] == 0xfd && magic[1] == '7' && magic[2] == 'z' && magic[3] == 'X':
		return compressionOther
	}
	return compressionNone
}

func (c compression) String() string {
	switch c {
	case compressionGzip:
		return "gzip"
	case compressionZstd:
		return "zstd"
	case compressionOther:
		return "bzip2 or xz"
	}
	return "uncompressed"
}
