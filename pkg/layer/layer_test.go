package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"

	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/nar"
)

// fakeStore makes a store directory holding a directory path (files of both
// modes, an empty directory, symlinks, a hard link), a regular file path and
// a symlink path, and returns the store directory and the three paths.
func fakeStore(t *testing.T) (string, []string) {
	t.Helper()
	store := filepath.Join(t.TempDir(), "nix", "store")
	pkg := store + "/" + strings.Repeat("a", 32) + "-pkg"
	file := store + "/" + strings.Repeat("b", 32) + "-file.txt"
	link := store + "/" + strings.Repeat("c", 32) + "-link"
	for _, d := range []string{pkg + "/bin", pkg + "/share/empty", pkg + "/lib"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, data string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(pkg+"/bin/prog", "#!/bin/sh\necho hi\n", 0o555)
	write(pkg+"/lib/data", strings.Repeat("data ", 100000), 0o444)
	write(file, "just a file\n", 0o444)
	if err := os.Link(pkg+"/lib/data", pkg+"/lib/data-again"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("prog", pkg+"/bin/alias"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{pkg + "/bin", pkg + "/share/empty", pkg + "/share", pkg + "/lib", pkg} {
		if err := os.Chmod(d, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		filepath.Walk(store, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
	})
	return store, []string{pkg, file, link}
}

type entry struct {
	name, link string
	typ        byte
	mode       int64
	size       int64
}

func readTar(t *testing.T, r io.Reader) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(time.Unix(1, 0)) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %v uid %d gid %d uname %q gname %q", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		out = append(out, entry{name: h.Name, link: h.Linkname, typ: h.Typeflag, mode: h.Mode, size: h.Size})
	}
}

func TestWriteTarEntries(t *testing.T) {
	store, paths := fakeStore(t)
	var buf bytes.Buffer
	// Given in reverse order: the tar is sorted whatever the order.
	stats, err := layer.WriteTar(context.Background(), &buf, store, []string{paths[2], paths[1], paths[0]}, layer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rel := strings.TrimPrefix(store, "/")
	var want []entry
	parts := strings.Split(rel, "/")
	for i := range parts {
		want = append(want, entry{name: strings.Join(parts[:i+1], "/") + "/", typ: tar.TypeDir, mode: 0o755})
	}
	a := rel + "/" + strings.Repeat("a", 32) + "-pkg"
	want = append(want,
		entry{name: a + "/", typ: tar.TypeDir, mode: 0o555},
		entry{name: a + "/bin/", typ: tar.TypeDir, mode: 0o555},
		entry{name: a + "/bin/alias", typ: tar.TypeSymlink, link: "prog", mode: 0o777},
		entry{name: a + "/bin/prog", typ: tar.TypeReg, mode: 0o555, size: 18},
		entry{name: a + "/lib/", typ: tar.TypeDir, mode: 0o555},
		entry{name: a + "/lib/data", typ: tar.TypeReg, mode: 0o444, size: 500000},
		// Hard links are written as regular files.
		entry{name: a + "/lib/data-again", typ: tar.TypeReg, mode: 0o444, size: 500000},
		entry{name: a + "/share/", typ: tar.TypeDir, mode: 0o555},
		entry{name: a + "/share/empty/", typ: tar.TypeDir, mode: 0o555},
		entry{name: rel + "/" + strings.Repeat("b", 32) + "-file.txt", typ: tar.TypeReg, mode: 0o444, size: 12},
		entry{name: rel + "/" + strings.Repeat("c", 32) + "-link", typ: tar.TypeSymlink, link: paths[1], mode: 0o777},
	)
	got := readTar(t, &buf)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries\n%v\nwant\n%v", got, want)
	}
	if stats.Files != 4 || stats.Dirs != 5 || stats.Symlinks != 2 || stats.Bytes != 1000030 {
		t.Fatalf("stats %+v", stats)
	}
}

func TestWriteTarErrors(t *testing.T) {
	store, paths := fakeStore(t)
	fifoPath := store + "/" + strings.Repeat("d", 32) + "-fifo"
	if err := os.Mkdir(fifoPath, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifoPath+"/pipe", 0o644); err != nil {
		t.Fatal(err)
	}
	whiteout := store + "/" + strings.Repeat("f", 32) + "-wh"
	if err := os.MkdirAll(whiteout+"/.wh.gone", 0o755); err != nil {
		t.Fatal(err)
	}
	missing := store + "/" + strings.Repeat("g", 32) + "-missing"
	tests := []struct {
		name     string
		storeDir string
		paths    []string
		want     string
	}{
		{"fifo", store, []string{fifoPath}, "read " + fifoPath + "/pipe: is a FIFO; a store path holds only regular files, directories and symlinks"},
		{"whiteout name", store, []string{whiteout}, whiteout + "/.wh.gone: a name starting with \".wh.\""},
		{"missing", store, []string{missing}, "read " + missing + ": no such file or directory"},
		{"outside the store", store, []string{"/etc"}, "store path /etc is not directly in " + store},
		{"twice", store, []string{paths[0], paths[0]}, "is given twice"},
		{"relative store", "nix/store", nil, `store directory "nix/store" is not a clean absolute path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := layer.WriteTar(context.Background(), io.Discard, tc.storeDir, tc.paths, layer.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// chunkWriter passes writes on in pieces of at most n bytes.
type chunkWriter struct {
	w io.Writer
	n int
}

func (c chunkWriter) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		k := min(c.n, len(p))
		m, err := c.w.Write(p[:k])
		total += m
		if err != nil {
			return total, err
		}
		p = p[k:]
	}
	return total, nil
}

func decompress(t *testing.T, c layer.Compression, blob []byte) []byte {
	t.Helper()
	var r io.Reader
	switch c {
	case layer.Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(blob[4:8], []byte{0, 0, 0, 0}) || zr.Header.Name != "" || zr.Header.OS != 255 {
			t.Errorf("gzip header %+v", zr.Header)
		}
		r = zr
	case layer.Zstd:
		zr, err := zstd.NewReader(bytes.NewReader(blob))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWriteCompressedDeterministic(t *testing.T) {
	store, paths := fakeStore(t)
	for _, c := range []layer.Compression{layer.Gzip, layer.Zstd} {
		t.Run(string(c), func(t *testing.T) {
			var blobs [][]byte
			for _, chunk := range []int{1 << 30, 4097, 512} {
				var buf bytes.Buffer
				var progressed int64
				l, err := layer.Write(context.Background(), chunkWriter{&buf, chunk}, store, paths, c, layer.Options{Progress: func(n int64) { progressed += n }})
				if err != nil {
					t.Fatal(err)
				}
				blob := buf.Bytes()
				if l.Digest != digest.FromBytes(blob) || l.Size != int64(len(blob)) {
					t.Fatalf("digest %s size %d, blob has %s and %d", l.Digest, l.Size, digest.FromBytes(blob), len(blob))
				}
				tarData := decompress(t, c, blob)
				if l.DiffID != digest.FromBytes(tarData) || l.TarSize != int64(len(tarData)) {
					t.Fatalf("diffID %s, uncompressed blob has %s", l.DiffID, digest.FromBytes(tarData))
				}
				if progressed != l.Bytes || l.Files != 4 {
					t.Fatalf("progress %d, stats %+v", progressed, l.Stats)
				}
				if got, want := len(readTar(t, bytes.NewReader(tarData))), strings.Count(store, "/")+11; got != want {
					t.Fatalf("%d entries, want %d", got, want)
				}
				blobs = append(blobs, append([]byte(nil), blob...))
			}
			for i := 1; i < len(blobs); i++ {
				if !bytes.Equal(blobs[0], blobs[i]) {
					t.Fatalf("write %d differs from write 0", i)
				}
			}
		})
	}
}

// failingWriter fails after n bytes.
type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	store, paths := fakeStore(t)
	_, err := layer.Write(context.Background(), &failingWriter{n: 100}, store, paths, layer.Gzip, layer.Options{})
	if err == nil || !strings.Contains(err.Error(), "write layer: disk full") || strings.Contains(err.Error(), "read ") {
		t.Fatalf("error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := layer.Write(ctx, io.Discard, store, paths, layer.Zstd, layer.Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if _, err := layer.Write(context.Background(), io.Discard, store, paths, "xz", layer.Options{}); err == nil {
		t.Fatal("no error for compression xz")
	}
}

func TestParseCompression(t *testing.T) {
	tests := []struct {
		in, want, media, err string
	}{
		{"", "gzip", "application/vnd.oci.image.layer.v1.tar+gzip", ""},
		{"gzip", "gzip", "application/vnd.oci.image.layer.v1.tar+gzip", ""},
		{"zstd", "zstd", "application/vnd.oci.image.layer.v1.tar+zstd", ""},
		{"xz", "", "", `compression "xz" is not supported (use "gzip", "zstd" or "none")`},
	}
	for _, tc := range tests {
		c, err := layer.ParseCompression(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || string(c) != tc.want || c.MediaType() != tc.media {
			t.Errorf("%q: %q %q %v", tc.in, c, c.MediaType(), err)
		}
	}
}

func TestLongNames(t *testing.T) {
	store := filepath.Join(t.TempDir(), "s")
	p := store + "/" + strings.Repeat("a", 32) + "-deep"
	long := p
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		long += "/" + strings.Repeat(string(rune('a'+i%26)), 100)
		if err := os.Mkdir(long, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	name := strings.Repeat("é", 120)
	if err := os.WriteFile(long+"/"+name, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	sum := sha256.New()
	if _, err := layer.WriteTar(context.Background(), io.MultiWriter(&a, sum), store, []string{p}, layer.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := layer.WriteTar(context.Background(), &b, store, []string{p}, layer.Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes differ")
	}
	entries := readTar(t, &a)
	last := entries[len(entries)-1]
	if want := strings.TrimPrefix(long, "/") + "/" + name; last.name != want {
		t.Fatalf("last entry %q, want %q", last.name, want)
	}
}

// TestHostileNames: names with newlines, backslashes, non-UTF-8 bytes and
// 255 bytes, and symlinks whatever their targets, come out as they are.
func TestHostileNames(t *testing.T) {
	store := filepath.Join(t.TempDir(), "s")
	p := store + "/" + strings.Repeat("a", 32) + "-hostile"
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"new\nline", "back\\slash", "bad\xff\xfeutf8", strings.Repeat("n", 255), " space", "-dash"}
	for _, n := range names {
		if err := os.WriteFile(p+"/"+n, []byte(n), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	targets := map[string]string{"abs": "/nix/store/elsewhere", "dangling": "missing", "loop": "loop", "long": strings.Repeat("x/", 2000)}
	for n, target := range targets {
		if err := os.Symlink(target, p+"/"+n); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := layer.WriteTar(context.Background(), &buf, store, []string{p}, layer.Options{}); err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimPrefix(p, "/") + "/"
	got := map[string]entry{}
	for _, e := range readTar(t, &buf) {
		if strings.HasPrefix(e.name, prefix) {
			got[strings.TrimPrefix(e.name, prefix)] = e
		}
	}
	for _, n := range names {
		if e, ok := got[n]; !ok || e.typ != tar.TypeReg || e.size != int64(len(n)) {
			t.Errorf("file %q: %+v", n, e)
		}
	}
	for n, target := range targets {
		if e := got[n]; e.typ != tar.TypeSymlink || e.link != target {
			t.Errorf("symlink %q: %+v", n, e)
		}
	}
}

func TestWriteEntries(t *testing.T) {
	entries := []layer.Entry{
		{Path: "/tmp", Dir: true, Mode: 0o1777},
		{Path: "/etc/passwd", Data: []byte("root:x:0:0::/root:/sbin/nologin\n"), Mode: 0o444},
		{Path: "/home/app", Dir: true, Mode: 0o755, UID: 1000, GID: 100},
		{Path: "/srv/app/data", Dir: true, Mode: 0o755},
	}
	var buf bytes.Buffer
	l, err := layer.WriteEntries(context.Background(), &buf, entries, layer.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(decompress(t, layer.Gzip, buf.Bytes())))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %o %d:%d %d", h.Name, h.Mode, h.Uid, h.Gid, h.Size))
	}
	want := []string{
		"etc/ 755 0:0 0", "etc/passwd 444 0:0 32", "home/ 755 0:0 0", "home/app/ 755 1000:100 0",
		"srv/ 755 0:0 0", "srv/app/ 755 0:0 0", "srv/app/data/ 755 0:0 0", "tmp/ 1777 0:0 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if l.Files != 1 || l.Dirs != 7 {
		t.Fatalf("stats %+v", l.Stats)
	}

	for _, tc := range []struct {
		entries []layer.Entry
		want    string
	}{
		{[]layer.Entry{{Path: "etc/x"}}, `layer entry "etc/x" is not a clean absolute path`},
		{[]layer.Entry{{Path: "/"}}, `layer entry "/" is not a clean absolute path`},
		{[]layer.Entry{{Path: "/a"}, {Path: "/a"}}, "layer entry /a is given twice"},
		{[]layer.Entry{{Path: "/a"}, {Path: "/a/b"}}, "layer entry /a/b is inside /a, which is a file"},
		{[]layer.Entry{{Path: "/a", Dir: true, Data: []byte("x")}}, "is a directory with contents"},
	} {
		if _, err := layer.WriteEntries(context.Background(), io.Discard, tc.entries, layer.Zstd); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// copyTree copies the tree at src to dst (which must not exist), keeping
// modes and symlinks.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		target := dst + strings.TrimPrefix(p, src)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.IsDir():
			return os.Mkdir(target, 0o755)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriteVerified: a layer checks each store path it is given a narHash
// for against the bytes it writes, in gzip and in zstd: a store path as Nix
// registered it passes and the layer is the same bytes as unverified; one
// whose file lost a byte's worth of change fails with a *nar.MismatchError
// naming it, in one line.
func TestWriteVerified(t *testing.T) {
	store, paths := fakeStore(t)
	// Names whose byte order is not what a locale would sort, in
	// directories and files, so that the tar order and the NAR order
	// must agree for the hash to match.
	tricky := store + "/" + strings.Repeat("e", 32) + "-tricky"
	for _, d := range []string{"a", "a/b", "B", "a-b", "é"} {
		if err := os.MkdirAll(tricky+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a.b", "a/b/c", "a/_", "Z", "é/x", "\xff"} {
		if err := os.WriteFile(tricky+"/"+f, []byte(f), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a/b", tricky+"/a0"); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, tricky)
	want := make([]nar.Expected, len(paths))
	for i, p := range paths {
		sum, err := nar.HashPath(p)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = nar.Expected{Path: p, NarHash: sum.String(), NarSize: sum.Size}
	}
	// The store path to corrupt: a copy of the package in another store.
	other := filepath.Join(t.TempDir(), "nix", "store")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	pkg := other + "/" + filepath.Base(paths[0])
	copyTree(t, paths[0], pkg)
	sum, err := nar.HashPath(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.String() != want[0].NarHash {
		t.Fatalf("the copy hashes to %s, the original to %s", sum, want[0].NarHash)
	}
	data := pkg + "/lib/data"
	contents, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	contents[1000] ^= 0x20
	if err := os.WriteFile(data, contents, 0o444); err != nil {
		t.Fatal(err)
	}
	actual, err := nar.HashPath(pkg)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []layer.Compression{layer.Gzip, layer.Zstd} {
		t.Run(string(c), func(t *testing.T) {
			var plain, verified bytes.Buffer
			if _, err := layer.Write(context.Background(), &plain, store, paths, c, layer.Options{}); err != nil {
				t.Fatal(err)
			}
			l, err := layer.Write(context.Background(), &verified, store, paths, c, layer.Options{Verify: want})
			if err != nil {
				t.Fatal(err)
			}
			if l.Verified != int64(len(paths)) || !bytes.Equal(plain.Bytes(), verified.Bytes()) {
				t.Fatalf("verified %d of %d; same bytes as unverified: %v", l.Verified, len(paths), bytes.Equal(plain.Bytes(), verified.Bytes()))
			}
			// Only the paths given a hash are checked.
			l, err = layer.Write(context.Background(), io.Discard, store, paths, c, layer.Options{Verify: want[1:2]})
			if err != nil || l.Verified != 1 {
				t.Fatalf("verified %d, error %v", l.Verified, err)
			}

			corrupt := nar.Expected{Path: pkg, NarHash: want[0].NarHash, NarSize: want[0].NarSize}
			_, err = layer.Write(context.Background(), io.Discard, other, []string{pkg}, c, layer.Options{Verify: []nar.Expected{corrupt}})
			var mismatch *nar.MismatchError
			wantErr := fmt.Sprintf("store path %s: NAR hash mismatch: expected %s, got %s", pkg, want[0].NarHash, actual)
			if !errors.As(err, &mismatch) || err.Error() != wantErr {
				t.Fatalf("error %v, want %q", err, wantErr)
			}
		})
	}

	for _, tc := range []struct {
		name string
		want []nar.Expected
		err  string
	}{
		{"not in the layer", []nar.Expected{{Path: store + "/" + strings.Repeat("z", 32) + "-x", NarHash: want[0].NarHash}}, "verify: store path " + store + "/zzzz"},
		{"bad hash", []nar.Expected{{Path: paths[0], NarHash: "sha256:nope"}}, `store path ` + paths[0] + `: narHash "sha256:nope"`},
		{"size", []nar.Expected{{Path: paths[0], NarHash: want[0].NarHash, NarSize: 1}}, "the NAR hash matches but the NAR size is"},
	} {
		if _, err := layer.WriteTar(context.Background(), io.Discard, store, paths, layer.Options{Verify: tc.want}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}

// TestWriteTarChangedFile: a store file that changes while the layer reads
// it fails the layer, naming it.
func TestWriteTarChangedFile(t *testing.T) {
	store, paths := fakeStore(t)
	data := paths[0] + "/lib/data"
	grow := func() {
		os.Chmod(data, 0o644)
		f, err := os.OpenFile(data, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.WriteString("more")
	}
	// The tar goes through a writer that changes the file once the
	// layer has read part of it.
	w := &hookWriter{after: 300000, hook: grow}
	_, err := layer.WriteTar(context.Background(), w, store, paths, layer.Options{})
	if err == nil || !strings.Contains(err.Error(), "read "+data+": changed while it was read: its size went from 500000 to 500004 bytes") {
		t.Fatalf("error %v", err)
	}
}

// hookWriter calls hook once after bytes have been written through it.
type hookWriter struct {
	n, after int
	hook     func()
}

func (h *hookWriter) Write(p []byte) (int, error) {
	h.n += len(p)
	if h.hook != nil && h.n >= h.after {
		h.hook()
		h.hook = nil
	}
	return len(p), nil
}
