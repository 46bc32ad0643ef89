# The demo container: a busybox script that greets and looks around.
#
#   nix-build examples/demo.nix --arg oci-builder DIR --arg busybox DIR
#
# where each DIR holds bin/oci-builder and bin/busybox (with bin/sh) as
# scripts/demo prepares them. No nixpkgs is needed.
{ oci-builder, busybox }:
let
  ociTools = import ../nix/oci-tools.nix {
    oci-builder = builtins.path {
      path = oci-builder;
      name = "oci-builder";
    };
  };
  bb = builtins.path {
    path = busybox;
    name = "busybox";
  };
  script = builtins.toFile "demo.sh" ''
    echo "Hello from a container built by oci-builder!"
    echo "I am $(${bb}/bin/busybox id), running on $(${bb}/bin/busybox uname -sm)"
    echo "My /nix/store holds exactly my closure:"
    ${bb}/bin/busybox ls /nix/store
  '';
in
ociTools.buildContainer {
  name = "oci-builder-demo";
  args = [
    "${bb}/bin/sh"
    script
  ];
  readonly = true;
}
