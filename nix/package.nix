# The oci-builder package: the static Go executable that nix/oci-tools.nix
# runs as the builder of every container derivation.
#
# callPackage-able from nixpkgs (nixpkgs 25.05 or later: env.CGO_ENABLED and
# buildGoModule (finalAttrs: ...)):
#
#   oci-builder = callPackage ./nix/package.nix { };
#
# vendorHash is the NAR hash of the `go mod vendor` directory of `src`;
# tests/flake_test.go recomputes it and says the new value when go.mod changes.
{
  lib,
  buildGoModule,
}:

buildGoModule (finalAttrs: {
  pname = "oci-builder";
  version = "0.1.0";

  # Only what `go build`, `go mod vendor` and `go test ./cmd/oci-builder` read, so that
  # documentation, Nix files and the end-to-end tests can change without
  # rebuilding the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../go.mod
      ../go.sum
      ../cmd
      ../internal
      ../pkg
      # Test helpers that the packages' tests import (go mod vendor needs
      # them); not the end-to-end tests.
      ../tests/imports
      ../tests/invariants
    ];
  };

  vendorHash = "sha256-TcmDQz8SgmdqEQLjRseY9TcT8F586my4W+pJ+YzEOZk=";

  subPackages = [ "cmd/oci-builder" ];

  # A static executable: it is the builder of derivations and runs with
  # nothing else from the store.
  env.CGO_ENABLED = 0;

  ldflags = [
    "-s"
    "-w"
    "-X main.version=${finalAttrs.version}"
  ];

  meta = {
    description = "Builds OCI runtime bundles (config.json + rootfs/) from Nix store closures";
    longDescription = ''
      oci-builder replaces nixpkgs' ociTools.buildContainer: a derivation
      whose builder is this one static executable copies the closure of the
      container's program into rootfs/ and writes a valid config.json.
    '';
    mainProgram = "oci-builder";
    platforms = lib.platforms.linux;
  };
})
