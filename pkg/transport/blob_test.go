package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestBlobReader: a blob is delivered whole only when its size and digest
// are its descriptor's; otherwise the read that would complete it fails,
// and the consumer never holds all of its bytes.
func TestBlobReader(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160,000 bytes
	sum := sha256.Sum256(content)
	desc := v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, Size: int64(len(content))}
	empty := sha256.Sum256(nil)
	flipped := bytes.Clone(content)
	flipped[100] ^= 1
	flippedLast := bytes.Clone(content)
	flippedLast[len(content)-1] ^= 1
	tests := []struct {
		name     string
		file     []byte
		desc     v1.Descriptor
		canceled bool
		err      string // "" for success
	}{
		{"intact", content, desc, false, ""},
		{"empty blob", nil, v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(empty[:])}}, false, ""},
		{"one byte flipped", flipped, desc, false, "has the digest sha256:"},
		{"last byte flipped", flippedLast, desc, false, "has the digest sha256:"},
		{"truncated", content[:len(content)-1], desc, false, "is 159999 bytes, its descriptor says 160000"},
		{"one byte more", append(bytes.Clone(content), 'x'), desc, false, "is 160001 bytes, its descriptor says 160000"},
		{"sha512", content, v1.Descriptor{Digest: v1.Hash{Algorithm: "sha512", Hex: strings.Repeat("0", 128)}, Size: desc.Size}, false, "has the digest sha512:"},
		{"interrupted", content, desc, true, "interrupted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "blob")
			if err := os.WriteFile(p, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.canceled {
				cancel()
			}
			var got bytes.Buffer
			br, err := newBlobReader(ctx, f, layoutFile(p), tc.desc, "layer 1 of 1")
			if err == nil {
				defer br.Close()
				// Small reads, as an upload's might be.
				buf := make([]byte, 4096)
				for {
					var n int
					n, err = br.Read(buf)
					got.Write(buf[:n])
					if err != nil {
						break
					}
				}
				if err == io.EOF {
					err = nil
				}
			} else {
				f.Close()
			}
			if tc.err == "" {
				if err != nil || !bytes.Equal(got.Bytes(), tc.file) {
					t.Fatalf("read %d bytes, %v; want the %d bytes", got.Len(), err, len(tc.file))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, tc.err)
			}
			if int64(got.Len()) >= tc.desc.Size && tc.desc.Size > 0 {
				t.Fatalf("the consumer received %d bytes of a blob of %d before the error", got.Len(), tc.desc.Size)
			}
		})
	}
}
