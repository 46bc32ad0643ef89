package nar_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	gonar "github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/nar"
)

// needNix skips the test when Nix is missing, except under CI, where the
// real thing must be compared against.
func needNix(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CI is set but %s is missing", tool)
			}
			t.Skipf("%s missing", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// nixSum is what real Nix says about the tree at p: nix-store --dump piped
// through SHA-256 (and counted), and nix-hash.
func nixSum(t *testing.T, p string) (string, uint64) {
	t.Helper()
	dump := run(t, "nix-store", "--dump", p)
	digest := sha256.Sum256(dump)
	fromDump := "sha256:" + nixbase32.EncodeToString(digest[:])
	fromHash := "sha256:" + strings.TrimSpace(string(run(t, "nix-hash", "--type", "sha256", "--base32", p)))
	if fromDump != fromHash {
		t.Fatalf("nix-store --dump gives %s, nix-hash %s", fromDump, fromHash)
	}
	return fromDump, uint64(len(dump))
}

func write(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// awkwardTree fills dir with the names, types and sizes that trip
// serialisers up.
func awkwardTree(t *testing.T, dir string) {
	t.Helper()
	rnd := rand.New(rand.NewSource(1))
	big := make([]byte, 1<<20+3)
	rnd.Read(big)
	names := []string{
		"with space", "new\nline", `back\slash`, "\xff\xfe not utf-8", strings.Repeat("n", 255),
		"..dots", "-dash", ".hidden", "tab\there", "é", "~", "A", "a", "B", "b",
		// NAR tokens as names.
		")", "(", "entry", "node", "type", "contents", "executable", "nix-archive-1",
	}
	for i, n := range names {
		write(t, filepath.Join(dir, n), []byte(fmt.Sprintf("file %d\n", i)), 0o444)
	}
	for _, size := range []int{0, 1, 7, 8, 9, 15, 16, 17} {
		write(t, filepath.Join(dir, "size"+strconv.Itoa(size)), bytes.Repeat([]byte{'x'}, size), 0o444)
	}
	write(t, filepath.Join(dir, "big"), big, 0o444)
	write(t, filepath.Join(dir, "exec"), []byte("#!/bin/sh\n"), 0o555)
	write(t, filepath.Join(dir, "exec-owner-only"), []byte("x"), 0o100)
	write(t, filepath.Join(dir, "empty-exec"), nil, 0o555)
	mkdir(t, filepath.Join(dir, "empty dir"))
	mkdir(t, filepath.Join(dir, "sub/deeper/deepest"))
	write(t, filepath.Join(dir, "sub/deeper/deepest/f"), []byte("deep"), 0o444)
	write(t, filepath.Join(dir, "sub/a"), []byte("a"), 0o444)
	mkdir(t, filepath.Join(dir, "sub-sibling"))
	write(t, filepath.Join(dir, "sub-sibling/x"), nil, 0o444)
	symlink(t, "/etc/passwd", filepath.Join(dir, "absolute"))
	symlink(t, "../sub/a", filepath.Join(dir, "sub/deeper/relative"))
	symlink(t, "nowhere", filepath.Join(dir, "dangling"))
	symlink(t, "loop2", filepath.Join(dir, "loop1"))
	symlink(t, "loop1", filepath.Join(dir, "loop2"))
	symlink(t, "self", filepath.Join(dir, "self"))
	symlink(t, "sub", filepath.Join(dir, "to-dir"))
	symlink(t, "new\nline target \xff", filepath.Join(dir, "odd target"))
	symlink(t, strings.Repeat("t/", 2000), filepath.Join(dir, "long target"))
	if err := os.Link(filepath.Join(dir, "exec"), filepath.Join(dir, "hardlink")); err != nil {
		t.Fatal(err)
	}
}

// TestHashPathMatchesNix compares HashPath with real Nix on awkward trees
// and on every kind of root.
func TestHashPathMatchesNix(t *testing.T) {
	needNix(t, "nix-store", "nix-hash")
	tests := []struct {
		name string
		make func(t *testing.T, p string)
	}{
		{"awkward tree", func(t *testing.T, p string) { mkdir(t, p); awkwardTree(t, p) }},
		{"empty directory", func(t *testing.T, p string) { mkdir(t, p) }},
		{"regular file", func(t *testing.T, p string) { write(t, p, []byte("hello\n"), 0o444) }},
		{"executable file", func(t *testing.T, p string) { write(t, p, []byte("#!/bin/sh\n"), 0o555) }},
		{"empty file", func(t *testing.T, p string) { write(t, p, nil, 0o444) }},
		{"symlink", func(t *testing.T, p string) { symlink(t, "/nix/store/somewhere/bin/sh", p) }},
		{"dangling relative symlink", func(t *testing.T, p string) { symlink(t, "../x", p) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "root")
			tc.make(t, p)
			wantHash, wantSize := nixSum(t, p)
			got, err := nar.HashPath(p)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != wantHash || got.Size != wantSize {
				t.Fatalf("HashPath = %s (%d bytes), Nix says %s (%d bytes)", got, got.Size, wantHash, wantSize)
			}
			if err := nar.Verify(p, wantHash); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestEncoderMatchesNixDump checks the serialisation itself, byte for byte.
func TestEncoderMatchesNixDump(t *testing.T) {
	needNix(t, "nix-store")
	dir := filepath.Join(t.TempDir(), "root")
	mkdir(t, dir)
	write(t, filepath.Join(dir, "exec"), []byte("12345"), 0o555)
	mkdir(t, filepath.Join(dir, "d"))
	symlink(t, "exec", filepath.Join(dir, "d/l"))
	write(t, filepath.Join(dir, "e"), nil, 0o444)

	var buf bytes.Buffer
	e := nar.NewEncoder(&buf)
	steps := []error{
		e.Directory(""),
		e.Directory("d"),
		e.Symlink("l", "exec"),
		e.EndDirectory(),
		e.File("e", false, 0),
		e.File("exec", true, 5),
	}
	_, err := e.Write([]byte("12345"))
	steps = append(steps, err, e.EndDirectory(), e.Close())
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := run(t, "nix-store", "--dump", dir)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("encoder wrote\n%q\nnix-store --dump wrote\n%q", buf.Bytes(), want)
	}
	if e.Size() != uint64(len(want)) {
		t.Fatalf("Size() = %d, want %d", e.Size(), len(want))
	}
}

// busyboxDir prepares a directory holding bin/busybox and bin/sh, to be
// imported into the store as a builder.
func busyboxDir(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but /bin/busybox is missing")
		}
		t.Skip("/bin/busybox missing")
	}
	dir := filepath.Join(t.TempDir(), "busybox")
	mkdir(t, filepath.Join(dir, "bin"))
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "bin/busybox"), data, 0o555)
	symlink(t, "busybox", filepath.Join(dir, "bin/sh"))
	return dir
}

