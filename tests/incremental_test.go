package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// incrementalExpr is an image whose dependencies (lib and busybox) are a
// declared layer (ociTools.buildLayer) and whose application, app VERSION,
// goes into a layer the image writes itself; app and image are attributes.
func incrementalExpr(version, depsCompression, compression string) string {
	return "let\n" + appExpr + fmt.Sprintf(`
  deps = ociTools.buildLayer {
    name = "deps-${nonce}";
    deps = [ lib ];
    compression = %[3]q;
    maxLayers = 2;
  };
in
{
  app = app %[1]q;
  image = ociTools.buildImage {
    name = "incremental-${nonce}";
    args = [ "${app %[1]q}/bin/app" "one" ];
    tag = "v%[1]s";
    compression = %[2]q;
    layers = [ deps ];
  };
}`, version, compression, depsCompression)
}

// builtNames returns the names (without hash and .drv) of the derivations
// nix-build said it would build.
func builtNames(log string) []string {
	var names []string
	inList := false
	for _, line := range strings.Split(log, "\n") {
		if regexp.MustCompile(`^these \d+ derivations? will be built:|^this derivation will be built:`).MatchString(line) {
			inList = true
			continue
		}
		if inList {
			p := strings.TrimSpace(line)
			if !strings.HasPrefix(line, "  ") || !strings.HasSuffix(p, ".drv") {
				inList = false
				continue
			}
			names = append(names, strings.TrimSuffix(filepath.Base(p)[33:], ".drv"))
		}
	}
	sort.Strings(names)
	return names
}

// closurePaths is nix-store -qR of p.
func closurePaths(t *testing.T, p string) map[string]bool {
	t.Helper()
	r := runNix(t, "nix-store", "--query", "--requisites", p)
	if r.err != nil {
		t.Fatal(r)
	}
	set := map[string]bool{}
	for _, l := range strings.Fields(r.out) {
		set[l] = true
	}
	return set
}

