package nar

import (
	"crypto/sha256"
	"fmt"
	"hash"

	"github.com/nix-community/go-nix/pkg/nixhash"
)

// Sum is the NAR hash and size of a tree.
type Sum struct {
	// Hash is the SHA-256 of the NAR serialisation.
	Hash *nixhash.Hash
	// Size is the length of the NAR serialisation in bytes.
	Size uint64
}

// String formats the hash as Nix records it in closure graphs:
// "sha256:<nix-base32>".
func (s Sum) String() string {
	return s.Hash.Format(nixhash.NixBase32, true)
}

// Hasher computes the NAR hash and size of a tree from events in NAR order
// (see Encoder) without keeping the serialisation.
type Hasher struct {
	*Encoder
	h hash.Hash
}

// NewHasher returns a Hasher for one tree.
func NewHasher() *Hasher {
	h := sha256.New()
	return &Hasher{Encoder: NewEncoder(h), h: h}
}

// Sum completes the tree and returns its NAR hash and size.
func (h *Hasher) Sum() (Sum, error) {
	if err := h.Close(); err != nil {
		return Sum{}, err
	}
	digest, err := nixhash.NewHash(nixhash.SHA256, h.h.Sum(nil))
	if err != nil {
		return Sum{}, err
	}
	return Sum{Hash: digest, Size: h.Size()}, nil
}

// ParseHash parses a narHash as closure graphs carry it: SHA-256, written
// "sha256:" followed by nix-base32 (what every Nix version writes into
// .attrs.json), base16 or base64, or as an SRI hash ("sha256-<base64>").
func ParseHash(s string) (*nixhash.Hash, error) {
	algo := nixhash.SHA256
	h, err := nixhash.ParseAny(s, nil)
	if err != nil {
		return nil, fmt.Errorf("narHash %q: %w", s, err)
	}
	if h.Algo() != algo {
		return nil, fmt.Errorf("narHash %q: not a SHA-256 hash", s)
	}
	return &h.Hash, nil
}

// MismatchError reports a tree whose NAR hash is not the expected one.
type MismatchError struct {
	// Path is the tree's path, a store path.
	Path string
	// Expected and Actual are "sha256:<nix-base32>" hashes.
	Expected, Actual string
	// ExpectedSize and ActualSize are NAR sizes in bytes; ExpectedSize is
	// 0 when the size was not known.
	ExpectedSize, ActualSize uint64
}

func (e *MismatchError) Error() string {
	msg := fmt.Sprintf("store path %s: NAR hash mismatch: expected %s, got %s", e.Path, e.Expected, e.Actual)
	if e.ExpectedSize != 0 && e.ExpectedSize != e.ActualSize {
		msg += fmt.Sprintf(" (NAR size: expected %d bytes, got %d)", e.ExpectedSize, e.ActualSize)
	}
	return msg
}

// Check compares the sum of the tree at path with the narHash expected for
// it, which ParseHash must accept. A difference is a *MismatchError.
func (s Sum) Check(path, narHash string) error {
	return s.CheckExpected(Expected{Path: path, NarHash: narHash})
}

// CheckExpected compares the sum with what e says of the tree at e.Path:
// its narHash, which ParseHash must accept, and its narSize when not 0. A
// different hash is a *MismatchError (giving the sizes too when they
// differ); the same hash with another size means e itself is wrong, and is
// an error saying so.
func (s Sum) CheckExpected(e Expected) error {
	want, err := ParseHash(e.NarHash)
	if err != nil {
		return fmt.Errorf("store path %s: %w", e.Path, err)
	}
	if !equalHash(want, s.Hash) {
		return &MismatchError{Path: e.Path, Expected: want.Format(nixhash.NixBase32, true), Actual: s.String(),
			ExpectedSize: e.NarSize, ActualSize: s.Size}
	}
	if e.NarSize != 0 && e.NarSize != s.Size {
		return fmt.Errorf("store path %s: the NAR hash matches but the NAR size is %d bytes, not the %d the closure graph gives", e.Path, s.Size, e.NarSize)
	}
	return nil
}

func equalHash(a, b *nixhash.Hash) bool {
	return a.Algo() == b.Algo() && string(a.Digest()) == string(b.Digest())
}
