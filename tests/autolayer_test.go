package tests

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// autoLayerExpr is a buildLayeredImage without layeringPipeline: app (the
// command) refers to big (6 MiB, the largest store path) and busybox
// (about 2 MiB), big to bigdep, which only big uses.
const autoLayerExpr = `let
  mk = name: script: derivation {
    inherit name system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" script ];
  };
  bigdep = mk "al-bigdep-${nonce}" "echo bigdep-data > $out";
  big = mk "al-big-${nonce}" ''
    ${busybox}/bin/busybox mkdir $out
    ${busybox}/bin/busybox head -c 6291456 /dev/zero > $out/blob
    echo ${bigdep} > $out/dep
  '';
  app = mk "al-app-${nonce}" ''
    ${busybox}/bin/busybox mkdir -p $out/bin
    printf '#!${busybox}/bin/sh\necho "big gives $(${busybox}/bin/busybox cat $(${busybox}/bin/busybox cat ${big}/dep))"\n' > $out/bin/app
    ${busybox}/bin/busybox chmod +x $out/bin/app
  '';
in
ociTools.buildLayeredImage {
  name = "autolayer-${nonce}";
  tag = "v1";
  contents = [ busybox ];
  config.Cmd = [ "${app}/bin/app" ];
  maxLayers = 3;
  debug = true;
}`

// TestDockerCompatAutoLayer builds a buildLayeredImage with dockerTools'
// default layering, auto-layer (and --check rebuilds it the same), and
// checks which store paths each layer holds: with maxLayers = 3, two
// layers of store paths, the largest path (big) with the dependency only
// it uses (bigdep), then the rest (app, busybox), then the customisation
// layer; popularity would have put busybox with big. debug lists the
// layers in the build log. The image runs (umoci and runc): app reads
// bigdep through big.
func TestDockerCompatAutoLayer(t *testing.T) {
	needTools(t)
	t.Parallel()
	log, layout, got := buildLayerStores(t, autoLayerExpr)
	for _, want := range []string{"oci-builder: layer 1: 2 store paths: al-b", "oci-builder: layer 2: 2 store paths: ", "oci-builder: layer 3: customisation layer"} {
		if !strings.Contains(log, want) {
			t.Errorf("debug: the build log lacks %q:\n%s", want, log)
		}
	}
	n := h.nonce
	want := [][]string{{"al-big-" + n, "al-bigdep-" + n}, {"al-app-" + n, "busybox"}, nil}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("layers' store paths %q, want %q", got, want)
	}
	res := unpackAndRun(t, layout+":v1")
	if res.code != 0 || res.stdout != "big gives bigdep-data\n" {
		t.Fatalf("runc: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}

// buildLayerStores builds expr, a layered image tagged v1, checks that
// --check rebuilds it the same, and copies it into an OCI layout. It
// returns the build log, the layout, and the names of the store paths
// each layer holds (see layerStoreNames).
func buildLayerStores(t *testing.T, expr string) (string, string, [][]string) {
	t.Helper()
	file := writeExpr(t, expr)
	r := nixBuildFile(t, file, true)
	if r.err != nil {
		t.Fatal(r)
	}
	if r := nixBuildFile(t, file, true, "--check"); r.err != nil {
		t.Fatal(r)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	tool(t, "skopeo", "--insecure-policy", "copy", "oci-archive:"+r.out+":v1", "oci:"+layout+":v1")
	_, m := readLayout(t, layout)
	var stores [][]string
	for _, l := range m.Layers {
		stores = append(stores, layerStoreNames(t, blobPath(layout, l.Digest), filepath.Dir(r.out)))
	}
	return r.log, layout, stores
}