// TestIncrementalImage builds an image whose dependencies are a declared
// layer derivation, then the image of a changed application: the second
// build builds exactly one derivation, the image (one export of the
// closure graph per rebuild), the two versions share the declared layer's output in the store, both run
// with umoci and runc, --check rebuilds them bit for bit, and a push of the
// second after the first uploads only the application's layer.
func TestIncrementalImage(t *testing.T) {
	needRegistry(t)
	for _, tc := range []struct{ name, deps, image string }{
		{"gzip", "gzip", "gzip"},
		// A zstd declared layer in a gzip image: each layer keeps its own
		// media type.
		{"zstd-deps", "zstd", "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			build := func(version string) (string, []string) {
				file := writeExpr(t, incrementalExpr(version, tc.deps, tc.image))
				// The application first, so that what the image's build
				// builds is the image's business only.
				if r := nixBuildFile(t, file, true, "-A", "app"); r.err != nil {
					t.Fatal(r)
				}
				r := nixBuildFile(t, file, true, "-A", "image")
				if r.err != nil {
					t.Fatal(r)
				}
				if r := nixBuildFile(t, file, true, "-A", "image", "--check"); r.err != nil {
					t.Fatalf("--check: %v", r)
				}
				return r.out, builtNames(r.log)
			}
			v1, built1 := build("1")
			want1 := []string{"deps-" + h.nonce, "incremental-" + h.nonce}
			if strings.Join(built1, " ") != strings.Join(want1, " ") {
				t.Fatalf("the first build built %v, want %v", built1, want1)
			}
			v2, built2 := build("2")
			want2 := []string{"incremental-" + h.nonce}
			if strings.Join(built2, " ") != strings.Join(want2, " ") {
				t.Fatalf("the rebuild after changing the application built %v, want %v", built2, want2)
			}

			// The layers: deps' two, the application's, /etc; deps' blobs
			// are links into the layer derivation's output, the
			// application's is the image's own file.
			_, m1 := readLayout(t, v1)
			_, m2 := readLayout(t, v2)
			if len(m1.Layers) != 4 || len(m2.Layers) != 4 {
				t.Fatalf("%d and %d layers, want 4 (deps' 2, the application's, /etc)", len(m1.Layers), len(m2.Layers))
			}
			for i, l := range m2.Layers {
				mediaType := "application/vnd.oci.image.layer.v1.tar+" + tc.image
				if i < 2 {
					mediaType = "application/vnd.oci.image.layer.v1.tar+" + tc.deps
				}
				if l.MediaType != mediaType {
					t.Errorf("layer %d: media type %s, want %s", i, l.MediaType, mediaType)
				}
				if i < 2 && l.Digest != m1.Layers[i].Digest {
					t.Errorf("layer %d (deps) changed with the application", i)
				}
			}
			if m1.Layers[2].Digest == m2.Layers[2].Digest {
				t.Error("the application's layer did not change")
			}
			target, err := os.Readlink(blobPath(v2, m2.Layers[0].Digest))
			if err != nil || !strings.Contains(target, "-deps-"+h.nonce+"/blobs/sha256/") {
				t.Fatalf("deps' blob in the image is not a link into the layer derivation: %q, %v", target, err)
			}
			if fi, err := os.Lstat(blobPath(v2, m2.Layers[2].Digest)); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("the application's blob is not a file of the image: %v, %v", fi, err)
			}

			// Store sharing: both images refer to the same deps output.
			// (A compressed blob may hold a store path's hash verbatim, and
			// so refer to it for Nix, as an image's blobs may: layers.json
			// names none.)
			deps := filepath.Dir(filepath.Dir(filepath.Dir(target)))
			c1, c2 := closurePaths(t, v1), closurePaths(t, v2)
			if !c1[deps] || !c2[deps] {
				t.Fatalf("%s is not in both images' closures", deps)
			}
			data, err := os.ReadFile(filepath.Join(deps, "layers.json"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "/nix/store/") {
				t.Fatalf("layers.json names store paths:\n%s", data)
			}

			// Both run (umoci reads gzip only: skopeo converts zstd, reading
			// the linked blobs).
			for i, img := range []string{v1, v2} {
				ref := fmt.Sprintf("%s:v%d", img, i+1)
				if tc.deps != "gzip" || tc.image != "gzip" {
					gz := filepath.Join(t.TempDir(), "gzip")
					tool(t, "skopeo", "--insecure-policy", "copy", "--dest-compress-format", "gzip", "oci:"+ref, "oci:"+gz+":latest")
					ref = gz + ":latest"
				}
				res := unpackAndRun(t, ref)
				want := fmt.Sprintf("app version %d: one", i+1)
				if res.code != 0 || !strings.Contains(res.stdout, "library data") || !strings.Contains(res.stdout, want) {
					t.Fatalf("v%d: exit %d, stdout %q, want %q\n%s", i+1, res.code, res.stdout, want, res.stderr)
				}
			}

			// The registry: the second push uploads the application's
			// layer only.
			reg := startRegistry(t, "")
			dest := "docker://" + reg.host + "/incremental"
			if up, ex := pushSummary(t, v1, dest+":v1"); up != 4 || ex != 0 {
				t.Fatalf("first push: %d uploaded, %d existed; want 4, 0", up, ex)
			}
			before := reg.blobFiles(t)
			if up, ex := pushSummary(t, v2, dest+":v2"); up != 1 || ex != 3 {
				t.Fatalf("second push: %d uploaded, %d existed; want 1, 3", up, ex)
			}
			// And the new image's documents: 3, their manifests, and 3
			// versions of its fallback tag's index (docker-registry 2.8
			// has no referrers API).
			if after := reg.blobFiles(t); after != before+3+6+3 {
				t.Fatalf("the second push added %d blobs, want 12 (the application's layer, config, manifest, 3 documents, their manifests, 3 versions of the fallback tag's index)", after-before)
			}
		})
	}
}

