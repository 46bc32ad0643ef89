# The copiers of images: runnable `oci-builder copy IMAGE DEST`.
scope:
let
  inherit (scope)
    oci-builder
    system
    withPassthru
    ;

  # The runnable copiers of an image named nameTag ("NAME:TAG"), as
  # nix2container names them: copyTo (DEST given on the command line,
  # `result/bin/oci-builder-copy DEST` or `nix run .#image.copyTo --
  # DEST`, which is `oci-builder copy IMAGE DEST`), copyToRegistry
  # (docker://NAME:TAG), copyToDockerDaemon (docker-daemon:NAME:TAG, the
  # daemon of $DOCKER_HOST) and copyToPodman (podman's Docker API). One
  # derivation of links to oci-builder, which knows its copier names
  # (cmd/oci-builder/copier.go): no shell; each attribute runs its own
  # program (meta.mainProgram, for nix run).
  copiers =
    image: nameTag:
    let
      drv = derivation {
        name = "${image.name}-copy-to";
        inherit system;
        builder = "${oci-builder}/bin/oci-builder";
        args = [
          "nix-copier-builder"
          "${image}"
          "${oci-builder}/bin/oci-builder"
          nameTag
        ];
      };
      running = program: withPassthru { meta.mainProgram = program; } drv;
    in
    {
      copyTo = running "oci-builder-copy";
      copyToRegistry = running "copy-to-registry";
      copyToDockerDaemon = running "copy-to-docker-daemon";
      copyToPodman = running "copy-to-podman";
    };
in
{
  inherit copiers;
}
