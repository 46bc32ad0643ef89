//go:build linux

package rootfs

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/nar"
)

// verifyTree makes, under dir, sources that exercise every way a verified
// copy hashes a file: many small files (read into buffers, hashed by
// whoever gets there first), files too big to buffer (hashed by their
// worker when their turn comes, while others wait or read ahead), a sparse
// file, empty files, executables, symlinks, empty directories, and sources
// that are a file and a symlink. It returns the sources, sorted.
func verifyTree(t *testing.T, dir string) []string {
	t.Helper()
	rnd := rand.New(rand.NewSource(7))
	data := func(n int) string {
		b := make([]byte, n)
		rnd.Read(b)
		return string(b)
	}
	big := dir + "/" + strings.Repeat("b", 32) + "-big"
	for i := 0; i < 3; i++ {
		// Bigger than any buffer with at most 8 workers (a quarter of
		// 32 MiB).
		mustWrite(t, fmt.Sprintf("%s/lib/big-%d", big, i), data(9<<20+i), 0o444)
		for j := 0; j < 30; j++ {
			size := rnd.Intn(3 << 20 / 2)
			if j%3 == 0 {
				size = rnd.Intn(5000)
			}
			mode := os.FileMode(0o444)
			if j%7 == 0 {
				mode = 0o555
			}
			mustWrite(t, fmt.Sprintf("%s/lib/d%d/f%02d", big, i, j), data(size), mode)
		}
	}
	mustWrite(t, big+"/empty", "", 0o444)
	mustWrite(t, big+"/empty-exec", "", 0o555)
	if err := os.MkdirAll(big+"/empty dir", 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("lib/big-0", big+"/link"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", big+"/lib/dangling"); err != nil {
		t.Fatal(err)
	}
	// A sparse file with data in the middle and a hole at the end.
	f, err := os.OpenFile(big+"/sparse", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o444)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("in the middle"), 40<<20)
	f.Truncate(96 << 20)
	f.Close()

	small := dir + "/" + strings.Repeat("s", 32) + "-small"
	for i := 0; i < 200; i++ {
		mustWrite(t, fmt.Sprintf("%s/share/%03d", small, i), data(rnd.Intn(20000)), 0o444)
	}
	file := dir + "/" + strings.Repeat("f", 32) + "-file"
	mustWrite(t, file, data(5<<20), 0o555)
	link := dir + "/" + strings.Repeat("l", 32) + "-link"
	if err := os.Symlink(small+"/share/000", link); err != nil {
		t.Fatal(err)
	}
	chmodTree(big, 0o555)
	chmodTree(small, 0o555)
	t.Cleanup(func() { chmodTree(big, 0o755); chmodTree(small, 0o755) })
	return []string{big, file, link, small}
}

func expectedOf(t *testing.T, sources []string) []nar.Expected {
	t.Helper()
	want := make([]nar.Expected, len(sources))
	for i, src := range sources {
		sum, err := nar.HashPath(src)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = nar.Expected{Path: src, NarHash: sum.String(), NarSize: sum.Size}
	}
	return want
}

// TestCopyVerifies copies sources with verification in every mode and with
// 1 to 8 workers: the copy is the source's, every source is verified, the
// sparse file stays sparse.
func TestCopyVerifies(t *testing.T) {
	src := t.TempDir()
	sources := verifyTree(t, src)
	want := expectedOf(t, sources)
	for _, mode := range []Mode{ModeCopy, ModeReflink, ModeHardlink} {
		for _, workers := range []int{1, 2, 8} {
			t.Run(fmt.Sprintf("%s/%d", mode, workers), func(t *testing.T) {
				out := t.TempDir()
				stats, err := Copy(context.Background(), openDir(t, out), sources, Options{Mode: mode, Workers: workers, Verify: want})
				t.Cleanup(func() { chmodTree(out, 0o755) })
				if err != nil {
					t.Fatal(err)
				}
				if stats.Verified != int64(len(sources)) || stats.Paths != int64(len(sources)) {
					t.Fatalf("stats %+v: want %d paths verified", stats, len(sources))
				}
				for i, s := range sources {
					if err := nar.Verify(filepath.Join(out, filepath.Base(s)), want[i].NarHash); err != nil {
						t.Fatal(err)
					}
				}
				var st unix.Stat_t
				if err := unix.Stat(filepath.Join(out, filepath.Base(sources[0]), "sparse"), &st); err != nil || st.Blocks*512 > 1<<20 {
					t.Fatalf("copied sparse file: %d blocks, %v", st.Blocks, err)
				}
			})
		}
	}
}

