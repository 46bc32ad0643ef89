# The copiers of images: runnable `oci-builder copy IMAGE DEST`.
scope:
let
  inherit (scope)
    oci-builder
    system
    withPassthru
    ;

  # A runnable copier of an image, as nix2container's copyToRegistry: two
  # links, bin/oci-builder-copy to oci-builder and image to the image;
  # `result/bin/oci-builder-copy DEST` (or `nix run .#image.copyTo --
  # DEST`) is `oci-builder copy IMAGE DEST`. No shell: oci-builder knows
  # its copier name (cmd/oci-builder/copier.go).
  copier =
    image:
    withPassthru { meta.mainProgram = "oci-builder-copy"; } (derivation {
      name = "${image.name}-copy-to";
      inherit system;
      builder = "${oci-builder}/bin/oci-builder";
      args = [
        "nix-copier-builder"
        "${image}"
        "${oci-builder}/bin/oci-builder"
      ];
    });

  # The copiers of an image named nameTag ("NAME:TAG"), as nix2container
  # names them: copyTo (DEST given on the command line), copyToRegistry
  # (docker://NAME:TAG), copyToDockerDaemon (docker-daemon:NAME:TAG, the
  # daemon of $DOCKER_HOST) and copyToPodman (podman's Docker API). One
  # derivation of links; each attribute runs its own program (nix run).
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
  inherit copier copiers;
}
