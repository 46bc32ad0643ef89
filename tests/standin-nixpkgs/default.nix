# A stand-in for nixpkgs, for the offline tests of the project's flake,
# default.nix and overlay (tests/flake_test.go): `import nixpkgs { system;
# overlays; }` gives a package set with just what those files use.
#
# The test copies this directory and adds what it needs at run time:
#
#   busybox/bin/busybox, busybox/bin/sh   static busybox, the builder of hello
#   prebuilt/SYSTEM/bin/*                  the Go programs the test compiled
#   prebuilt/SYSTEM/tests/*.test           and their tests (go test -c)
#   prebuilt/SYSTEM/build.json             the arguments it compiled them with
#   nonce                                  makes hello, so every container, new
#   broken-hello                           if present, hello's script names a
#                                          shell outside its closure
#
# The derivations of systems other than the machine's are only evaluated
# (nix flake check builds the current system's checks only): their hello
# would run the machine's busybox, so it builds nowhere else.
{
  system,
  overlays ? [ ],
  config ? { },
}:
let
  lib = import ./lib.nix;

  cpus = {
    x86_64-linux = "x86_64";
    aarch64-linux = "aarch64";
  };

  cpu = cpus.${system} or (throw "stand-in nixpkgs: unsupported system ${system}");

  busybox =
    if builtins.pathExists ./busybox/bin/busybox then
      builtins.path {
        path = ./busybox;
        name = "busybox";
      }
    else
      throw "stand-in nixpkgs: the test puts a static busybox in busybox/bin";

  nonce = if builtins.pathExists ./nonce then builtins.readFile ./nonce else "";

  # The package set before overlays; final is the set after them.
  base = final: {
    inherit lib system busybox;

    # As nixpkgs' callPackage: the function's named arguments are taken from
    # the package set, then from args (without the override attributes).
    callPackage =
      fn: args:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) final // args);

    stdenv.hostPlatform = {
      inherit system;
      parsed.cpu.name = cpu;
      parsed.kernel.name = "linux";
    };

    # Prints what GNU hello prints.
    hello = derivation {
      name = "hello-standin";
      inherit system nonce;
      builder = "${busybox}/bin/sh";
      shell = if builtins.pathExists ./broken-hello then "/bin/sh" else "${busybox}/bin/sh";
      args = [
        "-c"
        ''
          ${busybox}/bin/busybox mkdir -p $out/bin
          printf '#!%s\necho "Hello, world!"\n' "$shell" > $out/bin/hello
          ${busybox}/bin/busybox chmod 555 $out/bin/hello
        ''
      ];
    };

    buildGoModule = import ./build-go-module.nix { inherit lib system busybox; };
  };

  # lib.extends: an overlay applied on top of a package set function.
  extends =
    overlay: f: final:
    let
      prev = f final;
    in
    prev // overlay final prev;
in
if config != { } then
  throw "stand-in nixpkgs: config is not supported"
else
  lib.fix (lib.foldl' (f: overlay: extends overlay f) base overlays)
