{
  description = "oci-builder: OCI runtime bundles from Nix closures, a drop-in ociTools.buildContainer";

  # No flake.lock is committed: see "Flake" in docs/nix-api.md.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];

      # nixpkgs with our overlay: pkgs.oci-builder and pkgs.ociTools are ours.
      forAllSystems =
        f:
        nixpkgs.lib.genAttrs systems (
          system:
          f system (
            import nixpkgs {
              inherit system;
              overlays = [ self.overlays.default ];
            }
          )
        );

      # A check that passes when `oci-builder validate` finds the bundle
      # valid; its output is the report. No shell: the builder is oci-builder.
      validated =
        pkgs: name: bundle:
        derivation {
          name = "${name}-validated";
          inherit (pkgs.oci-builder) system;
          builder = "${pkgs.oci-builder}/bin/oci-builder";
          args = [
            "validate"
            "--report"
            (builtins.placeholder "out")
            bundle
          ];
        };
    in
    {
      overlays.default = import ./nix/overlay.nix;

      lib = {
        # ociTools built with your own pkgs, without the overlay:
        #   (oci-builder.lib.ociToolsFor pkgs).buildContainer { ... }
        ociToolsFor = pkgs: (import ./default.nix { inherit pkgs; }).ociTools;
      };

      packages = forAllSystems (
        system: pkgs: {
          inherit (pkgs) oci-builder;
          example = pkgs.callPackage ./examples/hello.nix { };
          default = pkgs.oci-builder;
        }
      );

      checks = forAllSystems (
        system: pkgs: {
          inherit (pkgs) oci-builder;
          # `oci-builder version` prints the package's version.
          oci-builder-version = pkgs.oci-builder.tests.version;
          example = validated pkgs "example" self.packages.${system}.example;
          # lib.ociToolsFor with nixpkgs as it comes, no overlay.
          lib-example = validated pkgs "lib-example" (
            nixpkgs.legacyPackages.${system}.callPackage ./examples/hello.nix {
              ociTools = self.lib.ociToolsFor nixpkgs.legacyPackages.${system};
            }
          );
        }
      );
    };
}
