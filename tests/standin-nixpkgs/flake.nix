# The stand-in nixpkgs as a flake: tests/flake_test.go passes a copy of this
# directory to the project's flake with --override-input nixpkgs path:DIR.
{
  description = "Stand-in nixpkgs for the offline tests of oci-builder's flake";

  outputs =
    { self }:
    let
      lib = import ./lib.nix;
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs (lib.platforms.linux ++ lib.platforms.darwin) (
        system: import ./. { inherit system; }
      );
    };
}
