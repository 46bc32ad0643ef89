package layer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"

	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/nar"
)

// bigStore makes a store holding one path with size bytes of half
// compressible text, half random bytes, in a few files, so that its layer
// spans many compression blocks, and returns the store and the path.
func bigStore(t *testing.T, size int) (string, string) {
	t.Helper()
	store := t.TempDir()
	p := filepath.Join(store, "0123456789abcdfghijklmnpqrsvwxyz-big")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(13))
	words := []string{"func ", "return ", "nil", "err ", "if ", "{\n", "}\n", "layer", "store", "digest ", "\t", "0x1f", "compress"}
	const files = 5
	for i := 0; i < files; i++ {
		var b bytes.Buffer
		for b.Len() < size/files/2 {
			b.WriteString(words[rng.Intn(len(words))])
		}
		noise := make([]byte, size/files/2)
		rng.Read(noise)
		b.Write(noise)
		if err := os.WriteFile(filepath.Join(p, fmt.Sprintf("file%d", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return store, p
}

// TestParallelCompressionDeterministic writes a layer spanning many blocks
// with 1, 2 and 4 workers: the same bytes each time, which gunzip and
// zstd -d (and the Go readers) turn back into the tar of the DiffID. The
// store path is verified on the way (its NAR hashed from the bytes read
// straight into the compression blocks).
func TestParallelCompressionDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 40 MiB layers")
	}
	store, p := bigStore(t, 40<<20)
	sum, err := nar.HashPath(p)
	if err != nil {
		t.Fatal(err)
	}
	verify := []nar.Expected{{Path: p, NarHash: sum.String(), NarSize: sum.Size}}
	for _, c := range []layer.Compression{layer.Gzip, layer.Zstd} {
		t.Run(string(c), func(t *testing.T) {
			var first []byte
			var firstLayer layer.Layer
			for _, workers := range []int{1, 2, 4} {
				var out bytes.Buffer
				l, err := layer.Write(context.Background(), &out, store, []string{p}, c, layer.Options{Pool: layer.NewPool(workers), Verify: verify})
				if err != nil {
					t.Fatal(err)
				}
				if l.Verified != 1 {
					t.Fatalf("%d workers: %d store paths verified, want 1", workers, l.Verified)
				}
				if l.Digest != digest.FromBytes(out.Bytes()) || l.Size != int64(out.Len()) {
					t.Fatalf("%d workers: layer %+v does not describe its %d bytes", workers, l, out.Len())
				}
				if first == nil {
					first, firstLayer = out.Bytes(), l
					continue
				}
				if l.Digest != firstLayer.Digest || !bytes.Equal(out.Bytes(), first) {
					t.Fatalf("%d workers: digest %s, with 1 worker %s", workers, l.Digest, firstLayer.Digest)
				}
			}
			if firstLayer.TarSize < 40<<20 || firstLayer.Size >= firstLayer.TarSize*3/4 {
				t.Fatalf("tar of %d bytes compressed to %d", firstLayer.TarSize, firstLayer.Size)
			}
			checkDecompresses(t, c, first, firstLayer.DiffID)
		})
	}
}

// TestParallelCompressionSmall: layers smaller than a block, empty tars
// included, are the same with any pool.
func TestParallelCompressionSmall(t *testing.T) {
	store, paths := fakeStore(t)
	for _, c := range []layer.Compression{layer.Gzip, layer.Zstd} {
		var want digest.Digest
		for _, pool := range []*layer.Pool{nil, layer.NewPool(1), layer.NewPool(3)} {
			l, err := layer.Write(context.Background(), io.Discard, store, paths, c, layer.Options{Pool: pool})
			if err != nil {
				t.Fatal(err)
			}
			if want == "" {
				want = l.Digest
			} else if l.Digest != want {
				t.Fatalf("%s: %s with pool %v, %s before", c, l.Digest, pool, want)
			}
		}
	}
}

// TestPoolReuse: a pool keeps the buffers and deflate compressors of
// finished blocks for the next layers; what it hands out again must not
// change a byte. Layers written one after the other on one pool, and
// concurrently, have the digest of a layer written on a fresh pool.
func TestPoolReuse(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 12 MiB layers")
	}
	store, p := bigStore(t, 12<<20)
	for _, c := range []layer.Compression{layer.Gzip, layer.Zstd} {
		t.Run(string(c), func(t *testing.T) {
			write := func(pool *layer.Pool) digest.Digest {
				l, err := layer.Write(context.Background(), io.Discard, store, []string{p}, c, layer.Options{Pool: pool})
				if err != nil {
					t.Error(err)
				}
				return l.Digest
			}
			want := write(layer.NewPool(2))
			shared := layer.NewPool(2)
			for i := 0; i < 3; i++ {
				if got := write(shared); got != want {
					t.Fatalf("layer %d on a used pool: %s, on a fresh one %s", i, got, want)
				}
			}
			got := make([]digest.Digest, 3)
			done := make(chan struct{})
			for i := range got {
				go func() {
					defer func() { done <- struct{}{} }()
					got[i] = write(shared)
				}()
			}
			for range got {
				<-done
			}
			for i, d := range got {
				if d != want {
					t.Fatalf("concurrent layer %d: %s, on a fresh pool %s", i, d, want)
				}
			}
		})
	}
}