// storeTreeExpr builds, with busybox and builtins only, a store path with
// awkward names, symlinks (one to another store path), hard links, empty
// files and directories, and executables.
const storeTreeExpr = `
let
  busybox = builtins.path { path = %q; name = "busybox"; };
in
derivation {
  name = "nar-awkward";
  system = builtins.currentSystem;
  builder = "${busybox}/bin/sh";
  args = [ "-c" ''
    set -e
    bb=${busybox}/bin/busybox
    $bb mkdir -p $out/sub/deeper "$out/empty dir"
    cd $out
    echo one > "with space"
    echo two > "$($bb printf 'new\nline')"
    echo three > 'back\slash'
    echo four > "$($bb printf '\377\376 not utf-8')"
    echo five > "$($bb printf '%%0255d' 0)"
    echo six > ..dots
    : > empty
    echo '#!/bin/sh' > exec
    $bb chmod 555 exec
    $bb ln exec hardlink
    $bb dd if=/dev/zero of=sub/deeper/zeros bs=1000 count=3 2>/dev/null
    $bb ln -s /etc/passwd absolute
    $bb ln -s ../exec sub/relative
    $bb ln -s nowhere dangling
    $bb ln -s loop2 loop1
    $bb ln -s loop1 loop2
    $bb ln -s ${busybox}/bin/sh store-link
  '' ];
}
`

