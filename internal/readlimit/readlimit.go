// Package readlimit reads inputs whole, up to a limit: a file or stream
// larger than its limit (a huge config.json, /dev/zero given as an image
// description) fails at once with one line naming it, instead of taking
// the machine's memory. A regular file is judged by its size before a byte
// is read; anything else (a device, a pipe) by reading at most one byte
// past the limit.
//
// The limits are here, in one place, each far above what oci-builder or
// Nix writes for its input.
package readlimit

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/oci-builder/oci-builder/internal/units"
)

// Limits, in bytes.
const (
	// BundleConfig is for a bundle's config.json. A bind-mode bundle of
	// 2,000 store paths has about 600 KiB.
	BundleConfig = 32 << 20
	// ImageJSON is for an image layout's index.json, manifests and image
	// configurations: skopeo's (containers/image's) own limit for
	// manifests and configurations.
	ImageJSON = 4 << 20
	// Description is for a streamed image's description
	// (streamLayeredImage's output), which lists the closure's store
	// paths: about 200 KiB for 2,000 of them.
	Description = 16 << 20
	// Graph is for closure graphs and a Nix build's .attrs.json, which
	// holds them: a graph of 10,000 store paths with their references is
	// tens of MiB.
	Graph = 512 << 20
	// Options is for option, seccomp and layer-set files and other small
	// JSON documents.
	Options = 16 << 20
	// Credentials is for registry authentication files, a password read
	// from stdin and subordinate id files.
	Credentials = 4 << 20
)

// TooLargeError is the error of an input past its limit.
type TooLargeError struct {
	// Name names the input (a path, "stdin").
	Name string
	// What says what the input is, for the message ("a bundle's
	// config.json").
	What string
	// Limit is the limit, Size the input's size (-1 when unknown: more
	// than Limit).
	Limit, Size int64
}

func (e *TooLargeError) Error() string {
	size := "more than " + units.Bytes(uint64(e.Limit))
	if e.Size >= 0 {
		size = units.Bytes(uint64(e.Size))
	}
	return fmt.Sprintf("%s is %s, over the limit of %s for %s", e.Name, size, units.Bytes(uint64(e.Limit)), e.What)
}

// ErrTooLarge matches every TooLargeError (errors.Is).
var ErrTooLarge = errors.New("input over its size limit")

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// File reads the file name whole, what saying what it is for the error of
// a file larger than limit bytes. Other errors are os.Open's and Read's.
func File(name, what string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Open(f, what, limit)
}

// Open reads the open file f whole, as File does.
func Open(f *os.File, what string, limit int64) ([]byte, error) {
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, &TooLargeError{Name: f.Name(), What: what, Limit: limit, Size: st.Size()}
	}
	return Reader(f, f.Name(), what, limit)
}

// Reader reads r to its end, failing when it holds more than limit bytes;
// name and what are for the error, as File's.
func Reader(r io.Reader, name, what string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{Name: name, What: what, Limit: limit, Size: -1}
	}
	return data, nil
}
