# The pieces of nixpkgs' lib that flake.nix and nix/*.nix use, with the
# same meaning (and error on a missing file, as lib.fileset does).
let
  inherit (builtins) any listToAttrs map pathExists substring stringLength toString;

  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
in
rec {
  fix =
    f:
    let
      x = f x;
    in
    x;

  inherit (builtins) foldl';

  optionalString = cond: s: if cond then s else "";

  # The program of a package, as meta.mainProgram names it.
  getExe = pkg: "${pkg}/bin/${pkg.meta.mainProgram or pkg.pname or pkg.name}";

  # Whether a package is for platform, by its meta.platforms (a list of
  # systems here) and meta.badPlatforms.
  meta.availableOn =
    platform: pkg:
    (!(pkg ? meta.platforms) || builtins.elem platform.system pkg.meta.platforms)
    && !(builtins.elem platform.system (pkg.meta.badPlatforms or [ ]));
  optionalAttrs = cond: attrs: if cond then attrs else { };

  genAttrs =
    names: f:
    listToAttrs (
      map (name: {
        inherit name;
        value = f name;
      }) names
    );

  licenses.mit = {
    spdxId = "MIT";
    shortName = "mit";
    fullName = "MIT License";
    url = "https://spdx.org/licenses/MIT.html";
    free = true;
    redistributable = true;
  };

  # The systems the stand-in knows (nixpkgs' lists hold more).
  platforms.linux = [
    "x86_64-linux"
    "aarch64-linux"
  ];
  platforms.darwin = [
    "x86_64-darwin"
    "aarch64-darwin"
  ];

  # A file set is the list of the paths it holds, whole directories included.
  fileset = {
    unions =
      paths:
      map (
        p:
        if pathExists p then
          toString p
        else
          throw "lib.fileset.unions: element ${toString p} is a path that does not exist"
      ) paths;

    # The files of the set, under root, as a store path named "source" (the
    # name lib.fileset gives), with the directories leading to them.
    toSource =
      { root, fileset }:
      let
        rootStr = toString root;
        inSet =
          path: type:
          any (
            f: path == f || hasPrefix "${f}/" path || (type == "directory" && hasPrefix "${path}/" f)
          ) fileset;
      in
      if any (f: !(f == rootStr || hasPrefix "${rootStr}/" f)) fileset then
        throw "lib.fileset.toSource: the file set has paths outside root ${rootStr}"
      else
        builtins.path {
          name = "source";
          path = root;
          filter = inSet;
        };
  };
}
