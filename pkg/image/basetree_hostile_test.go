package image

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/flatten"
)

// TestWriteBaseLinks: links a hostile base image planted, to a
// directory outside, are never written through, whether the tree above
// has the name as a directory or not.
func TestWriteBaseLinks(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name  string
		upper map[string]string // name: "d" directory, "f" file
		base  []*tar.Header
	}{
		{
			name:  "base link, upper directory",
			upper: map[string]string{"etc": "d", "etc/x": "f"},
			base: []*tar.Header{
				{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: outside},
			},
		},
		{
			name: "base link then files below it, by the link and by name",
			base: []*tar.Header{
				{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: outside},
				{Name: "etc/x", Typeflag: tar.TypeReg, Mode: 0o644},
				{Name: "etc/dev", Typeflag: tar.TypeChar, Mode: 0o644, Devmajor: 1, Devminor: 3},
				{Name: "etc/d/", Typeflag: tar.TypeDir, Mode: 0o4755, Uid: 5},
				{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../" + outside},
				{Name: "up/y", Typeflag: tar.TypeReg, Mode: 0o644},
				{Name: "h", Typeflag: tar.TypeLink, Linkname: "etc/x"},
			},
		},
		{
			name:  "upper link, base directory",
			upper: map[string]string{"etc": outside},
			base: []*tar.Header{
				{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
				{Name: "etc/x", Typeflag: tar.TypeReg, Mode: 0o644},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			for _, h := range tt.base {
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
			}
			tw.Close()
			tree, err := flatten.New(t.TempDir(), flatten.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			defer tree.Close()
			if err := tree.Apply(&b); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, name := range []string{"etc", "etc/x"} {
				kind, ok := tt.upper[name]
				if !ok {
					continue
				}
				p := filepath.Join(dir, name)
				switch kind {
				case "d":
					err = os.Mkdir(p, 0o755)
				case "f":
					err = os.WriteFile(p, []byte("upper"), 0o644)
				default:
					err = os.Symlink(kind, p)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			script, err := WriteBase(tree, dir)
			if err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(outside); len(ents) > 0 {
				t.Errorf("written outside: %v (script %q)", ents, script)
			}
			if bytes.Contains(script, []byte("etc")) && tt.upper != nil {
				t.Errorf("script touches the hidden etc: %q", script)
			}
		})
	}
}
