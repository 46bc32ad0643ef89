# A stand-in for nixpkgs' buildGoModule. It checks the arguments as
# buildGoModule would use them, computes the environment buildGoModule gives
# `go install` (GOFLAGS, ldflags, CGO_ENABLED, GOOS, GOARCH), and packages
# the programs the test compiled with exactly that environment from the
# same src (prebuilt/SYSTEM/bin, see default.nix): build.json there must
# match, or evaluation fails.
#
# As in nixpkgs, the derivation builds on stdenv's build platform, for its
# host platform (GOARCH); buildGoModule's configure phase adds
# -buildmode=pie to GOFLAGS when the pie hardening flag is on, which it is
# here by default (stdenv.defaultHardeningFlags) unless hardeningDisable
# names it; the check phase runs the tests of subPackages
# (prebuilt/SYSTEM/tests/NAME.test, compiled as `go test` compiles them
# there) as the build user, and the install check phase runs
# installCheckPhase with busybox's commands, both only when the build
# platform can run the host platform's programs (not when cross-compiling).
#
# Any argument it does not implement is an error, so that a change to
# nix/package.nix cannot go unnoticed by the tests.
{
  lib,
  stdenv,
  busybox,
}:
fnOrAttrs:
let
  inherit (builtins)
    all
    attrNames
    concatStringsSep
    elem
    filter
    isList
    isString
    match
    pathExists
    toJSON
    ;

  # As mkDerivation (finalAttrs: ...): the attributes, with finalPackage.
  args =
    if builtins.isFunction fnOrAttrs then
      lib.fix (finalAttrs: fnOrAttrs finalAttrs // { finalPackage = package; })
    else
      fnOrAttrs;
  given = removeAttrs args [ "finalPackage" ];

  fail = msg: throw "stand-in buildGoModule: ${msg}";

  known = [
    "pname"
    "version"
    "src"
    "vendorHash"
    "subPackages"
    "env"
    "ldflags"
    "hardeningDisable"
    "doCheck"
    "doInstallCheck"
    "installCheckPhase"
    "passthru"
    "meta"
  ];
  unknown = filter (k: !(elem k known)) (attrNames given);

  # nixpkgs' go.GOARCH and go.GOOS of a platform.
  goarchs = {
    x86_64 = "amd64";
    aarch64 = "arm64";
  };

  inherit (stdenv) hostPlatform buildPlatform;

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

  hardeningDisable = args.hardeningDisable or [ ];
  hardeningOk = isList hardeningDisable && all (f: elem f stdenv.defaultHardeningFlags) hardeningDisable;
  # mkDerivation's NIX_HARDENING_ENABLE.
  hardening = filter (f: !(elem f hardeningDisable)) stdenv.defaultHardeningFlags;

  canExecute = buildPlatform.canExecute hostPlatform;
  doCheck = (args.doCheck or true) && canExecute;
  doInstallCheck = (args.doInstallCheck or false) && canExecute;

  # The environment of buildGoModule's build phase, after its configure
  # phase: `if [[ $NIX_HARDENING_ENABLE =~ "pie" ]]; then export
  # GOFLAGS="-buildmode=pie $GOFLAGS"; fi`.
  buildEnv = {
    src = "${args.src}";
    GOFLAGS =
      (if elem "pie" hardening then [ "-buildmode=pie" ] else [ ])
      ++ [
        "-mod=vendor"
        "-trimpath"
      ];
    ldflags = (args.ldflags or [ ]) ++ [ "-buildid=" ];
    CGO_ENABLED = cgo;
    GOOS = hostPlatform.parsed.kernel.name;
    GOARCH = goarchs.${hostPlatform.parsed.cpu.name};
    inherit (args) subPackages;
  };

  prebuilt = ./prebuilt + "/${hostPlatform.system}";
  recorded = builtins.fromJSON (builtins.readFile (prebuilt + "/build.json"));
  prebuiltChecked =
    if !(pathExists (prebuilt + "/build.json")) then
      fail "the test did not compile the programs for ${hostPlatform.system} (prebuilt/${hostPlatform.system}/build.json is missing)"
    else if recorded != buildEnv then
      fail "prebuilt/${hostPlatform.system} was compiled with ${toJSON recorded}, the package asks for ${toJSON buildEnv}"
    else
      builtins.path {
        path = prebuilt;
        name = "${args.pname}-${args.version}-prebuilt";
      };

  passthru = args.passthru or { };

  package =
    derivation (
      buildEnv
      // {
        name = "${args.pname}-${args.version}";
        system = buildPlatform.system;
        inherit (args) pname version vendorHash;
        NIX_HARDENING_ENABLE = concatStringsSep " " hardening;
        doCheck = if doCheck then "1" else "";
        doInstallCheck = if doInstallCheck then "1" else "";
        installCheckPhase = args.installCheckPhase or "";
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
            # checkPhase: the tests of subPackages, in their directory, as
            # the build user, in the sandbox when there is one.
            if [ -n "$doCheck" ]; then
              for p in $subPackages; do
                (cd $src/$p && $prebuilt/tests/''${p##*/}.test -test.timeout=10m)
              done
            fi
            # installCheckPhase, with busybox's commands on PATH.
            if [ -n "$doInstallCheck" ]; then
              ${busybox}/bin/busybox mkdir $NIX_BUILD_TOP/bin
              ${busybox}/bin/busybox --install -s $NIX_BUILD_TOP/bin
              (
                PATH=$NIX_BUILD_TOP/bin
                runHook() { :; }
                eval "$installCheckPhase"
              )
            fi
          ''
        ];
      }
    )
    // {
      meta = args.meta or { };
      inherit passthru;
    }
    // passthru;
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
else if !hardeningOk then
  fail "hardeningDisable must be a list of the hardening flags of stdenv (${concatStringsSep ", " stdenv.defaultHardeningFlags}), got ${toJSON hardeningDisable}"
else
  package
