# ociTools backed by oci-builder.
#
# Takes nixpkgs' ociTools.buildContainer arguments (and more) and returns a
# derivation whose builder is the static oci-builder executable; its output
# is an OCI runtime bundle (config.json + rootfs/) for `runc run -b`.
# buildImage takes the same command line, the container options an image can
# carry and image settings, and makes an OCI image layout of the same
# closure, for registries, podman and Kubernetes.
#
# Only builtins are used, so this works from nixpkgs and with no nixpkgs at
# all:
#
#   (import ./nix/oci-tools.nix { oci-builder = ./dir/with/bin; }).buildContainer { ... }
#
# where oci-builder is a package or a directory containing bin/oci-builder.
# From nixpkgs, callPackage also supplies stdenv, read at evaluation only:
# the derivations are built on its build platform, by an oci-builder that
# runs there (the overlay passes buildPackages.oci-builder), and 'os' and
# 'arch' default to its host platform's, so that pkgsCross.X.ociTools makes
# containers and images for X. Without stdenv, they default to the system
# of oci-builder (or this machine's).
{
  oci-builder,
  stdenv ? null,
  # nixpkgs' fakeroot and proot (callPackage passes them): what runs the
  # shell arguments of dockerTools' functions (nix/oci-tools/shell.nix).
  fakeroot ? null,
  proot ? null,
  # nixpkgs' bash, CA bundle and coreutils: what streamNixShellImage puts
  # in its images (nix/oci-tools/nixshell.nix).
  bashInteractive ? null,
  cacert ? null,
  coreutils ? null,
  ...
}:
let
  # The library's function families, one file each under oci-tools/. Each
  # file is a function of the whole scope (every family's attributes, and
  # the arguments above) returning its own attributes: a fixed point, so a
  # family uses another's names with `inherit (scope) ...`.
  families = [
    ./oci-tools/base.nix
    ./oci-tools/roots.nix
    ./oci-tools/checks.nix
    ./oci-tools/graphs.nix
    ./oci-tools/container.nix
    ./oci-tools/image.nix
    ./oci-tools/layers.nix
    ./oci-tools/copy.nix
    ./oci-tools/pipeline.nix
    ./oci-tools/docker.nix
    ./oci-tools/shell.nix
    ./oci-tools/nixshell.nix
    ./oci-tools/sbom.nix
    ./oci-tools/outside.nix
  ];
  scope = builtins.foldl' (acc: f: acc // import f scope) {
    inherit
      oci-builder
      stdenv
      fakeroot
      proot
      bashInteractive
      cacert
      coreutils
      ;
  } families;
in
{
  inherit (scope)
    buildContainer
    buildImage
    buildLayeredImage
    streamLayeredImage
    buildImageWithNixDb
    buildLayeredImageWithNixDb
    mergeImages
    streamNixShellImage
    buildNixShellImage
    buildLayer
    pullImage
    buildImageIndex
    exportImage
    ;

  # Internal, not an API: the option names tests/options_test.go compares
  # with Go's options and the docs. The names of the checkers of container
  # options, and of the options buildImage refuses.
  _containerOptionNames = builtins.attrNames scope.containerOptions;
  _imageRefusedOptionNames = builtins.attrNames scope.runtimeOnly;
  # buildImage's arguments of dockerTools' style (docs/migration.md).
  _imageDockerStyleNames = scope.dockerStyle;
}