// TestIncrementalEvaluationErrors: bad 'layers' and buildLayer arguments
// fail at evaluation with one message naming the argument.
func TestIncrementalEvaluationErrors(t *testing.T) {
	need(t)
	const layer = `(ociTools.buildLayer { deps = [ busybox ]; maxLayers = 2; })`
	tests := []struct {
		name, expr, want string
	}{
		{"not a layer", `ociTools.buildImage { args = [ "${busybox}/bin/sh" ]; layers = [ busybox ]; }`,
			`ociTools.buildImage: 'layers[0]' must be a result of ociTools.buildLayer, got the string "/nix/store/`},
		{"a derivation", `ociTools.buildImage { args = [ "${busybox}/bin/sh" ]; layers = [ ` + layer + ` (derivation { name = "x"; builder = "x"; system = "x"; }) ]; }`,
			`ociTools.buildImage: 'layers[1]' must be a result of ociTools.buildLayer, got a derivation`},
		{"not a list", `ociTools.buildImage { args = [ "${busybox}/bin/sh" ]; layers = ` + layer + `; }`,
			`ociTools.buildImage: 'layers' must be a list of ociTools.buildLayer results, got a derivation`},
		{"no layer left", `ociTools.buildImage { args = [ "${busybox}/bin/sh" ]; maxLayers = 3; layers = [ ` + layer + ` ]; }`,
			`ociTools.buildImage: 'maxLayers' leaves no layer for the closure: the declared layers (and the layers under them) may have 2, the image's own layers are 1 and the rest of the closure needs 1: maxLayers must be at least 4` + "\n"},
		// dockerTools' style: the customisation layer is the image's own.
		{"no layer left, contents", `ociTools.buildLayeredImage { name = "x"; contents = [ busybox ]; maxLayers = 3; layers = [ ` + layer + ` ]; }`,
			`ociTools.buildLayeredImage: 'maxLayers' leaves no layer for the closure: the declared layers (and the layers under them) may have 2, the image's own layers are 1 and the rest of the closure needs 1: maxLayers must be at least 4` + "\n"},
		// The layers under a declared layer count too: 2 + 1 here.
		{"no layer left, stack", `ociTools.buildImage { args = [ "${busybox}/bin/sh" ]; maxLayers = 4; layers = [ (ociTools.buildLayer { deps = [ busybox ]; layers = [ ` + layer + ` ]; }) ]; }`,
			`ociTools.buildImage: 'maxLayers' leaves no layer for the closure: the declared layers (and the layers under them) may have 3, the image's own layers are 1 and the rest of the closure needs 1: maxLayers must be at least 5` + "\n"},
		{"buildLayer no deps", `ociTools.buildLayer { }`, `ociTools.buildLayer: 'deps' names no store path`},
		{"buildLayer deps type", `ociTools.buildLayer { deps = busybox; }`, `ociTools.buildLayer: 'deps' must be a list of strings`},
		{"buildLayer layers", `ociTools.buildLayer { deps = [ busybox ]; layers = [ "x" ]; }`,
			`ociTools.buildLayer: 'layers[0]' must be a result of ociTools.buildLayer, got the string "x"`},
		{"buildLayer maxLayers", `ociTools.buildLayer { deps = [ busybox ]; maxLayers = 0; }`,
			`ociTools.buildLayer: 'maxLayers' must be an integer from 1 to 125, got 0`},
		{"buildLayer compression", `ociTools.buildLayer { deps = [ busybox ]; compression = "xz"; }`,
			`ociTools.buildLayer: 'compression' must be "gzip" or "zstd", got "xz"`},
		{"buildLayer verify", `ociTools.buildLayer { deps = [ busybox ]; verify = "yes"; }`,
			`ociTools.buildLayer: 'verify' must be a boolean, got a string`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runNix(t, "nix-instantiate", writeExpr(t, tc.expr))
			if r.err == nil || !strings.Contains(r.log, tc.want) {
				t.Fatalf("want error %q, got %v", tc.want, r)
			}
		})
	}
}

// nestedExpr is an image whose declared layer, mid (app 1), stacks on
// base (lib, busybox); the image runs app 2, which only the image's own
// layer holds.
const nestedExpr = "let\n" + appExpr + `
  base = ociTools.buildLayer { name = "base-${nonce}"; deps = [ lib ]; };
  mid = ociTools.buildLayer { name = "mid-${nonce}"; deps = [ (app "1") ]; layers = [ base ]; };
  image = layers: ociTools.buildImage {
    name = "nested-${nonce}";
    args = [ "${app "2"}/bin/app" "two" ];
    inherit layers;
  };
in
{
  inherit base mid;
  image = image [ mid ];
  # base twice (under mid and declared): once, below mid.
  diamond = image [ mid base ];
}`

