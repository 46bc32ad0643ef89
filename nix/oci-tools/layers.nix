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

  # A layer derivation, the builder of buildLayer and of the layers of
  # buildImage's 'layers': the closure of 'roots' less the store paths of
  # 'layers' (checked buildLayer results, flattened: the whole stack) in at
  # most maxLayers layers. With 'graph', a second output of that name holds
  # the closure graph of 'roots', which the image reads instead of an
  # export of its own.
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
      graph ? false,
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
          // (
            if graph then
              {
                outputs = [
                  "out"
                  "graph"
                ];
              }
            else
              { }
          )
          // closureGraphAttrs {
            inherit name roots;
            # The graph output feeds the image, whose SBOMs give every
            # path's NAR hash: that one takes the structured export even
            # when it verifies nothing.
            hashes = graph || verify != false;
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

  # What an image adds to its derivation: the closure graph of 'roots' and,
  # with declared layers, those layers and, for the rest of its closure, a
  # layer derivation of its own ('<name>-layers'), which the image links
  # instead of writing layers. The image then takes the closure graph from
  # that derivation's graph output: it verifies nothing itself (its layers
  # were verified when they were built), and one export of the closure per
  # rebuild is Nix's cost. With no declared layers, the image writes its
  # layers itself and gets the structured export.
  imageLayers =
    {
      fn,
      name,
      roots,
      layers,
      compression,
      budget,
      # The image's own layers (/etc, contents), which budget leaves out.
      own,
      verify,
    }:
    let
      declared = flattenLayers (checkLayers fn layers);
      used = foldl' (n: l: n + l.ociLayer.maxLayers) 0 declared;
      rest = budget - used;
      auto = layerDerivation {
        name = "${name}-layers";
        inherit roots compression verify;
        graph = true;
        layers = declared;
        maxLayers =
          if rest >= 1 then
            rest
          else
            fail fn "'maxLayers' leaves no layer for the closure: the declared layers (and the layers under them) may have ${toString used}, the image's own layers are ${toString own} and the rest of the closure needs 1: maxLayers must be at least ${
              toString (used + own + 1)
            }";
      };
    in
    if declared == [ ] then
      {
        # The structured export even when the image verifies nothing:
        # its SBOMs give every path's NAR hash.
        attrs = closureGraphAttrs {
          inherit name roots;
          hashes = true;
        };
        passthru = { };
        licenses = [ ];
      }
    else
      {
        attrs = {
          layerDerivations = map toStr (declared ++ [ auto ]);
          closureGraph = {
            file = toStr auto.graph;
            inherit roots;
          };
        };
        # The licences of the declared layers' deps, for the image's SBOMs.
        licenses = concatMap (l: l.ociLayer.licenses or [ ]) declared;
        passthru = {
          layers = declared;
          closureLayers = auto;
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
