# The benchmark's Nix side (see bench/run): fixture closures, containers
# built by oci-builder, and a derivation doing what nixpkgs'
# ociTools.buildContainer does. Builtins only.
#
#   gen, busybox, oci-builder: directories holding bin/fixturegen,
#     bin/busybox (+ bin/sh) and bin/oci-builder (oci-builder: or a store
#     path holding it, as a string)
#   goroot: a store path (a directory already added to the store, as
#     bench/run does with `nix-store --add`) referred to by the big fixture
#   bigPaths, scalePaths: number of generated paths in each fixture
#   sizePercent: scales the big fixture's file sizes
#   shapeFile: the dependency graph of the "shape" fixture (bench/shapes,
#     made by `fixturegen shape`); shapePaths keeps its first nodes only
#     (null: all), shapePercent scales its sizes
{
  gen,
  busybox,
  oci-builder,
  goroot ? null,
  bigPaths ? 2048,
  scalePaths ? 5000,
  sizePercent ? 100,
  shapeFile ? ./shapes/debian-kde-full.json,
  shapePaths ? null,
  shapePercent ? 25,
}:
let
  inherit (builtins) genList toString stringLength substring;
  system = builtins.currentSystem;
  bb = builtins.path {
    path = busybox;
    name = "busybox";
  };
  genPkg = builtins.path {
    path = gen;
    name = "fixturegen";
  };
  ociTools = import ../nix/oci-tools.nix {
    # A store path (bench/run adds it once, as a package is): imported
    # here, it would be hashed again at every evaluation.
    oci-builder =
      if builtins.isString oci-builder then
        builtins.storePath oci-builder
      else
        builtins.path {
          path = oci-builder;
          name = "oci-builder";
        };
  };
  pad =
    i:
    let
      s = toString i;
    in
    substring 0 (4 - stringLength s) "0000" + s;

  fixture =
    kind: prefix: n: extra:
    derivation (
      {
        name = "bench-${kind}";
        inherit system kind;
        builder = "${genPkg}/bin/fixturegen";
        args = [ "gen" ];
        __structuredAttrs = true;
        outputs = genList (i: "${prefix}${pad i}") n;
      }
      // extra
    );

  big = fixture "big" "p" bigPaths (
    { inherit sizePercent; }
    // (
      if goroot == null then
        { }
      else
        {
          goroot = builtins.storePath goroot;
        }
    )
  );
  scale = fixture "scale" "s" scalePaths { };

  # A real dependency graph (nodes in dependency order, so that any first
  # nodes are a closure): one output per node, referring to its
  # dependencies, of its size scaled.
  allNodes = (builtins.fromJSON (builtins.readFile shapeFile)).nodes;
  shapeNodes = if shapePaths == null then allNodes else builtins.genList (builtins.elemAt allNodes) shapePaths;
  shaped = fixture "shape" "r" (builtins.length shapeNodes) {
    shape = shapeNodes;
    sizePercent = shapePercent;
  };