// TestCopyVerifyPartial: a source without an expected hash is copied, not
// verified.
func TestCopyVerifyPartial(t *testing.T) {
	src := t.TempDir()
	a := src + "/" + strings.Repeat("a", 32) + "-a"
	b := src + "/" + strings.Repeat("b", 32) + "-b"
	mustWrite(t, a+"/x", "x", 0o444)
	mustWrite(t, b+"/y", "y", 0o444)
	want := expectedOf(t, []string{a, b})
	want[1].NarHash = ""
	out := t.TempDir()
	stats, err := Copy(context.Background(), openDir(t, out), []string{a, b}, Options{Verify: want})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Verified != 1 || stats.Paths != 2 {
		t.Fatalf("stats %+v: want 2 paths, 1 verified", stats)
	}
}

// TestCopyVerifyMismatch changes one thing in a source after its hash was
// taken (each kind of change a NAR sees) and checks that the copy fails
// with the mismatch: in copy mode for every change, in the other modes for
// the contents of small and big files (what they hash differently).
func TestCopyVerifyMismatch(t *testing.T) {
	tampers := []struct {
		name   string
		tamper func(t *testing.T, p string)
	}{
		{"byte in a small file", func(t *testing.T, p string) { rewrite(t, p+"/share/117", func(b []byte) { b[len(b)/2] ^= 1 }) }},
		{"byte in a big file", func(t *testing.T, p string) { rewrite(t, p+"/lib/big-1", func(b []byte) { b[5<<20] ^= 1 }) }},
		{"executable bit", func(t *testing.T, p string) { os.Chmod(p+"/share/003", 0o555) }},
		{"file grown", func(t *testing.T, p string) { rewrite(t, p+"/share/050", func(b []byte) {}, 'x') }},
		{"symlink target", func(t *testing.T, p string) {
			os.Remove(p + "/lib/dangling")
			os.Symlink("elsewhere", p+"/lib/dangling")
		}},
		{"entry added", func(t *testing.T, p string) { mustWrite(t, p+"/share/zzz", "", 0o444) }},
		{"sparse data", func(t *testing.T, p string) {
			f, _ := os.OpenFile(p+"/sparse", os.O_WRONLY, 0)
			f.WriteAt([]byte("!"), 90<<20)
			f.Close()
		}},
		{"single-file source", func(t *testing.T, p string) { rewrite(t, p, func(b []byte) { b[0] ^= 1 }) }},
		{"symlink source", func(t *testing.T, p string) { os.Remove(p); os.Symlink("/elsewhere", p) }},
	}
	src := t.TempDir()
	sources := verifyTree(t, src)
	want := expectedOf(t, sources)
	for i, tc := range tampers {
		for _, mode := range []Mode{ModeCopy, ModeReflink, ModeHardlink} {
			if i >= 2 && mode != ModeCopy {
				continue
			}
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				dir := t.TempDir()
				// A fresh copy of the sources to tamper with, same names.
				var copies []string
				for _, s := range sources {
					copies = append(copies, filepath.Join(dir, filepath.Base(s)))
				}
				if _, err := Copy(context.Background(), openDir(t, dir), sources, Options{}); err != nil {
					t.Fatal(err)
				}
				chmodTree(dir, 0o755)
				target := copies[0]
				switch {
				case strings.HasPrefix(tc.name, "single-file"):
					target = copies[1]
				case strings.HasPrefix(tc.name, "symlink source"):
					target = copies[2]
				case strings.Contains(tc.name, "small file") || strings.Contains(tc.name, "executable") || strings.Contains(tc.name, "grown") || strings.Contains(tc.name, "added"):
					target = copies[3]
				}
				tc.tamper(t, target)
				var idx int
				expect := make([]nar.Expected, len(copies))
				for i := range copies {
					expect[i] = want[i]
					expect[i].Path = copies[i]
					if copies[i] == target {
						idx = i
					}
				}
				actual, err := nar.HashPath(target)
				if err != nil {
					t.Fatal(err)
				}
				out := t.TempDir()
				_, err = Copy(context.Background(), openDir(t, out), copies, Options{Mode: mode, Workers: 3, Verify: expect})
				t.Cleanup(func() { chmodTree(out, 0o755) })
				var mismatch *nar.MismatchError
				if !errors.As(err, &mismatch) {
					t.Fatalf("error %v, want a mismatch", err)
				}
				msg := fmt.Sprintf("store path %s: NAR hash mismatch: expected %s, got %s", target, want[idx].NarHash, actual)
				if actual.Size != want[idx].NarSize {
					msg += fmt.Sprintf(" (NAR size: expected %d bytes, got %d)", want[idx].NarSize, actual.Size)
				}
				if err.Error() != msg {
					t.Fatalf("error\n%s\nwant\n%s", err, msg)
				}
			})
		}
	}
}