// TestIncrementalNestedEvaluation: the layers under a declared layer are
// the image's layer derivations too, lower layers first, each once.
func TestIncrementalNestedEvaluation(t *testing.T) {
	need(t)
	file := writeExpr(t, "let x = "+nestedExpr+"; in map (i: map (p: builtins.substring 33 100 (baseNameOf p)) i.drvAttrs.layerDerivations ++ [ (i.layers == [ x.base x.mid ]) ]) [ x.image x.diamond ] ++ [ (map (p: builtins.substring 33 100 (baseNameOf p)) x.mid.drvAttrs.layer.layers) ]")
	r := runNix(t, "nix-instantiate", "--eval", "--strict", "--json", file)
	if r.err != nil {
		t.Fatal(r)
	}
	n := h.nonce
	want := fmt.Sprintf(`[["base-%[1]s","mid-%[1]s",true],["base-%[1]s","mid-%[1]s",true],["base-%[1]s"]]`, n)
	if r.out != want {
		t.Fatalf("layer derivations %s, want %s", r.out, want)
	}
}

// TestIncrementalNestedImage: an image whose declared layer stacks on
// another links the lower layer's blobs too (it is not compressed again
// into the image's own layer) and runs.
func TestIncrementalNestedImage(t *testing.T) {
	needTools(t)
	file := writeExpr(t, nestedExpr)
	r := nixBuildFile(t, file, true, "-A", "image")
	if r.err != nil {
		t.Fatal(r)
	}
	img := r.out
	_, m := readLayout(t, img)
	wantIn := []string{"-base-" + h.nonce + "/", "-mid-" + h.nonce + "/"}
	if len(m.Layers) != len(wantIn)+2 {
		t.Fatalf("%d layers, want %d (base's, mid's, the image's own layer, /etc)", len(m.Layers), len(wantIn)+2)
	}
	for i, w := range wantIn {
		target, err := os.Readlink(blobPath(img, m.Layers[i].Digest))
		if err != nil || !strings.Contains(target, w) {
			t.Errorf("layer %d: blob is not a link into %s: %q, %v", i, w, target, err)
		}
	}
	// The image's own layer holds app 2 only, as a file of the image.
	own := blobPath(img, m.Layers[2].Digest)
	if fi, err := os.Lstat(own); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the image's own layer is not a file of the image: %v, %v", fi, err)
	}
	if names := layerStoreNames(t, own, storeDirOf(img)); strings.Join(names, " ") != "app-"+h.nonce {
		t.Fatalf("the image's own layer holds %v, want the application only", names)
	}
	res := unpackAndRun(t, img+":latest")
	if res.code != 0 || !strings.Contains(res.stdout, "library data") || !strings.Contains(res.stdout, "app version 2: two") {
		t.Fatalf("exit %d, stdout %q\n%s", res.code, res.stdout, res.stderr)
	}
}

// TestIncrementalLayeredImage: buildLayeredImage takes 'layers' too; the
// declared layers come first, then its own layer derivation's, and the
// customisation layer on top, all within maxLayers; its archive holds
// copies of the declared layers' blobs (an archive cannot link), and it
// runs.
func TestIncrementalLayeredImage(t *testing.T) {
	needTools(t)
	t.Parallel()
	img := mustBuild(t, "let\n"+appExpr+`
  deps = ociTools.buildLayer { name = "ldeps-${nonce}"; deps = [ lib ]; maxLayers = 2; };
in
ociTools.buildLayeredImage {
  name = "layered-incremental-${nonce}";
  tag = "v1";
  contents = [ busybox ];
  config.Cmd = [ "${app "L"}/bin/app" "x" ];
  layers = [ deps ];
  maxLayers = 4;
}`, true)
	checkDockerArchive(t, img, "layered-incremental-"+h.nonce+":v1", 4)
	layout := filepath.Join(t.TempDir(), "layout")
	tool(t, "skopeo", "--insecure-policy", "copy", "oci-archive:"+img+":v1", "oci:"+layout+":v1")
	res := unpackAndRun(t, layout+":v1")
	if res.code != 0 || !strings.Contains(res.stdout, "app version L: x") {
		t.Fatalf("exit %d, stdout %q\n%s", res.code, res.stdout, res.stderr)
	}
}
