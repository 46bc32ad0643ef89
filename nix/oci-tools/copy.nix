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
in
{
  inherit copier;
}
