# A nixpkgs overlay adding oci-builder and replacing ociTools with the
# oci-builder one, so that pkgs.ociTools.buildContainer builds with it.
#
#   import <nixpkgs> { overlays = [ (import ./nix/overlay.nix) ]; }
#
# The flake's overlays.default is this file.
final: prev: {
  oci-builder = final.callPackage ./package.nix { };
  ociTools = final.callPackage ./oci-tools.nix { };
}
