package tests

import (
	"encoding/json"
	"testing"
)

// TestClosureGraphExport: which export of the closure graph each kind of
// derivation gets from nix/oci-tools.nix. Nix's structured export carries
// the NAR hashes verification needs and costs, on big closures, an order
// of magnitude more than the text export: a derivation that verifies
// nothing gets the text export through its graph helper ("text"). An
// image with declared layers writes the rest of its closure itself, so
// that a rebuild after a change to the application is one derivation and
// pays one structured export. Images take the structured export even when
// they verify nothing: their SBOMs give every path's NAR hash. (The builds of
// TestStoreModes, TestRootsContentAddressed and TestIncrementalImage run
// these derivations.)
func TestClosureGraphExport(t *testing.T) {
	need(t)
	r := runNix(t, "nix-instantiate", "--eval", "--strict", "--json", writeExpr(t, `
let
  args = [ "${busybox}/bin/sh" "-c" "true" ];
  deps = ociTools.buildLayer { deps = [ busybox ]; };
  export =
    d:
    let
      a = d.drvAttrs;
      file = builtins.unsafeDiscardStringContext a.closureGraph.file;
      suffix = n: builtins.substring (builtins.stringLength file - n) n file;
    in
    if a ? exportReferencesGraph then
      "structured"
    else if suffix 8 == "-closure" then
      "text"
    else
      "none";
  layered = v: ociTools.buildImage ({ inherit args; layers = [ deps ]; } // v);
in
{
  container = export (ociTools.buildContainer { inherit args; });
  containerUnverified = export (ociTools.buildContainer { inherit args; verify = false; });
  hardlinkUnverified = export (ociTools.buildContainer { inherit args; storeMode = "hardlink"; verify = false; });
  bind = export (ociTools.buildContainer { inherit args; storeMode = "bind"; });
  bindVerified = export (ociTools.buildContainer { inherit args; storeMode = "bind"; verify = true; });
  image = export (ociTools.buildImage { inherit args; });
  imageUnverified = export (ociTools.buildImage { inherit args; verify = false; });
  imageWithLayers = export (layered { });
  imageWithLayersUnverified = export (layered { verify = false; });
  # No layer derivation of the image's own: only the declared ones.
  imageLayerDerivations = toString (builtins.length (layered { }).drvAttrs.layerDerivations);
  layer = export deps;
  layerUnverified = export (ociTools.buildLayer { deps = [ busybox ]; verify = false; });
}`))
	if r.err != nil {
		t.Fatal(r)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("%v: %s", err, r.out)
	}
	want := map[string]string{
		"container":                 "structured",
		"containerUnverified":       "text",
		"hardlinkUnverified":        "text",
		"bind":                      "text",
		"bindVerified":              "structured",
		"image":                     "structured",
		"imageUnverified":           "structured",
		"imageWithLayers":           "structured",
		"imageWithLayersUnverified": "structured",
		"imageLayerDerivations":     "1",
		"layer":                     "structured",
		"layerUnverified":           "text",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s gets the %s export, want %s", k, got[k], w)
		}
	}
}
