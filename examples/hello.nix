# The flake's example: GNU hello in a container.
#
#   nix build .#example && runc run --bundle result hello
#   nix-build -A example                  # without flakes, see default.nix
{
  ociTools,
  hello,
  stdenv,
}:
ociTools.buildContainer {
  args = [ "${hello}/bin/hello" ];
  # nixpkgs' default is x86_64 whatever the system; the bundle is for this one.
  arch = stdenv.hostPlatform.parsed.cpu.name;
}
