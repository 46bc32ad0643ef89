package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/outside/outsidetest"
)

// TestExportImage: a hand-made two-layer image, in every form fromImage
// takes, exported: the upper layer's whiteout removes the lower file,
// its file replaces the lower one, the hard link stays one.
func TestExportImage(t *testing.T) {
	im := outsidetest.Image{
		RepoTag:     "two:latest",
		Compression: "gzip",
		Layers: [][]outsidetest.Entry{
			{{Name: "bin/sh", Data: "lower sh"}, {Name: "etc/passwd", Data: "root"}, {Name: "etc/group", Data: "g"}, {Name: "bin/ln", Link: "bin/sh"}},
			{{Name: "etc/.wh.passwd"}, {Name: "bin/sh", Data: "upper sh"}, {Name: "bin/new", Data: "new"}, {Name: "bin/new2", Link: "bin/new"}},
		},
	}
	dir := t.TempDir()
	forms := map[string]string{
		"docker-archive": filepath.Join(dir, "image.tar"),
		"oci":            filepath.Join(dir, "layout"),
		"oci-archive":    filepath.Join(dir, "image-oci.tar"),
	}
	outsidetest.DockerArchive(t, forms["docker-archive"], im)
	outsidetest.OCILayout(t, forms["oci"], im)
	outsidetest.OCIArchive(t, forms["oci-archive"], im)
	want := strings.Join([]string{
		"./ 5 755",
		"./bin/ 5 755",
		"./bin/ln 0 755 lower sh",
		"./bin/new 0 755 new",
		"./bin/new2 1 755 -> ./bin/new",
		"./bin/sh 0 755 upper sh",
		"./etc/ 5 755",
		"./etc/group 0 755 g",
	}, "\n")
	for form, p := range forms {
		t.Run(form, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.tar")
			if err := exportImage(context.Background(), image.FromImage{Path: p, Tag: "latest"}, out); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var got []string
			tr := tar.NewReader(f)
			for {
				hdr, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				data, _ := io.ReadAll(tr)
				line := fmt.Sprintf("%s %c %o", hdr.Name, hdr.Typeflag, hdr.Mode)
				if hdr.Typeflag == tar.TypeLink {
					line += " -> " + hdr.Linkname
				} else if hdr.Typeflag == tar.TypeReg {
					line += " " + string(data)
				}
				got = append(got, line)
			}
			if g := strings.Join(got, "\n"); g != want {
				t.Errorf("got\n%s\nwant\n%s", g, want)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.tar")
		outsidetest.DockerArchive(t, bad, outsidetest.Image{RepoTag: "bad:latest", Layers: [][]outsidetest.Entry{{{Name: "a", Link: "missing"}}}})
		out := filepath.Join(t.TempDir(), "out.tar")
		err := exportImage(context.Background(), image.FromImage{Path: bad}, out)
		if err == nil || !strings.Contains(err.Error(), `hard link "a": target "missing": not in the image`) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("got %v, want one line naming the hard link", err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("a half-written export left behind")
		}
	})
}
