# The shared ground of the library: errors, the platform the derivations
# are built on and for, value descriptions and small list and string
# helpers, the derivation name and passthru.
scope:
let
  inherit (builtins)
    concatStringsSep
    foldl'
    isAttrs
    isPath
    isString
    split
    stringLength
    substring
    throw
    typeOf
    unsafeDiscardStringContext
    ;
  inherit (scope)
    checkType
    oci-builder
    stdenv
    ;

  fail = fn: msg: throw "ociTools.${fn}: ${msg}";

  # The system the derivations are built on, where oci-builder runs.
  system =
    if stdenv != null then
      stdenv.buildPlatform.system
    else
      oci-builder.system or builtins.currentSystem;

  # The architecture names oci-builder accepts: GOARCH values and Nix's CPU
  # names (pkg/bundle.Platform; tests/nixpkgs_test.go checks they agree).
  archNames = [
    "amd64"
    "x86_64"
    "arm64"
    "aarch64"
    "386"
    "i386"
    "i486"
    "i586"
    "i686"
    "arm"
    "armv5tel"
    "armv6l"
    "armv7l"
    "armv7a"
    "riscv64"
    "ppc64le"
    "powerpc64le"
    "ppc64"
    "powerpc64"
    "s390x"
    "mips64le"
    "mips64el"
    "loong64"
    "loongarch64"
  ];

  # nixpkgs' CPU names (stdenv.hostPlatform.parsed.cpu.name) as GOARCH
  # values, the names OCI images use, as nixpkgs' go.GOARCH (which
  # dockerTools uses for images); 32-bit ARM keeps its CPU name, which
  # oci-builder reads as arm and the variant (armv7l: arm, v7), lost in
  # GOARCH's "arm".
  goArchOfCpu = {
    aarch64 = "arm64";
    armv5tel = "armv5tel";
    armv6l = "armv6l";
    armv7a = "armv7a";
    armv7l = "armv7l";
    i686 = "386";
    loongarch64 = "loong64";
    mips64el = "mips64le";
    powerpc64 = "ppc64";
    powerpc64le = "ppc64le";
    riscv64 = "riscv64";
    s390x = "s390x";
    x86_64 = "amd64";
  };

  # Whether the derivations are built on macOS: there oci-builder builds
  # images, not bundles (its bundle side is Linux's).
  buildsOnDarwin = builtins.match ".*-darwin" system != null;

  # The default 'os': the host platform's kernel, "linux" without nixpkgs.
  # Images made on macOS are Linux images, as dockerTools' are: a darwin
  # host platform gives "linux".
  defaultOs =
    if stdenv != null && stdenv.hostPlatform.parsed.kernel.name != "darwin" then
      stdenv.hostPlatform.parsed.kernel.name
    else
      "linux";

  # The default 'arch': the host platform's CPU as a GOARCH value; without
  # nixpkgs, the CPU of the system ("x86_64" on x86_64-linux).
  defaultArch =
    fn:
    if stdenv == null then
      builtins.head (split "-" system)
    else
      let
        cpu = stdenv.hostPlatform.parsed.cpu.name;
      in
      if goArchOfCpu ? ${cpu} then
        goArchOfCpu.${cpu}
      else
        fail fn "the host platform's CPU \"${cpu}\" has no OCI architecture: set 'arch' to one of ${concatStringsSep ", " archNames}";

  describe =
    v:
    let
      words = {
        int = "an int";
        null = "null";
        set = "an attribute set";
        lambda = "a function";
      };
    in
    if isAttrs v && v ? outPath then "a derivation" else words.${typeOf v} or "a ${typeOf v}";

  isStringLike = v: isString v || isPath v || (isAttrs v && v ? outPath);

  # Strings, paths and derivations become strings (paths are copied to the store).
  toStr = v: if isString v then v else "${v}";

  # The name part of a store path ("<storeDir>/<hash>-<name>").
  nameOf =
    p:
    let
      base = baseNameOf p;
    in
    substring 33 (stringLength base) base;

  unique = foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];

  # The derivation's name: 'name', or the first store path's name and a suffix.
  derivationName =
    fn: name: roots: suffix:
    if name != null then
      let
        n = checkType fn "name" isString "a string" name;
      in
      if builtins.match "[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]*" n != null && stringLength n <= 200 then
        n
      else
        fail fn "'name' ${builtins.toJSON n} cannot name a store path: use letters, digits and + - . _ ? = (not starting with a dot), at most 200 characters"
    else if roots != [ ] then
      "${unsafeDiscardStringContext (builtins.head roots).name}-${suffix}"
    else
      suffix;

  # The derivation with attributes nixpkgs users reach for, at its top
  # level and under passthru, as mkDerivation's passthru: only evaluation
  # sees them, the derivation (builtins only, no stdenv) does not change.
  withPassthru = passthru: drv: drv // passthru // { inherit passthru; };
in
{
  inherit
    fail
    system
    buildsOnDarwin
    archNames
    defaultOs
    defaultArch
    describe
    isStringLike
    toStr
    nameOf
    unique
    derivationName
    withPassthru
    ;
}
