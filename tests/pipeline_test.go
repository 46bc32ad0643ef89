package tests

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// pipelineExpr is a buildLayeredImage with dockerTools' layeringPipeline:
// app (the command) refers to lib and busybox, lib to dep. The pipeline
// splits lib off (with dep, which only lib reaches), ranks the rest by
// popularity and keeps at most two layers of it.
const pipelineExpr = `let
  mk = name: script: derivation {
    inherit name system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" script ];
  };
  dep = mk "pl-dep-${nonce}" "echo dep-data > $out";
  lib = mk "pl-lib-${nonce}" "${busybox}/bin/busybox mkdir $out; echo ${dep} > $out/dep";
  app = mk "pl-app-${nonce}" ''
    ${busybox}/bin/busybox mkdir -p $out/bin
    printf '#!${busybox}/bin/sh\necho "lib gives $(${busybox}/bin/busybox cat $(${busybox}/bin/busybox cat ${lib}/dep))"\n' > $out/bin/app
    ${busybox}/bin/busybox chmod +x $out/bin/app
  '';
in
ociTools.buildLayeredImage {
  name = "pipeline-${nonce}";
  tag = "v1";
  contents = [ busybox ];
  config.Cmd = [ "${app}/bin/app" ];
  maxLayers = 2;
  layeringPipeline = [
    [ "split_paths" [ lib ] ]
    [ "over" "rest" [ "pipe" [ [ "popularity_contest" ] [ "limit_layers" 2 ] ] ] ]
  ];
}`

// TestDockerCompatLayeringPipeline builds a buildLayeredImage with a
// layeringPipeline (and --check rebuilds it the same), and checks which
// store paths each layer holds: lib and dep (split off), busybox (the most
// popular of the rest), app, then the customisation layer; maxLayers = 2
// does not limit a pipeline's layers, as in dockerTools. The image runs
// (umoci and runc): app reads dep through lib.
func TestDockerCompatLayeringPipeline(t *testing.T) {
	needTools(t)
	t.Parallel()
	_, layout, got := buildLayerStores(t, pipelineExpr)
	n := h.nonce
	want := [][]string{{"pl-dep-" + n, "pl-lib-" + n}, {"busybox"}, {"pl-app-" + n}, nil}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("layers' store paths %q, want %q", got, want)
	}
	res := unpackAndRun(t, layout+":v1")
	if res.code != 0 || res.stdout != "lib gives dep-data\n" {
		t.Fatalf("runc: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}

// TestDockerCompatLayeringPipelineEval: streamLayeredImage takes a
// pipeline too (its builder plans the image as buildLayeredImage's); a
// pipeline of the wrong shape is refused at evaluation, naming the step.
func TestDockerCompatLayeringPipelineEval(t *testing.T) {
	need(t)
	t.Parallel()
	stream := `builtins.toJSON (ociTools.streamLayeredImage { name = "s"; layeringPipeline = [ [ "split_paths" [ { children_of = busybox; } ] ] [ "flatten" ] ]; }).drvAttrs.dockerCompat.layeringPipeline`
	if r := runNix(t, "nix-instantiate", "--eval", writeExpr(t, stream)); r.err != nil || !strings.Contains(r.out, `children_of`) || !strings.Contains(r.out, "-busybox") {
		t.Errorf("streamLayeredImage's layeringPipeline: %v\n%s%s", r.err, r.out, r.log)
	}
	for arg, want := range map[string]string{
		`[ [ "popularity_contest" ] [ "limit_layers" 0 ] ]`:                    `'layeringPipeline' step 2: "limit_layers" takes a count, an integer of at least 1, got 0`,
		`[ [ "split_paths" [ ] ] [ "over" "rest" [ "pipe" [ [ "pop" ] ] ] ] ]`: `'layeringPipeline' step 2.1.1: unknown operation "pop"`,
		`[ [ "subcomponent_out" busybox ] ]`:                                   `'layeringPipeline' step 1: "subcomponent_out" takes a list of store paths, got a string`,
		`{ }`:                                                                  `'layeringPipeline' must be a list of steps`,
	} {
		expr := fmt.Sprintf(`ociTools.buildLayeredImage { name = "refused"; layeringPipeline = %s; }`, arg)
		r := runNix(t, "nix-instantiate", writeExpr(t, expr))
		if r.err == nil || !strings.Contains(r.log, want) {
			t.Errorf("%s: want an error containing %q, got %v\n%s", arg, want, r.err, r.log)
		}
	}
	expr := `ociTools.buildLayeredImage { name = "refused"; layeringPipeline = [ [ "flatten" ] ]; layers = [ busybox ]; }`
	if r := runNix(t, "nix-instantiate", writeExpr(t, expr)); r.err == nil || !strings.Contains(r.log, "give 'layeringPipeline' or 'layers', not both") {
		t.Errorf("layers and layeringPipeline: %v\n%s", r.err, r.log)
	}
}

// layerStoreNames lists the names (without hashes) of the store paths a
// gzip layer holds, sorted.
func layerStoreNames(t *testing.T, blob, storeDir string) []string {
	t.Helper()
	f, err := os.Open(blob)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimPrefix(storeDir, "/") + "/"
	seen := map[string]bool{}
	var names []string
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(strings.TrimPrefix(hdr.Name, "/"), prefix)
		if !ok || rest == "" {
			continue
		}
		base, _, _ := strings.Cut(rest, "/")
		if len(base) < 34 {
			t.Fatal(fmt.Errorf("layer entry %s is not in a store path", hdr.Name))
		}
		if name := base[33:]; !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
