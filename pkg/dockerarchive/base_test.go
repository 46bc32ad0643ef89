package dockerarchive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/outside"
	"github.com/oci-builder/oci-builder/pkg/outside/outsidetest"
)

// TestStreamBase: a base image's layers are streamed unchanged from its
// file, under the plan's, and the archive is a whole image; a base that
// changed after the build fails the stream before manifest.json.
func TestStreamBase(t *testing.T) {
	plan, paths := fixture(t)
	storeDir := plan.StoreDir
	baseFile := filepath.Join(storeDir, "cccccccccccccccccccccccccccccccc-base.tar")
	outsidetest.DockerArchive(t, baseFile, outsidetest.Image{
		RepoTag:     "base:1",
		Layers:      [][]outsidetest.Entry{{{Name: "bin/tool", Data: "tool"}}, {{Name: "etc/os-release", Data: "base"}}},
		Compression: "gzip",
		Env:         []string{"BASE=1"},
	})
	from := &image.FromImage{Path: baseFile}
	base, err := image.OpenBase(context.Background(), from, v1.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	plan.UseBase(from, base, false)
	d, err := Describe(context.Background(), plan, "example.org/app:v1", DescribeOptions{Workers: 2, FromImage: *from})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := Encode(&file, interpreter, d); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := stream(t, storeDir, file.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "out.tar")
	if err := os.WriteFile(archive, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := outside.Open(archive, outside.Selector{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if err := im.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(im.Layers) != 6 || im.Layers[0].Digest != base.Layers[0].Digest || im.Layers[1].Digest != base.Layers[1].Digest {
		t.Errorf("layers %+v, want the base's two first", im.Layers)
	}
	for _, f := range []string{"/bin/tool", "/etc/os-release", paths[1] + "/bin/prog"} {
		if !im.Has(f) {
			t.Errorf("the streamed image has no %s", f)
		}
	}
	if env := strings.Join(im.Config.Config.Env, " "); env != "BASE=1" {
		t.Errorf("env %q", env)
	}

	// The base changes: the stream fails, with no manifest.json.
	outsidetest.DockerArchive(t, baseFile, outsidetest.Image{
		RepoTag:     "base:1",
		Layers:      [][]outsidetest.Entry{{{Name: "bin/tool", Data: "tool"}}, {{Name: "etc/os-release", Data: "BASE"}}},
		Compression: "gzip",
	})
	out.Reset()
	err = stream(t, storeDir, file.Bytes(), &out)
	if err == nil || !strings.Contains(err.Error(), "layer 2 of the base image") {
		t.Fatalf("stream of a changed base: %v", err)
	}
	if names, _ := entries(t, out.Bytes()); strings.Contains(strings.Join(names, " "), "manifest.json") {
		t.Errorf("a failed stream wrote manifest.json: %v", names)
	}
}
