# The flake's example: GNU hello in a container.
#
#   nix build .#example && runc run --bundle result hello
#   nix-build -A example                  # without flakes, see default.nix
{ ociTools, hello }:
ociTools.buildContainer { args = [ "${hello}/bin/hello" ]; }
