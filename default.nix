# For users without flakes: oci-builder built with your nixpkgs.
#
#   let
#     pkgs = import <nixpkgs> { };
#     inherit (import ./path/to/oci-builder { inherit pkgs; }) ociTools;
#   in
#   ociTools.buildContainer { args = [ "${pkgs.hello}/bin/hello" ]; }
#
#   nix-build -A oci-builder     # the command
#   nix-build -A example         # the example container (pkgs.hello; Linux only)
#   nix-build -A example-image   # the example image (Linux and macOS)
#
# overlay is nix/overlay.nix, for import <nixpkgs> { overlays = [ ... ]; }.
{
  pkgs ? import <nixpkgs> { },
}:
let
  oci-builder = pkgs.callPackage ./nix/package.nix { };
  # The builder runs where the derivations are built: the build platform's
  # oci-builder, which is oci-builder itself unless pkgs is a cross package
  # set (pkgsCross.X: containers and images for X).
  ociTools = pkgs.callPackage ./nix/oci-tools.nix {
    oci-builder = pkgs.buildPackages.callPackage ./nix/package.nix { };
  };
in
{
  inherit oci-builder ociTools;
  example = pkgs.callPackage ./examples/hello.nix { inherit ociTools; };
  example-image = pkgs.callPackage ./examples/hello-image.nix { inherit ociTools; };
  overlay = import ./nix/overlay.nix;
}
