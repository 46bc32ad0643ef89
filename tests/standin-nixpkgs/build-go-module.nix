# A stand-in for nixpkgs' buildGoModule. It checks the arguments as
# buildGoModule would use them, computes the environment buildGoModule gives
# `go install` (GOFLAGS, ldflags, CGO_ENABLED, GOOS, GOARCH), and packages
# the programs the test compiled with exactly that environment from the
# same src (prebuilt/SYSTEM/bin, see default.nix): build.json there must
# match, or evaluation fails. Like buildGoModule's checkPhase, the build runs
# the tests of subPackages (prebuilt/SYSTEM/tests/NAME.test, compiled as
# `go test` compiles them there) as the build user.
#
# Any argument it does not implement is an error, so that a change to
# nix/package.nix cannot go unnoticed by the tests.
{
  lib,
  system,
  busybox,
}:
fnOrAttrs:
let
  inherit (builtins) all attrNames concatStringsSep filter isList isString match pathExists toJSON;

  args = if builtins.isFunction fnOrAttrs then lib.fix fnOrAttrs else fnOrAttrs;

  fail = msg: throw "stand-in buildGoModule: ${msg}";

  known = [
    "pname"
    "version"
    "src"
    "vendorHash"
    "subPackages"
    "env"
    "ldflags"
    "meta"
  ];
  unknown = filter (k: !(builtins.elem k known)) (attrNames args);

  goarchs = {
    x86_64-linux = "amd64";
    aarch64-linux = "arm64";
  };

  # vendorHash: what buildGoModule's goModules derivation takes as outputHash.
  vendorHashOk = isString (args.vendorHash or null) && match "sha256-[A-Za-z0-9+/]{43}=" args.vendorHash != null;

  envOk = all (k: k == "CGO_ENABLED") (attrNames (args.env or { }));
  cgo = toString (args.env.CGO_ENABLED or 1);

  subPackagesOk =
    isList (args.subPackages or null)
    && args.subPackages != [ ]
    && all (
      p: isString p && match "\\./.*|/.*|.*\\.\\..*" p == null && pathExists "${args.src}/${p}"
    ) args.subPackages;

  # The environment of buildGoModule's build phase.
  buildEnv = {
    src = "${args.src}";
    GOFLAGS = [
      "-mod=vendor"
      "-trimpath"
    ];
    ldflags = (args.ldflags or [ ]) ++ [ "-buildid=" ];
    CGO_ENABLED = cgo;
    GOOS = "linux";
    GOARCH = goarchs.${system};
    inherit (args) subPackages;
  };

  prebuilt = ./prebuilt + "/${system}";
  recorded = builtins.fromJSON (builtins.readFile (prebuilt + "/build.json"));
  prebuiltChecked =
    if !(pathExists (prebuilt + "/build.json")) then
      fail "the test did not compile the programs for ${system} (prebuilt/${system}/build.json is missing)"
    else if recorded != buildEnv then
      fail "prebuilt/${system} was compiled with ${toJSON recorded}, the package asks for ${toJSON buildEnv}"
    else
      builtins.path {
        path = prebuilt;
        name = "${args.pname}-${args.version}-prebuilt";
      };
in
if unknown != [ ] then
  fail "argument ${builtins.head unknown} is not implemented (known: ${concatStringsSep ", " known})"
else if !(isString (args.pname or null) && isString (args.version or null)) then
  fail "pname and version must be strings"
else if !(args ? src && pathExists "${args.src}/go.mod" && pathExists "${args.src}/go.sum") then
  fail "src must be a directory with go.mod and go.sum"
else if !vendorHashOk then
  fail "vendorHash must be an SRI SHA-256 hash (sha256-<44 base64 characters>), got ${toJSON (args.vendorHash or null)}"
else if !envOk then
  fail "env may only set CGO_ENABLED here, got ${toJSON (attrNames args.env)}"
else if cgo != "0" then
  fail "env.CGO_ENABLED must be 0: a builder has nothing from the store at run time, so it must be static"
else if !subPackagesOk then
  fail "subPackages must be a non-empty list of directories of src, relative and without ./, got ${toJSON (args.subPackages or null)}"
else if !(isList (args.ldflags or [ ]) && all isString (args.ldflags or [ ])) then
  fail "ldflags must be a list of strings"
else
  derivation (
    buildEnv
    // {
      name = "${args.pname}-${args.version}";
      inherit system;
      inherit (args) pname version vendorHash;
      prebuilt = prebuiltChecked;
      builder = "${busybox}/bin/sh";
      args = [
        "-c"
        ''
          set -e
          ${busybox}/bin/busybox mkdir -p $out/bin
          for p in $subPackages; do
            ${busybox}/bin/busybox cp $prebuilt/bin/''${p##*/} $out/bin/
          done
          # checkPhase: the tests of subPackages, in their directory, as the
          # build user, in the sandbox when there is one.
          for p in $subPackages; do
            (cd $src/$p && $prebuilt/tests/''${p##*/}.test -test.timeout=10m)
          done
        ''
      ];
    }
  )
  // {
    meta = args.meta or { };
  }
