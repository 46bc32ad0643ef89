# Layer derivations (buildLayer) and the layers of images built on them.
scope:
let
  inherit (builtins)
    concatMap
    elemAt
    foldl'
    genList
    isAttrs
    isList
    isString
    length
    ;
  inherit (scope)
    bool
    checkStringList
    checkType
    closureGraphAttrs
    derivationName
    describe
    fail
    licensesOf
    oci-builder
    rootsOf
    system
    toStr
    withPassthru
    ;

  # A layer derivation, the builder of buildLayer: the closure of 'roots'
  # less the store paths of 'layers' (checked buildLayer results, flattened:
  # the whole stack) in at most maxLayers layers.
  layerDerivation =
    {
      name,
      roots,
      layers,
      compression,
      maxLayers,
      verify,
      # The licences of the deps (licensesOf), for the SBOMs of the images
      # that use the layer.
      licenses ? [ ],
    }:
    withPassthru
      {
        ociLayer = {
          inherit maxLayers compression licenses;
          # The layer stack under this layer: every layer derivation below
          # it, transitively, lower layers first.
          layers = layers;
        };
      }
      (
        derivation (
          {
            inherit name system;
            builder = "${oci-builder}/bin/oci-builder";
            args = [ "nix-layer-builder" ];
            __structuredAttrs = true;
            storeDir = builtins.storeDir;
            layer = {
              inherit compression maxLayers;
              layers = map toStr layers;
            }
            // (if verify != null then { inherit verify; } else { });
          }
          // closureGraphAttrs {
            inherit name roots;
            hashes = verify != false;
          }
        )
      );

  # The 'layers' argument of the image functions: a list of buildLayer
  # results.
  checkLayers =
    fn: layers:
    genList (
      i:
      let
        l = elemAt layers i;
      in
      if isAttrs l && l ? ociLayer && l ? outPath then
        l
      else
        fail fn "'layers[${toString i}]' must be a result of ociTools.buildLayer, got ${
          if isString l then "the string \"${l}\"" else describe l
        }"
    ) (length (checkType fn "layers" isList "a list of ociTools.buildLayer results" layers));

  # The layer stack of checked buildLayer results: each one's own stack
  # then itself, de-duplicated (first occurrence kept), so lower layers
  # come first.
  flattenLayers =
    layers:
    foldl' (acc: l: if builtins.any (a: toStr a == toStr l) acc then acc else acc ++ [ l ]) [ ] (
      builtins.concatMap (l: (l.ociLayer.layers or [ ]) ++ [ l ]) layers
    );

  # What an image adds to its derivation: the structured export of the
  # closure graph of 'roots' (even when the image verifies nothing: its
  # SBOMs give every path's NAR hash) and, with declared layers, those
  # layers, which the image links, and the number of layers left for the
  # rest of the closure, which the image writes (and verifies) itself. A
  # rebuild after a change to the application is then one derivation and
  # one export of the closure: Nix's floor.
  imageLayers =
    {
      fn,
      name,
      roots,
      layers,
      budget,
      # The image's own layers (/etc, contents), which budget leaves out.
      own,
    }:
    let
      declared = flattenLayers (checkLayers fn layers);
      used = foldl' (n: l: n + l.ociLayer.maxLayers) 0 declared;
      rest = budget - used;
      graph = closureGraphAttrs {
        inherit name roots;
        hashes = true;
      };
    in
    if declared == [ ] then
      {
        attrs = graph;
        passthru = { };
        licenses = [ ];
      }
    else
      {
        attrs = graph // {
          layerDerivations = map toStr declared;
          closureMaxLayers =
            if rest >= 1 then
              rest
            else
              fail fn "'maxLayers' leaves no layer for the closure: the declared layers (and the layers under them) may have ${toString used}, the image's own layers are ${toString own} and the rest of the closure needs 1: maxLayers must be at least ${
                toString (used + own + 1)
              }";
        };
        # The licences of the declared layers' deps, for the image's SBOMs.
        licenses = concatMap (l: l.ociLayer.licenses or [ ]) declared;
        passthru = {
          layers = declared;
        };
      };

  # A layer derivation of the closure of 'deps' less the store paths of
  # 'layers' (other buildLayer results), in at most 'maxLayers' layers
  # grouped by popularity as an image's: its output holds the blobs
  # (blobs/sha256/) and layers.json. Give it to buildImage's 'layers' so
  # that it is built once and shared by every version of the image.
  buildLayer =
    {
      deps ? [ ],
      layers ? [ ],
      compression ? "gzip",
      maxLayers ? 1,
      name ? null,
      verify ? null,
    }:
    let
      fn = "buildLayer";
      roots = rootsOf fn (checkStringList fn "deps" deps);
    in
    if roots == [ ] then
      fail fn "'deps' names no store path: a layer needs something to hold"
    else
      layerDerivation {
        name = derivationName fn name roots "layer";
        roots = map (r: r.path) roots;
        layers = flattenLayers (checkLayers fn layers);
        licenses = licensesOf deps;
        compression =
          if compression == "gzip" || compression == "zstd" then
            compression
          else
            fail fn "'compression' must be \"gzip\" or \"zstd\", got ${builtins.toJSON compression}";
        maxLayers =
          if builtins.isInt maxLayers && maxLayers >= 1 && maxLayers <= 125 then
            maxLayers
          else
            fail fn "'maxLayers' must be an integer from 1 to 125, got ${builtins.toJSON maxLayers}";
        verify = if verify == null then null else bool fn "verify" verify;
      };
in
{
  inherit
    imageLayers
    buildLayer
    ;
}
