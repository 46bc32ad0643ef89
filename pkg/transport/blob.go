package transport

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// errInterrupted is the error of a copy whose context ended (SIGINT,
// SIGTERM).
var errInterrupted = errors.New("interrupted")

// blobReader reads a blob from a file and checks it against its
// descriptor as it goes: the read that would deliver the blob's last bytes
// fails instead if the file holds other bytes (another size, another
// digest), so whoever consumes the reader (a file being written, an upload
// whose length is known) never receives the whole of a wrong blob. It also
// fails once the copy's context ends.
type blobReader struct {
	ctx  context.Context
	f    *os.File
	what string // the blob, for messages: "layer 2 sha256:..."
	at   blobFile
	desc v1.Descriptor
	h    hash.Hash
	n    int64
	done bool
	// onBad, when set, is told of every error but an interruption.
	onBad func(error)
}

// blobFile names the file of a blob in messages.
type blobFile struct {
	// name is the file as the user knows it: a layout's path, or an
	// unpacked archive's member ("blobs/sha256/HEX in FILE"), never the
	// temporary directory it was unpacked into.
	name string
	// in is what the file is part of, "layout" or "archive": what was
	// changed or damaged when the file is not the blob.
	in string
}

// layoutFile is the file p of a layout.
func layoutFile(p string) blobFile { return blobFile{name: p, in: "layout"} }

// damaged says that the file is not the blob: the file is named, then
// how it differs (a verb phrase), then what it belongs to.
func (a blobFile) damaged(format string, args ...any) string {
	return fmt.Sprintf("%s %s: the %s was changed or damaged", a.name, fmt.Sprintf(format, args...), a.in)
}

// newBlobReader reads f (at, in messages) as the blob desc names, what
// naming it in errors. It checks f's size first: a file of another size
// fails at once.
func newBlobReader(ctx context.Context, f *os.File, at blobFile, desc v1.Descriptor, what string) (*blobReader, error) {
	h, err := v1.Hasher(desc.Digest.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	b := &blobReader{ctx: ctx, f: f, what: what, at: at, desc: desc, h: h}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s is not a regular file", what, at.name)
	}
	if st.Size() != desc.Size {
		return nil, b.sizeError(st.Size())
	}
	return b, nil
}

// sizeError says that the blob has size bytes (-1: more than it should).
func (b *blobReader) sizeError(size int64) error {
	if size < 0 {
		return fmt.Errorf("%s: %s", b.what, b.at.damaged("holds more than the %d bytes its descriptor says", b.desc.Size))
	}
	return fmt.Errorf("%s: %s", b.what, b.at.damaged("is %d bytes, its descriptor says %d", size, b.desc.Size))
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.ctx.Err() != nil {
		return 0, errInterrupted
	}
	n, err := b.read(p)
	if err != nil && err != io.EOF && b.onBad != nil {
		b.onBad(err)
	}
	return n, err
}

func (b *blobReader) read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if rest := b.desc.Size - b.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n := 0
	if len(p) > 0 {
		var err error
		n, err = b.f.Read(p)
		b.h.Write(p[:n])
		b.n += int64(n)
		switch {
		case err == io.EOF && b.n < b.desc.Size:
			return 0, b.sizeError(b.n)
		case err != nil && err != io.EOF:
			return 0, fmt.Errorf("%s: %w", b.what, err)
		case b.n < b.desc.Size:
			return n, nil
		}
	}
	// p[:n] ends the blob: nothing may follow, and the digest must match,
	// before these bytes are delivered.
	var one [1]byte
	for {
		m, err := b.f.Read(one[:])
		if m > 0 {
			return 0, b.sizeError(-1)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", b.what, err)
		}
	}
	if got := hex.EncodeToString(b.h.Sum(nil)); got != b.desc.Digest.Hex {
		return 0, fmt.Errorf("%s: %s", b.what, b.at.damaged("has the digest %s:%s", b.desc.Digest.Algorithm, got))
	}
	b.done = true
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Close closes the file.
func (b *blobReader) Close() error { return b.f.Close() }