// TestHashPathMatchesStore compares HashPath with the narHash and narSize
// that Nix registered for a real store path (nix path-info --json), and
// checks that Verify catches a copy whose contents differ.
func TestHashPathMatchesStore(t *testing.T) {
	needNix(t, "nix-build", "nix", "nix-store")
	file := filepath.Join(t.TempDir(), "tree.nix")
	write(t, file, []byte(fmt.Sprintf(storeTreeExpr, busyboxDir(t))), 0o644)
	storePath := strings.TrimSpace(string(run(t, "nix-build", file, "--no-out-link", "--option", "substituters", "")))
	var infos []struct {
		Path    string `json:"path"`
		NarHash string `json:"narHash"`
		NarSize uint64 `json:"narSize"`
	}
	info := run(t, "nix", "--extra-experimental-features", "nix-command", "path-info", "--json", storePath)
	if err := json.Unmarshal(info, &infos); err != nil || len(infos) != 1 {
		t.Fatalf("nix path-info: %v: %s", err, info)
	}
	want := infos[0]
	// Nix 2.8 writes base32 here; newer versions write SRI. Compare digests.
	wantHash, err := nar.ParseHash(want.NarHash)
	if err != nil {
		t.Fatal(err)
	}
	got, err := nar.HashPath(storePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Hash.Digest()) != string(wantHash.Digest()) || got.Size != want.NarSize {
		t.Fatalf("HashPath(%s) = %s (%d bytes), Nix registered %s (%d bytes)", storePath, got, got.Size, want.NarHash, want.NarSize)
	}
	if err := nar.Verify(storePath, want.NarHash); err != nil {
		t.Fatal(err)
	}

	// A copy restored by Nix verifies; each kind of tampering does not.
	tampers := []struct {
		name   string
		tamper func(t *testing.T, copy string)
	}{
		{"untouched", func(*testing.T, string) {}},
		{"one byte changed", func(t *testing.T, c string) { write(t, filepath.Join(c, "with space"), []byte("onf\n"), 0o444) }},
		{"executable bit dropped", func(t *testing.T, c string) { os.Chmod(filepath.Join(c, "exec"), 0o444) }},
		{"empty directory added", func(t *testing.T, c string) { mkdir(t, filepath.Join(c, "sub/new")) }},
		{"symlink retargeted", func(t *testing.T, c string) {
			os.Remove(filepath.Join(c, "dangling"))
			symlink(t, "elsewhere", filepath.Join(c, "dangling"))
		}},
		{"file removed", func(t *testing.T, c string) { os.Remove(filepath.Join(c, "empty")) }},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copy := filepath.Join(dir, filepath.Base(storePath))
			restore := exec.Command("nix-store", "--restore", copy)
			restore.Stdin = bytes.NewReader(run(t, "nix-store", "--dump", storePath))
			if out, err := restore.CombinedOutput(); err != nil {
				t.Fatalf("nix-store --restore: %v\n%s", err, out)
			}
			t.Cleanup(func() { makeWritable(copy) })
			makeWritable(copy)
			tc.tamper(t, copy)
			err := nar.Verify(copy, want.NarHash)
			if tc.name == "untouched" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var mismatch *nar.MismatchError
			if !errors.As(err, &mismatch) {
				t.Fatalf("Verify of a tampered copy: %v", err)
			}
			actual, _ := nixSum(t, copy)
			wantMsg := fmt.Sprintf("store path %s: NAR hash mismatch: expected %s, got %s", copy, wantHash.Format(nixhash.NixBase32, true), actual)
			if err.Error() != wantMsg {
				t.Fatalf("error\n%s\nwant\n%s", err, wantMsg)
			}
		})
	}
}

func makeWritable(root string) {
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode()&os.ModeSymlink == 0 {
			os.Chmod(p, info.Mode().Perm()|0o200)
		}
		return nil
	})
}

