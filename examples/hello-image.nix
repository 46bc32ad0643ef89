# The flake's example image: GNU hello in an OCI image, built on Linux and
# macOS alike.
#
#   nix build .#example-image && skopeo copy oci:result:latest docker-daemon:hello:latest
{ ociTools, hello }:
ociTools.buildImage { args = [ "${hello}/bin/hello" ]; }
