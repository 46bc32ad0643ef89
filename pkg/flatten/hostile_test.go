package flatten

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
)

// rawLayer is a tar of the headers as given, each regular file's data
// its Size bytes of "x" (or none when nodata).
func rawLayer(t *testing.T, nodata bool, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && !nodata {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	if !nodata {
		tw.Close()
	}
	return b.Bytes()
}

// TestApplyHostile: layers made to escape or to exhaust: one error line
// naming the entry, or a tree that stays within its root.
func TestApplyHostile(t *testing.T) {
	long := strings.Repeat("a/", 2100) + "x"
	tests := []struct {
		name   string
		layers [][]*tar.Header
		nodata bool
		want   string // an error holding it, or "" for success
		tree   []string
	}{
		{name: "absolute name", layers: [][]*tar.Header{{{Name: "/etc/passwd", Typeflag: tar.TypeReg, Size: 1}}},
			tree: []string{"./ 5 755 0", "./etc/ 5 755 0", "./etc/passwd 0 0 0 x"}},
		{name: "dot-dot in a hard link target, absolute", layers: [][]*tar.Header{{{Name: "a", Typeflag: tar.TypeLink, Linkname: "/../etc/shadow"}}},
			want: `leaves the root`},
		{name: "whiteout of dot-dot", layers: [][]*tar.Header{{{Name: "a/.wh...", Typeflag: tar.TypeReg}}}, want: `names no file`},
		{name: "whiteout of dot", layers: [][]*tar.Header{{{Name: "a/.wh..", Typeflag: tar.TypeReg}}}, want: `names no file`},
		{name: "whiteout of the root", layers: [][]*tar.Header{{{Name: ".wh.", Typeflag: tar.TypeReg}}}, want: `names no file`},
		{name: "root a file", layers: [][]*tar.Header{{{Name: "./", Typeflag: tar.TypeSymlink, Linkname: "/etc"}}}, want: `the root must be a directory`},
		{name: "volume header", layers: [][]*tar.Header{{{Name: "v", Typeflag: 'V'}}}, want: `has the tar type 'V', which no image holds`},
		{name: "opaque root", layers: [][]*tar.Header{
			{{Name: "a", Typeflag: tar.TypeReg, Size: 1}},
			{{Name: ".wh..wh..opq", Typeflag: tar.TypeReg}, {Name: "b", Typeflag: tar.TypeReg, Size: 1}},
		}, tree: []string{"./ 5 755 0", "./b 0 0 0 x"}},
		{name: "symbolic link parent to outside, then a file below", layers: [][]*tar.Header{
			{{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: "/../../../tmp/out"}, {Name: "etc/x", Typeflag: tar.TypeReg, Size: 1}},
		}, tree: []string{"./ 5 755 0", "./etc 2 0 0 -> /../../../tmp/out", "./tmp/ 5 755 0", "./tmp/out/ 5 755 0", "./tmp/out/x 0 0 0 x"}},
		{name: "symbolic link replaced by a directory", layers: [][]*tar.Header{
			{{Name: "tmp/", Typeflag: tar.TypeDir}, {Name: "etc", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}},
			{{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "etc/x", Typeflag: tar.TypeReg, Size: 1}},
		}, tree: []string{"./ 5 755 0", "./etc/ 5 755 0", "./etc/x 0 0 0 x", "./tmp/ 5 0 0"}},
		{name: "hard link to a symbolic link to a directory: to the link", layers: [][]*tar.Header{
			{{Name: "d/", Typeflag: tar.TypeDir}, {Name: "l", Typeflag: tar.TypeSymlink, Linkname: "d"}, {Name: "h", Typeflag: tar.TypeLink, Linkname: "l/"}},
		}, tree: []string{"./ 5 755 0", "./d/ 5 0 0", "./h 2 0 0 -> d", "./l 1 0 0 -> ./h"}},
		{name: "duplicate names", layers: [][]*tar.Header{
			{{Name: "a", Typeflag: tar.TypeReg, Size: 1}, {Name: "a", Typeflag: tar.TypeSymlink, Linkname: "b"}, {Name: "a/", Typeflag: tar.TypeDir}},
		}, tree: []string{"./ 5 755 0", "./a/ 5 0 0"}},
		{name: "device nodes", layers: [][]*tar.Header{
			{{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8}, {Name: "dev/fifo", Typeflag: tar.TypeFifo}},
		}, tree: []string{"./ 5 755 0", "./dev/ 5 755 0", "./dev/fifo 6 0 0", "./dev/sda 4 0 0"}},
		{name: "huge size in a header", layers: [][]*tar.Header{{{Name: "big", Typeflag: tar.TypeReg, Size: 1 << 50}}}, nodata: true,
			want: `entry "big" is 1125899906842624 bytes`},
		{name: "header size past the data", layers: [][]*tar.Header{{{Name: "short", Typeflag: tar.TypeReg, Size: 100}}}, nodata: true,
			want: `entry "short"`},
		{name: "very long name", layers: [][]*tar.Header{{{Name: long, Typeflag: tar.TypeReg}}}, want: `is longer than 4096 bytes`},
		{name: "very long link target", layers: [][]*tar.Header{{{Name: "l", Typeflag: tar.TypeSymlink, Linkname: long}}}, want: `longer than 4096 bytes`},
		{name: "extended attributes past the bound", layers: [][]*tar.Header{{
			{Name: "a", Typeflag: tar.TypeReg, PAXRecords: map[string]string{"SCHILY.xattr.user.x": strings.Repeat("x", 40<<10)}},
			{Name: "b", Typeflag: tar.TypeReg, PAXRecords: map[string]string{"SCHILY.xattr.user.x": strings.Repeat("x", 40<<10)}},
		}}, want: `entry "b": the layers' names, link targets and extended attributes pass 65536 bytes`},
		{name: "root replaced by a link", layers: [][]*tar.Header{{{Name: "./", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}}}, want: `the root must be a directory`},
		{name: "hard link as the root", layers: [][]*tar.Header{{{Name: "a", Typeflag: tar.TypeReg}, {Name: "/", Typeflag: tar.TypeLink, Linkname: "a"}}}, want: `the root must be a directory`},
		{name: "hard link to the root", layers: [][]*tar.Header{{{Name: "a", Typeflag: tar.TypeLink, Linkname: "./"}}}, want: `is a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(t.TempDir(), Limits{MaxEntries: 100, MaxBytes: 1 << 20, MaxMetadata: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for _, l := range tt.layers {
				if err = tr.Apply(bytes.NewReader(rawLayer(t, tt.nodata, l...))); err != nil {
					break
				}
			}
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want an error with %q", err, tt.want)
				}
				if strings.Contains(err.Error(), "\n") || len(err.Error()) > 400 {
					t.Errorf("error not one short line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := tr.WriteTar(&b); err != nil {
				t.Fatal(err)
			}
			if got := listing(t, b.Bytes()); strings.Join(got, "\n") != strings.Join(tt.tree, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.tree, "\n"))
			}
		})
	}
}
