package layer_test

import (
	"bytes"
	stdflate "compress/flate"
	"context"
	"encoding/base64"
	"encoding/hex"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/layer"
)

// TestLayerSizeByKind writes layers of content on which klauspost's
// encoders take shortcuts that zlib and C zstd do not (blocks stored raw
// for want of matches, runs of one byte), and checks each layer's size
// against a reference computed here: the standard library's deflate at
// level 6 (a port of zlib's) of the same tar, which codes such content
// about as well as `gzip -6` and `zstd -3` do. Each layer must be within
// 2 % of it (random bytes: of the tar itself). A regression to raw blocks
// makes base64 text a third bigger and hexadecimal text twice as big.
func TestLayerSizeByKind(t *testing.T) {
	rng := rand.New(rand.NewSource(22))
	random := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	lines := func(s string, width int) []byte {
		var b bytes.Buffer
		for len(s) > 0 {
			k := min(width, len(s))
			b.WriteString(s[:k])
			b.WriteByte('\n')
			s = s[k:]
		}
		return b.Bytes()
	}
	letters := func(n int) []byte {
		const alphabet = "abcdefghijklmnopqrstuvwxyz      \n"
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.Intn(len(alphabet))]
		}
		return b
	}
	sparse := func() []byte {
		// Zeros with a little text between: a disk image, a
		// preallocated file.
		b := make([]byte, 12<<20)
		for off := 3 << 20; off < len(b); off += 3 << 20 {
			copy(b[off-4096:], letters(4096))
		}
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		// ofTar: the reference is the tar's own size (incompressible).
		ofTar bool
	}{
		{"base64", lines(base64.StdEncoding.EncodeToString(random(3<<20)), 76), false},
		{"hex", lines(hex.EncodeToString(random(2<<20)), 64), false},
		{"text without repeats", letters(3 << 20), false},
		{"sparse", sparse(), false},
		{"random", random(3 << 20), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := t.TempDir()
			p := filepath.Join(store, "0123456789abcdfghijklmnpqrsvwxyz-data")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, "data"), tc.data, 0o444); err != nil {
				t.Fatal(err)
			}
			var tarBuf bytes.Buffer
			if _, err := layer.WriteTar(context.Background(), &tarBuf, store, []string{p}, layer.Options{}); err != nil {
				t.Fatal(err)
			}
			ref := int64(tarBuf.Len())
			if !tc.ofTar {
				var z bytes.Buffer
				zw, err := stdflate.NewWriter(&z, 6)
				if err != nil {
					t.Fatal(err)
				}
				zw.Write(tarBuf.Bytes())
				if err := zw.Close(); err != nil {
					t.Fatal(err)
				}
				ref = int64(z.Len())
			}
			for _, c := range []layer.Compression{layer.Gzip, layer.Zstd} {
				l, err := layer.Write(context.Background(), &bytes.Buffer{}, store, []string{p}, c, layer.Options{Pool: layer.NewPool(2)})
				if err != nil {
					t.Fatal(err)
				}
				limit := ref + ref/50 + 64
				if l.Size > limit {
					t.Errorf("%s layer of %d bytes of tar: %d bytes, more than %d (the reference %d + 2 %%): %+.1f %%",
						c, tarBuf.Len(), l.Size, limit, ref, 100*(float64(l.Size)/float64(ref)-1))
				} else {
					t.Logf("%s: %d bytes, reference %d (%+.1f %%)", c, l.Size, ref, 100*(float64(l.Size)/float64(ref)-1))
				}
			}
		})
	}
}

// TestGzipSizeOnToolchain writes gzip layers of the Go toolchain's own
// ELF executables and source text, the two kinds on which klauspost's
// level 6 came out 3.8 and 3.5 % bigger than `gzip -6` (issue 22), and
// checks each within 2 % of `gzip -6` of the same tar.
func TestGzipSizeOnToolchain(t *testing.T) {
	gzip, err := exec.LookPath("gzip")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("gzip, the reference, is not installed: %v", err)
		}
		t.Skip("no gzip")
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	tools, err := filepath.Glob(filepath.Join(goroot, "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "*"))
	if err != nil || len(tools) == 0 {
		t.Fatalf("no executables in GOROOT's pkg/tool: %v", err)
	}
	var sources []string
	for _, dir := range []string{"net", "go"} {
		filepath.WalkDir(filepath.Join(goroot, "src", dir), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && strings.HasSuffix(path, ".go") {
				sources = append(sources, path)
			}
			return err
		})
	}
	if len(sources) == 0 {
		t.Fatalf("no .go files in %s/src/net and src/go", goroot)
	}
	for _, tc := range []struct {
		name  string
		files []string
	}{
		{"elf", tools},
		{"source", sources},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := t.TempDir()
			p := filepath.Join(store, "0123456789abcdfghijklmnpqrsvwxyz-"+tc.name)
			for i, f := range tc.files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(p, strconv.Itoa(i/100))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)+strconv.Itoa(i)), b, 0o555); err != nil {
					t.Fatal(err)
				}
			}
			var tarBuf bytes.Buffer
			if _, err := layer.WriteTar(context.Background(), &tarBuf, store, []string{p}, layer.Options{}); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(gzip, "-6", "-c")
			cmd.Stdin = &tarBuf
			ref, err := cmd.Output()
			if err != nil {
				t.Fatalf("gzip -6: %v", err)
			}
			l, err := layer.Write(context.Background(), &bytes.Buffer{}, store, []string{p}, layer.Gzip, layer.Options{Pool: layer.NewPool(2)})
			if err != nil {
				t.Fatal(err)
			}
			limit := int64(len(ref)) + int64(len(ref))/50
			diff := 100 * (float64(l.Size)/float64(len(ref)) - 1)
			if l.Size > limit {
				t.Errorf("gzip layer of %d files: %d bytes, more than %d (`gzip -6` %d + 2 %%): %+.2f %%", len(tc.files), l.Size, limit, len(ref), diff)
			} else {
				t.Logf("%d files: %d bytes, `gzip -6` %d (%+.2f %%)", len(tc.files), l.Size, len(ref), diff)
			}
		})
	}
}