// TestHashPathDeeperThanPathMax hashes a tree whose paths are longer than
// PATH_MAX, which neither Nix (2.8) nor go-nix's DumpPath can open; the
// expected hash comes from go-nix's nar.Writer fed the same entries.
func TestHashPathDeeperThanPathMax(t *testing.T) {
	root := filepath.Join(t.TempDir(), "deep")
	mkdir(t, root)
	component := strings.Repeat("d", 250)
	const depth = 20 // 20 * 251 bytes > PATH_MAX (4096)
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < depth; i++ {
		if err := unix.Mkdirat(fd, component, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, component, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	ffd, err := unix.Openat(fd, "bottom", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o555)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(ffd, []byte("at the bottom"))
	unix.Close(ffd)
	if err := unix.Symlinkat("../"+component, fd, "up"); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)

	h := sha256.New()
	w, err := gonar.NewWriter(h)
	if err != nil {
		t.Fatal(err)
	}
	p := "/"
	headers := []*gonar.Header{{Path: "/", Type: gonar.TypeDirectory}}
	for i := 0; i < depth; i++ {
		p += component
		headers = append(headers, &gonar.Header{Path: p, Type: gonar.TypeDirectory})
		p += "/"
	}
	headers = append(headers,
		&gonar.Header{Path: p + "bottom", Type: gonar.TypeRegular, Size: 13, Executable: true},
		&gonar.Header{Path: p + "up", Type: gonar.TypeSymlink, LinkTarget: "../" + component})
	for _, hdr := range headers {
		if err := w.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Type == gonar.TypeRegular {
			w.Write([]byte("at the bottom"))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "sha256:" + nixbase32.EncodeToString(h.Sum(nil))
	if len(p) <= unix.PathMax {
		t.Fatalf("tree is not deeper than PATH_MAX: %d", len(p))
	}
	if err := nar.Verify(root, want); err != nil {
		t.Fatal(err)
	}
}

// TestHashPathRejectsSpecialFiles checks that FIFOs, sockets and devices,
// which no NAR can hold, are errors naming them.
func TestHashPathRejectsSpecialFiles(t *testing.T) {
	tests := []struct {
		name, kind string
		make       func(p string) error
		root       bool
	}{
		{"fifo", "FIFO", func(p string) error { return unix.Mkfifo(p, 0o644) }, false},
		{"socket", "socket", func(p string) error { return unix.Mknod(p, unix.S_IFSOCK|0o644, 0) }, false},
		{"device", "character device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("mknod of a device needs root")
			}
			dir := filepath.Join(t.TempDir(), "store-path")
			mkdir(t, filepath.Join(dir, "sub"))
			bad := filepath.Join(dir, "sub", "bad "+tc.name)
			if err := tc.make(bad); err != nil {
				t.Fatal(err)
			}
			_, err := nar.HashPath(dir)
			want := "hash " + bad + ": is a " + tc.kind + "; a store path holds only regular files, directories and symlinks"
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	write(t, file, []byte("x"), 0o444)
	sum, err := nar.HashPath(file)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, hash, want string
	}{
		{"missing", filepath.Join(dir, "missing"), sum.String(), "hash " + dir + "/missing: no such file or directory"},
		{"bad hash", file, "sha256:nope", `store path ` + file + `: narHash "sha256:nope"`},
		{"not sha256", file, "sha1:" + strings.Repeat("0", 32), "not a SHA-256 hash"},
		{"no algorithm", file, strings.Repeat("0", 52), "narHash"},
		{"base16 accepted", file, "sha256:" + fmt.Sprintf("%x", sum.Hash.Digest()), ""},
		{"SRI accepted", file, sum.Hash.Format(nixhash.SRI, true), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := nar.Verify(tc.path, tc.hash)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestEncoderMisuse checks that events out of NAR order are refused, so a
// wrong walk cannot produce a hash silently.
func TestEncoderMisuse(t *testing.T) {
	tests := []struct {
		name  string
		steps func(e *nar.Encoder) error
		want  string
	}{
		{"root with a name", func(e *nar.Encoder) error { return e.Directory("x") }, `the root must have an empty name, got "x"`},
		{"unsorted", func(e *nar.Encoder) error {
			e.Directory("")
			e.File("b", false, 0)
			return e.File("a", false, 0)
		}, `entry "a" does not sort after "b"`},
		{"duplicate", func(e *nar.Encoder) error {
			e.Directory("")
			e.Symlink("a", "x")
			return e.Symlink("a", "y")
		}, `entry "a" does not sort after "a"`},
		{"slash", func(e *nar.Encoder) error { e.Directory(""); return e.Directory("a/b") }, "contains a slash or NUL byte"},
		{"nul", func(e *nar.Encoder) error { e.Directory(""); return e.Directory("a\x00") }, "contains a slash or NUL byte"},
		{"dot-dot", func(e *nar.Encoder) error { e.Directory(""); return e.Directory("..") }, `entry name ".."`},
		{"empty name", func(e *nar.Encoder) error { e.Directory(""); return e.File("", false, 0) }, "empty entry name"},
		{"short contents", func(e *nar.Encoder) error {
			e.Directory("")
			e.File("a", false, 3)
			e.Write([]byte("ab"))
			return e.EndDirectory()
		}, "file contents 1 bytes shorter than the size given"},
		{"long contents", func(e *nar.Encoder) error {
			e.File("", false, 1)
			_, err := e.Write([]byte("ab"))
			return err
		}, "file contents longer than the size given"},
		{"contents outside a file", func(e *nar.Encoder) error {
			e.Directory("")
			_, err := e.Write([]byte("a"))
			return err
		}, "contents written outside a regular file"},
		{"entry after the root", func(e *nar.Encoder) error { e.Symlink("", "x"); return e.File("a", false, 0) }, "NAR already complete"},
		{"too many ends", func(e *nar.Encoder) error { e.File("", false, 0); return e.EndDirectory() }, "NAR already complete"},
		{"end without directory", func(e *nar.Encoder) error { return e.EndDirectory() }, "EndDirectory without an open directory"},
		{"unclosed directory", func(e *nar.Encoder) error { e.Directory(""); e.Directory("a"); e.EndDirectory(); return e.Close() }, "1 directories not ended"},
		{"nothing", func(e *nar.Encoder) error { return e.Close() }, "empty NAR: no root was given"},
		{"sticky error", func(e *nar.Encoder) error { e.Directory("x"); return e.Directory("") }, "the root must have an empty name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.steps(nar.NewEncoder(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCheckExpected compares sums with what a graph says: the hash in
// every accepted form, the size when given.
func TestCheckExpected(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	write(t, file, []byte("x"), 0o444)
	sum, err := nar.HashPath(file)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "g")
	write(t, other, []byte("longer than eight bytes"), 0o444)
	otherSum, err := nar.HashPath(other)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    nar.Expected
		want string
	}{
		{"nix32", nar.Expected{Path: file, NarHash: sum.String(), NarSize: sum.Size}, ""},
		{"SRI, no size", nar.Expected{Path: file, NarHash: sum.Hash.Format(nixhash.SRI, true)}, ""},
		{"other hash, same size", nar.Expected{Path: file, NarHash: otherSum.String()},
			"store path " + file + ": NAR hash mismatch: expected " + otherSum.String() + ", got " + sum.String()},
		{"other hash and size", nar.Expected{Path: file, NarHash: otherSum.String(), NarSize: otherSum.Size},
			fmt.Sprintf("store path %s: NAR hash mismatch: expected %s, got %s (NAR size: expected %d bytes, got %d)", file, otherSum, sum, otherSum.Size, sum.Size)},
		{"same hash, other size", nar.Expected{Path: file, NarHash: sum.String(), NarSize: sum.Size + 8},
			fmt.Sprintf("store path %s: the NAR hash matches but the NAR size is %d bytes, not the %d the closure graph gives", file, sum.Size, sum.Size+8)},
		{"malformed", nar.Expected{Path: file, NarHash: "sha256:x"}, "store path " + file + `: narHash "sha256:x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := sum.CheckExpected(tc.e)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			var mismatch *nar.MismatchError
			if strings.Contains(tc.want, "mismatch") != errors.As(err, &mismatch) {
				t.Fatalf("error %v: MismatchError is %v", err, mismatch != nil)
			}
		})
	}
}

// TestVerifyAll verifies trees in parallel and stops at the first
// mismatch; a cancelled context stops it too.
func TestVerifyAll(t *testing.T) {
	dir := t.TempDir()
	var want []nar.Expected
	for i := 0; i < 20; i++ {
		p := filepath.Join(dir, fmt.Sprintf("p%02d", i))
		mkdir(t, p)
		write(t, filepath.Join(p, "data"), bytes.Repeat([]byte{byte(i)}, i*1000), 0o444)
		sum, err := nar.HashPath(p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, nar.Expected{Path: p, NarHash: sum.String(), NarSize: sum.Size})
	}
	for _, workers := range []int{0, 1, 3, 50} {
		var mu sync.Mutex
		seen := map[string]bool{}
		err := nar.VerifyAll(context.Background(), want, workers, func(e nar.Expected, s nar.Sum) {
			mu.Lock()
			defer mu.Unlock()
			if s.Size != e.NarSize {
				t.Errorf("%s: size %d, want %d", e.Path, s.Size, e.NarSize)
			}
			seen[e.Path] = true
		})
		if err != nil || len(seen) != len(want) {
			t.Fatalf("%d workers: %v, %d verified", workers, err, len(seen))
		}
	}
	bad := append([]nar.Expected(nil), want...)
	bad[7].NarHash = want[8].NarHash
	var mismatch *nar.MismatchError
	if err := nar.VerifyAll(context.Background(), bad, 2, nil); !errors.As(err, &mismatch) || mismatch.Path != want[7].Path {
		t.Fatalf("error %v, want a mismatch of %s", err, want[7].Path)
	}
	bad[7].NarHash = "sha256:x"
	if err := nar.VerifyAll(context.Background(), bad, 2, nil); err == nil || !strings.Contains(err.Error(), want[7].Path+`: narHash "sha256:x"`) {
		t.Fatalf("error %v, want the malformed hash", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := nar.VerifyAll(ctx, want, 2, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
