# For users without flakes: oci-builder built with your nixpkgs.
#
#   let
#     pkgs = import <nixpkgs> { };
#     inherit (import ./path/to/oci-builder { inherit pkgs; }) ociTools;
#   in
#   ociTools.buildContainer { args = [ "${pkgs.hello}/bin/hello" ]; }
#
#   nix-build -A oci-builder     # the command
#   nix-build -A example         # the example container (pkgs.hello)
#
# overlay is nix/overlay.nix, for import <nixpkgs> { overlays = [ ... ]; }.
{
  pkgs ? import <nixpkgs> { },
}:
let
  oci-builder = pkgs.callPackage ./nix/package.nix { };
  ociTools = pkgs.callPackage ./nix/oci-tools.nix { inherit oci-builder; };
in
{
  inherit oci-builder ociTools;
  example = pkgs.callPackage ./examples/hello.nix { inherit ociTools; };
  overlay = import ./nix/overlay.nix;
}