// rewrite changes the file at p in place, appending extra bytes.
func rewrite(t *testing.T, p string, change func([]byte), extra ...byte) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	change(b)
	b = append(b, extra...)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, st.Mode()); err != nil {
		t.Fatal(err)
	}
}

// TestCopyVerifySizeMismatch: the same hash with another size means the
// graph is wrong, and says so.
func TestCopyVerifySizeMismatch(t *testing.T) {
	src := t.TempDir()
	a := src + "/" + strings.Repeat("a", 32) + "-a"
	mustWrite(t, a+"/x", "x", 0o444)
	want := expectedOf(t, []string{a})
	want[0].NarSize++
	_, err := Copy(context.Background(), openDir(t, t.TempDir()), []string{a}, Options{Verify: want})
	msg := fmt.Sprintf("store path %s: the NAR hash matches but the NAR size is %d bytes, not the %d the closure graph gives", a, want[0].NarSize-1, want[0].NarSize)
	if err == nil || err.Error() != msg {
		t.Fatalf("error %v, want %q", err, msg)
	}
}

func TestCopyVerifyBadExpectations(t *testing.T) {
	src := t.TempDir()
	a := src + "/" + strings.Repeat("a", 32) + "-a"
	mustWrite(t, a+"/x", "x", 0o444)
	tests := []struct {
		name string
		want []nar.Expected
		err  string
	}{
		{"count", []nar.Expected{}, "verify: 0 expected hashes for 1 sources"},
		{"path", []nar.Expected{{Path: "/elsewhere", NarHash: "sha256:x"}}, "verify: expected hash 0 is for /elsewhere, not " + a},
		{"hash", []nar.Expected{{Path: a, NarHash: "sha256:x"}}, "store path " + a + `: narHash "sha256:x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			_, err := Copy(context.Background(), openDir(t, out), []string{a}, Options{Verify: tc.want})
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Fatalf("copied %v before checking", entries)
			}
		})
	}
}

// TestVerifyWithoutCopy is bind mode's check: the store paths are read,
// hashed and compared, nothing is written.
func TestVerifyWithoutCopy(t *testing.T) {
	src := t.TempDir()
	sources := verifyTree(t, src)
	want := expectedOf(t, sources)
	stats, err := Verify(context.Background(), want, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, w := range want {
		total += w.NarSize
	}
	if stats.Verified != int64(len(sources)) || stats.Bytes != int64(total) {
		t.Fatalf("stats %+v: want %d verified, %d bytes", stats, len(sources), total)
	}
	bad := append([]nar.Expected(nil), want...)
	bad[3].NarHash = want[0].NarHash
	_, err = Verify(context.Background(), bad, Options{Workers: 2})
	var mismatch *nar.MismatchError
	if !errors.As(err, &mismatch) || mismatch.Path != sources[3] {
		t.Fatalf("error %v, want a mismatch of %s", err, sources[3])
	}
}

// TestBufPool checks the buffer budget: files up to a quarter of the limit
// are lent buffers while the limit allows, and buffers kept for reuse count
// against it too.
func TestBufPool(t *testing.T) {
	p := newBufPool(16 << 20)
	if b, ok := p.get(0); !ok || b != nil {
		t.Fatalf("empty file: %v %v", b, ok)
	}
	if _, ok := p.get(4<<20 + 1); ok {
		t.Fatal("lent a buffer bigger than a quarter of the limit")
	}
	var held [][]byte
	for i := 0; i < 4; i++ {
		b, ok := p.get(3 << 20)
		if !ok || len(b) != 3<<20 {
			t.Fatalf("buffer %d: %d bytes, %v", i, len(b), ok)
		}
		held = append(held, b)
	}
	if _, ok := p.get(1); ok {
		t.Fatal("lent beyond the limit")
	}
	p.put(held[0])
	if b, ok := p.get(100); !ok || len(b) != 100 {
		t.Fatalf("after a put: %d bytes, %v", len(b), ok)
	}
	// Free buffers of another size make room: what the pool keeps and
	// lends stays within the limit.
	for _, b := range held[1:] {
		p.put(b)
	}
	for i := 0; i < 12; i++ {
		if _, ok := p.get(1 << 20); !ok {
			t.Fatalf("1 MiB buffer %d refused with %d bytes allocated", i, p.total)
		}
		if p.total > p.limit {
			t.Fatalf("%d bytes allocated, limit %d", p.total, p.limit)
		}
	}
}