// TestZstdZeroRuns: runs of zeros get frames of RLE blocks, as C zstd
// codes them, 4 bytes per 128 KiB, where klauspost's encoder alone takes
// about 14; the layer still decompresses to its tar with the Go reader
// and with zstd -d, whatever the run's length and alignment.
func TestZstdZeroRuns(t *testing.T) {
	text := bytes.Repeat([]byte("sparse files hold holes\n"), 100)
	for _, tc := range []struct {
		name  string
		data  []byte
		limit int64
	}{
		// 32 MiB: 256 RLE blocks, in 4 frames (one per 8 MiB block).
		{"zeros", make([]byte, 32<<20), 1500},
		// Runs shorter than 4 aligned blocks stay with the encoder.
		{"short runs", bytes.Join([][]byte{make([]byte, 300<<10), text, make([]byte, 500<<10), text, make([]byte, 100)}, nil), 3000},
		// Text around holes, at unaligned offsets, across frames.
		{"holes", bytes.Join([][]byte{text[:777], make([]byte, 9<<20), text, make([]byte, 3<<20+5), text[:1]}, nil), 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := t.TempDir()
			p := filepath.Join(store, "0123456789abcdfghijklmnpqrsvwxyz-zeros")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, "data"), tc.data, 0o444); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			l, err := layer.Write(context.Background(), &out, store, []string{p}, layer.Zstd, layer.Options{Pool: layer.NewPool(2)})
			if err != nil {
				t.Fatal(err)
			}
			if l.Size > tc.limit {
				t.Errorf("%d bytes of tar compressed to %d bytes, more than %d", l.TarSize, l.Size, tc.limit)
			}
			checkDecompresses(t, layer.Zstd, out.Bytes(), l.DiffID)
		})
	}
}

// checkDecompresses checks that blob, a layer compressed with c, gives
// back the tar of diffID, read by the Go readers (which check the gzip
// CRC, one member, and the zstd frames' checksums) and by the C tool
// (gzip -d, zstd -d).
func checkDecompresses(t *testing.T, c layer.Compression, blob []byte, diffID digest.Digest) {
	t.Helper()
	var r io.Reader
	if c == layer.Gzip {
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		r = zr
	} else {
		zr, err := zstd.NewReader(bytes.NewReader(blob))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != diffID {
		t.Fatalf("decompressed to %s, DiffID %s", got, diffID)
	}
	tool := map[layer.Compression]string{layer.Gzip: "gzip", layer.Zstd: "zstd"}[c]
	if _, err := exec.LookPath(tool); err != nil {
		t.Logf("%s not found: not checked with it", tool)
		return
	}
	cmd := exec.Command(tool, "-d", "-c")
	cmd.Stdin = bytes.NewReader(blob)
	h.Reset()
	cmd.Stdout = h
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s -d: %v: %s", tool, err, stderr.String())
	}
	if got := digest.NewDigest(digest.SHA256, h); got != diffID {
		t.Fatalf("%s -d gives %s, DiffID %s", tool, got, diffID)
	}
}
