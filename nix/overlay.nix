# A nixpkgs overlay adding oci-builder and extending ociTools with the
# oci-builder one, so that pkgs.ociTools.buildContainer builds with it:
#
#   import <nixpkgs> { overlays = [ (import ./nix/overlay.nix) ]; }
#
# ociTools keeps whatever nixpkgs' has besides the functions of
# oci-tools.nix, which replace those of the same name. Its builder comes from buildPackages, the package set of the
# build platform, where the derivations are built: with pkgsCross.X (or
# crossSystem), containers and images are for X, built by an oci-builder
# that runs on the build machine.
#
# The flake's overlays.default is this file.
final: prev: {
  oci-builder = final.callPackage ./package.nix { };
  ociTools =
    (prev.ociTools or { })
    // final.callPackage ./oci-tools.nix { oci-builder = final.buildPackages.oci-builder; };
}
