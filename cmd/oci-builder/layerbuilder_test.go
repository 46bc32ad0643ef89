package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/image"
)

// TestNixLayerBuilder builds a layer derivation of a fake store's closure,
// then an image linking it; and checks the errors of both.
func TestNixLayerBuilder(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	graph := []map[string]any{
		{"path": prog, "references": []string{lib, prog}, "narSize": 100},
		{"path": lib, "references": []string{}, "narSize": 50},
	}
	layerCase := func(roots []string, layer any) builderCase {
		return builderCase{storeDir: dir, graph: graph, extra: map[string]any{
			"args": []string{"nix-layer-builder"}, "exportReferencesGraph": map[string]any{"closure": roots}, "layer": layer,
		}}
	}
	top, deps := layerCase([]string{prog}, map[string]any{"compression": "zstd", "maxLayers": 2}).write(t)
	code, stdout, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top, "NIX_BUILD_CORES": "1"}, "nix-layer-builder")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "writing 2 store paths (~150 B) as 2 layers compressed with zstd") {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	var set image.LayerSet
	data, err := os.ReadFile(filepath.Join(deps, image.LayerSetFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &set); err != nil || len(set.Layers) != 2 {
		t.Fatalf("%s: %v\n%s", image.LayerSetFile, err, data)
	}
	// Only lib: an image of prog lacks prog.
	top, libOnly := layerCase([]string{lib}, map[string]any{}).write(t)
	if code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-layer-builder"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}

	container := map[string]any{"args": []string{prog + "/bin/prog"}, "os": "linux", "arch": "x86_64"}
	// restCase is imageCase with closureMaxLayers: the layers the image
	// may write for the store paths no layer derivation holds.
	restCase := func(rest any, sets ...string) builderCase {
		extra := map[string]any{"image": map[string]any{"tag": "t"}, "layerDerivations": sets}
		if rest != nil {
			extra["closureMaxLayers"] = rest
		}
		return builderCase{storeDir: dir, graph: graph, container: container, extra: extra}
	}
	imageCase := func(sets ...string) builderCase { return restCase(nil, sets...) }
	top, img := imageCase(deps).write(t)
	code, _, stderr = runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-image-builder")
	if code != 0 || !strings.Contains(stderr, "linking 2 layers of 1 layer derivation") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	// countLinks counts the blobs of image layout dir that are links.
	countLinks := func(dir string) int {
		t.Helper()
		links := 0
		entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Type()&os.ModeSymlink != 0 {
				links++
			}
		}
		return links
	}
	if links := countLinks(img); links != 2 {
		t.Fatalf("%d blobs are links, want 2", links)
	}

	// The image writes prog, which libOnly lacks, itself.
	top, img = restCase(3, libOnly).write(t)
	code, _, stderr = runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-image-builder")
	if code != 0 || !strings.Contains(stderr, "linking 1 layer of 1 layer derivation (checked against their sizes; their store paths were verified when they were built); the rest of the closure, 1 store path, in 1 layer of the image's own\n") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if links := countLinks(img); links != 1 {
		t.Fatalf("%d blobs are links, want libOnly's only", links)
	}

	tests := []struct {
		name, command string
		c             builderCase
		want          string
	}{
		{"no layer attribute", "nix-layer-builder", builderCase{storeDir: dir, graph: graph}, `.attrs.json has no "layer" attribute: use ociTools.buildLayer`},
		{"unknown layer option", "nix-layer-builder", layerCase([]string{prog}, map[string]any{"maxlayers": 2}), `layer options: unknown option "maxlayers"`},
		{"maxLayers", "nix-layer-builder", layerCase([]string{prog}, map[string]any{"maxLayers": 200}), "layer options: maxLayers must be 1 to 125, got 200"},
		{"not a layer derivation", "nix-layer-builder", layerCase([]string{prog}, map[string]any{"layers": []string{dir}}), dir + " is not a layer derivation's output (ociTools.buildLayer): it has no layers.json"},
		{"image misses a path", "nix-image-builder", imageCase(libOnly), "store path " + prog + " of the image's closure is in none of its layer derivations"},
		{"image of no layer derivation", "nix-image-builder", imageCase(lib), lib + " is not a layer derivation's output"},
		{"closureMaxLayers not an integer", "nix-image-builder", restCase("2", libOnly), ".attrs.json: closureMaxLayers is not an integer"},
		{"closureMaxLayers out of range", "nix-image-builder", restCase(126, libOnly), "the layers for the rest of the closure must be 0 to 125, got 126"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			top, _ := tc.c.write(t)
			code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, tc.command)
			checkOneErrorLine(t, code, stderr, tc.want)
		})
	}
	code, stdout, _ = runWith(t, nil, "help")
	if code != 0 || !strings.Contains(stdout, "nix-layer-builder") {
		t.Fatalf("help does not list nix-layer-builder:\n%s", stdout)
	}
	if code, _, stderr := runWith(t, nil, "nix-layer-builder", "x"); code != 2 || !strings.Contains(stderr, "nix-layer-builder takes no arguments") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
}
