package flatten

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
)

// ent is an entry of a test layer: "d" directory, "f" file, "l" symbolic
// link, "h" hard link (to data), "c" character device.
type ent struct {
	kind, name, data string
	mode             int64
	uid              int
}

func layer(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		switch e.kind {
		case "d":
			hdr.Typeflag = tar.TypeDir
		case "f":
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.data))
		case "l":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.data
		case "h":
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, e.data
		case "c":
			hdr.Typeflag, hdr.Devmajor, hdr.Devminor = tar.TypeChar, 1, 3
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.kind == "f" {
			if _, err := tw.Write([]byte(e.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// listing is the tar's entries, one line each: name, type, mode, owner,
// then the data or the link target.
func listing(t *testing.T, data []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		line := fmt.Sprintf("%s %c %o %d", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid)
		switch hdr.Typeflag {
		case tar.TypeReg:
			line += " " + string(body)
		case tar.TypeSymlink, tar.TypeLink:
			line += " -> " + hdr.Linkname
		}
		out = append(out, line)
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]ent
		want   []string
	}{
		{
			name: "whiteouts and opaque directories",
			layers: [][]ent{
				{
					{kind: "d", name: "bin/", mode: 0o755},
					{kind: "f", name: "bin/bash", data: "bash", mode: 0o755},
					{kind: "f", name: "etc/passwd", data: "root", mode: 0o644},
					{kind: "f", name: "etc/group", data: "g", mode: 0o600, uid: 7},
					{kind: "d", name: "d/", mode: 0o700},
					{kind: "f", name: "d/x", data: "x"},
					{kind: "d", name: "gone/", mode: 0o755},
					{kind: "f", name: "gone/y", data: "y"},
				},
				{
					{kind: "f", name: "etc/.wh.passwd"},
					{kind: "f", name: "d/.wh..wh..opq"},
					{kind: "f", name: "d/z", data: "z"},
					{kind: "f", name: ".wh.gone"},
					{kind: "f", name: "./bin/bash", data: "bash 2", mode: 0o4755},
				},
			},
			want: []string{
				"./ 5 755 0",
				"./bin/ 5 755 0",
				"./bin/bash 0 4755 0 bash 2",
				"./d/ 5 700 0",
				"./d/z 0 644 0 z",
				"./etc/ 5 755 0",
				"./etc/group 0 600 7 g",
			},
		},
		{
			name: "a whiteout hides the lower layers only",
			layers: [][]ent{
				{{kind: "f", name: "a", data: "1"}},
				{{kind: "f", name: "a", data: "2"}, {kind: "f", name: ".wh.a"}},
			},
			want: []string{"./ 5 755 0", "./a 0 644 0 2"},
		},
		{
			name: "a file replaces a directory, a directory a file",
			layers: [][]ent{
				{{kind: "d", name: "d"}, {kind: "f", name: "d/x"}, {kind: "f", name: "f", data: "f"}},
				{{kind: "f", name: "d", data: "now a file"}, {kind: "d", name: "f", mode: 0o711}},
			},
			want: []string{"./ 5 755 0", "./d 0 644 0 now a file", "./f/ 5 711 0"},
		},
		{
			name: "a directory over a directory keeps its children",
			layers: [][]ent{
				{{kind: "d", name: "d", mode: 0o755}, {kind: "f", name: "d/x", data: "x"}},
				{{kind: "d", name: "d", mode: 0o1777, uid: 3}},
			},
			want: []string{"./ 5 755 0", "./d/ 5 1777 3", "./d/x 0 644 0 x"},
		},
		{
			name: "names resolve through symbolic links, within the root",
			layers: [][]ent{
				{
					{kind: "d", name: "usr/bin/", mode: 0o755},
					{kind: "l", name: "bin", data: "usr/bin"},
					{kind: "l", name: "usr/up", data: "../../../../etc"},
					{kind: "l", name: "abs", data: "/etc/../../"},
				},
				{
					{kind: "f", name: "bin/sh", data: "sh"},
					{kind: "f", name: "usr/up/passwd", data: "inside"},
					{kind: "f", name: "abs/hosts", data: "h"},
				},
			},
			want: []string{
				"./ 5 755 0",
				"./abs 2 644 0 -> /etc/../../",
				"./bin 2 644 0 -> usr/bin",
				"./etc/ 5 755 0",
				"./etc/passwd 0 644 0 inside",
				"./hosts 0 644 0 h",
				"./usr/ 5 755 0",
				"./usr/bin/ 5 755 0",
				"./usr/bin/sh 0 644 0 sh",
				"./usr/up 2 644 0 -> ../../../../etc",
			},
		},
		{
			name: "hard links kept; a replaced target leaves the link the old file",
			layers: [][]ent{
				{
					{kind: "f", name: "a", data: "A", mode: 0o755},
					{kind: "h", name: "b", data: "a"},
					{kind: "h", name: "c", data: "/a"},
					{kind: "f", name: "x", data: "X"},
					{kind: "h", name: "y", data: "x"},
					{kind: "c", name: "null"},
				},
				{{kind: "f", name: "x", data: "new"}},
			},
			want: []string{
				"./ 5 755 0",
				"./a 0 755 0 A",
				"./b 1 755 0 -> ./a",
				"./c 1 755 0 -> ./a",
				"./null 3 644 0",
				"./x 0 644 0 new",
				"./y 0 644 0 X",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(t.TempDir(), DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for i, l := range tt.layers {
				if err := tr.Apply(bytes.NewReader(layer(t, l...))); err != nil {
					t.Fatalf("layer %d: %v", i, err)
				}
			}
			var b bytes.Buffer
			if err := tr.WriteTar(&b); err != nil {
				t.Fatal(err)
			}
			got := listing(t, b.Bytes())
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if !sort.StringsAreSorted(got) {
				t.Errorf("entries not sorted")
			}
		})
	}
}

func TestApplyRefuses(t *testing.T) {
	small := Limits{MaxEntries: 5, MaxBytes: 10, MaxMetadata: 1 << 20}
	tests := []struct {
		name  string
		layer []ent
		want  string
	}{
		{"dot-dot", []ent{{kind: "f", name: "a/../../etc/passwd"}}, `leaves the root filesystem`},
		{"hard link outside", []ent{{kind: "h", name: "a", data: "../x"}}, `target entry "../x" leaves the root`},
		{"hard link to nothing", []ent{{kind: "h", name: "a", data: "x"}}, `hard link "a": target "x": not in the image`},
		{"hard link to a directory", []ent{{kind: "d", name: "d"}, {kind: "h", name: "a", data: "d"}}, `is a directory`},
		{"parent a file", []ent{{kind: "f", name: "f"}, {kind: "f", name: "f/x"}}, `entry "f/x": /f is not a directory`},
		{"symlink loop", []ent{{kind: "l", name: "a", data: "b"}, {kind: "l", name: "b", data: "a"}, {kind: "f", name: "a/x"}}, `more than 40 symbolic links`},
		{"too big", []ent{{kind: "f", name: "big", data: "01234567890"}}, `"big" is 11 bytes: the image's files would pass 10 bytes`},
		{"too many", []ent{{kind: "d", name: "1"}, {kind: "d", name: "2"}, {kind: "d", name: "3"}, {kind: "d", name: "4"}, {kind: "d", name: "5"}, {kind: "d", name: "6"}}, `more than 5 entries`},
		{"root not a directory", []ent{{kind: "f", name: "."}}, `the root must be a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(t.TempDir(), small)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			err = tr.Apply(bytes.NewReader(layer(t, tt.layer...)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of several lines: %q", err)
			}
		})
	}
}

// TestDiff: the layer of what a tar of the whole tree changed over the
// tree: changed and new entries with their directories, whiteouts for
// what it removed (the topmost name only), nothing equal to the tree.
func TestDiff(t *testing.T) {
	tr, err := New(t.TempDir(), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	base := layer(t,
		ent{kind: "d", name: "bin", mode: 0o755},
		ent{kind: "f", name: "bin/bash", data: "bash", mode: 0o755},
		ent{kind: "f", name: "bin/same", data: "same", mode: 0o755},
		ent{kind: "d", name: "etc", mode: 0o755},
		ent{kind: "f", name: "etc/passwd", data: "root", mode: 0o644},
		ent{kind: "f", name: "etc/mode", data: "m", mode: 0o644},
		ent{kind: "d", name: "gone", mode: 0o755},
		ent{kind: "f", name: "gone/x", data: "x"},
		ent{kind: "d", name: "keep", mode: 0o755},
		ent{kind: "f", name: "keep/k", data: "k"},
		ent{kind: "l", name: "lib", data: "usr/lib"},
		ent{kind: "l", name: "sbin", data: "bin"},
	)
	if err := tr.Apply(bytes.NewReader(base)); err != nil {
		t.Fatal(err)
	}
	// The tree after a script: bash rewritten, passwd removed, mode
	// chmodded, gone/ removed, new/file added, lib a new target.
	upper := layer(t,
		ent{kind: "d", name: "./", mode: 0o755},
		ent{kind: "d", name: "./bin/", mode: 0o755},
		ent{kind: "f", name: "./bin/bash", data: "BASH", mode: 0o755},
		ent{kind: "f", name: "./bin/same", data: "same", mode: 0o755},
		ent{kind: "d", name: "./etc/", mode: 0o755},
		ent{kind: "f", name: "./etc/mode", data: "m", mode: 0o600},
		ent{kind: "d", name: "./keep/", mode: 0o755},
		ent{kind: "f", name: "./keep/k", data: "k"},
		ent{kind: "l", name: "./lib", data: "usr/lib64"},
		ent{kind: "d", name: "./new/", mode: 0o755},
		ent{kind: "f", name: "./new/file", data: "n", uid: 5},
		// Another mode, as on disk: the same link.
		ent{kind: "l", name: "./sbin", data: "bin", mode: 0o777},
	)
	up := t.TempDir() + "/upper.tar"
	if err := os.WriteFile(up, upper, 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	st, err := tr.Diff(up, &b)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"./ 5 755 0",
		"./.wh.gone 0 600 0 ",
		"./bin/ 5 755 0",
		"./bin/bash 0 755 0 BASH",
		"./etc/ 5 755 0",
		"./etc/.wh.passwd 0 600 0 ",
		"./etc/mode 0 600 0 m",
		"./lib 2 644 0 -> usr/lib64",
		"./new/ 5 755 0",
		"./new/file 0 644 5 n",
	}
	got := listing(t, b.Bytes())
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st != (DiffStats{Changed: 5, Parents: 3, Whiteouts: 2, Unchanged: 4}) {
		t.Errorf("stats %+v", st)
	}
	// The diff over the tree gives the upper tree back.
	if err := tr.Apply(bytes.NewReader(b.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := tr.WriteTar(&again); err != nil {
		t.Fatal(err)
	}
	// (but the link whose mode alone differed, left as the tree has it)
	g := strings.Join(listing(t, again.Bytes()), "\n")
	w := strings.Replace(strings.Join(listing(t, upper), "\n"), "./sbin 2 777", "./sbin 2 644", 1)
	if g != w {
		t.Errorf("base + diff:\n%s\nwant\n%s", g, w)
	}
}