in
rec {
  inherit bb;

  # The root whose closure is the big fixture (a chain: the worst case of
  # Nix's structured export), the root of the shape fixture (the closure
  # of a real package), and one whose closure has n paths of the scale
  # fixture.
  bigRoot = big."p${pad (bigPaths - 1)}";
  shapeRoot = shaped."r${pad (builtins.length shapeNodes - 1)}";
  scaleRoot = n: scale."s${pad (n - 1)}";

  # The program of every benchmark container: it names the root, so the
  # root's closure (and busybox) is the container's closure.
  args = root: [
    "${bb}/bin/sh"
    "-c"
    "echo ${root}"
  ];

  # .attrs.json as the builder of a container of root sees it (closure graph
  # included), for running the builder outside Nix.
  attrs =
    root:
    derivation {
      name = "bench-attrs";
      inherit system;
      builder = "${genPkg}/bin/fixturegen";
      args = [ "dump-attrs" ];
      __structuredAttrs = true;
      exportReferencesGraph.closure = [
        bb
        root
      ];
    };

  # The floor of an end-to-end build: a derivation that gets the same
  # closure graph in its .attrs.json and writes nothing but that file.
  nixFloor =
    { root, nonce }:
    derivation {
      name = "bench-floor-${nonce}";
      inherit system;
      builder = "${genPkg}/bin/fixturegen";
      args = [ "dump-attrs" ];
      __structuredAttrs = true;
      exportReferencesGraph.closure = [
        bb
        root
      ];
    };

  # A container of root built by oci-builder.
  container =
    {
      root,
      storeMode,
      nonce,
    }:
    ociTools.buildContainer {
      name = "bench-${storeMode}-${nonce}";
      inherit storeMode;
      args = args root;
    };

  # What nixpkgs' ociTools.buildContainer does, with the host's tools (run it
  # with the sandbox off): closureInfo-like store-paths, then
  # `xargs tar c < store-paths | tar -xC $out/rootfs`.
  nixpkgsStyle =
    { root, nonce }:
    let
      storePaths = derivation {
        name = "bench-closure-info-${nonce}";
        inherit system;
        builder = "/bin/bash";
        PATH = "/usr/bin:/bin";
        exportReferencesGraph = [
          "closure1"
          bb
          "closure2"
          root
        ];
        args = [
          "-c"
          ''
            set -e
            cat closure1 closure2 | while read -r p; do
              read -r deriver; read -r n
              for ((i = 0; i < n; i++)); do read -r ref; done
              echo "$p"
            done | sort -u > $out
          ''
        ];
      };
    in
    derivation {
      name = "bench-nixpkgs-${nonce}";
      inherit system;
      builder = "/bin/bash";
      PATH = "/usr/bin:/bin";
      config = builtins.toJSON {
        ociVersion = "1.0.0";
        process.args = args root;
        root.path = "rootfs";
      };
      args = [
        "-c"
        ''
          set -o pipefail
          mkdir -p $out/rootfs/{dev,proc,sys}
          printf '%s' "$config" > $out/config.json
          xargs tar c < ${storePaths} | tar -xC $out/rootfs/
        ''
      ];
    };

  # The incremental image (issue 14): a closure (bigRoot's or shapeRoot's)
  # as a declared layer derivation, and a small application, app appNonce,
  # that refers to it; nonce makes every derivation new, appNonce only the
  # application.
  app =
    {
      root ? bigRoot,
      appNonce,
    }:
    derivation {
      name = "bench-app";
      inherit system;
      builder = "${bb}/bin/sh";
      args = [
        "-c"
        ''
          ${bb}/bin/busybox mkdir -p $out/bin
          printf '#!${bb}/bin/sh\necho app ${appNonce} on ${root}\n' > $out/bin/app
          ${bb}/bin/busybox chmod 555 $out/bin/app
        ''
      ];
    };
  depsLayer =
    {
      root ? bigRoot,
      nonce,
    }:
    ociTools.buildLayer {
      name = "bench-deps-${nonce}";
      deps = [
        root
        bb
      ];
      compression = "zstd";
      # The image's 100 less its own layer derivation's and the /etc layer.
      maxLayers = 98;
    };
  incrementalImage =
    {
      root ? bigRoot,
      nonce,
      appNonce,
    }:
    ociTools.buildImage {
      name = "bench-incremental-${nonce}";
      args = [ "${app { inherit root appNonce; }}/bin/app" ];
      compression = "zstd";
      layers = [ (depsLayer { inherit root nonce; }) ];
    };

  # The nixpkgs-style baseline: one derivation doing `tar | zstd` of the
  # whole closure (host tools; run with the sandbox off).
  tarZstd =
    { nonce, appNonce }:
    derivation {
      name = "bench-tar-zstd-${nonce}";
      inherit system;
      builder = "/bin/bash";
      PATH = "/usr/bin:/bin";
      exportReferencesGraph = [
        "closure"
        (app { inherit appNonce; })
      ];
      args = [
        "-c"
        ''
          set -eo pipefail
          mkdir $out
          while read -r p; do
            read -r deriver; read -r n
            for ((i = 0; i < n; i++)); do read -r ref; done
            echo "$p"
          done < closure | sort -u > paths
          tar -c -T paths | zstd -q -3 -T0 > $out/layer.tar.zst
        ''
      ];
    };
}
