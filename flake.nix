{
  description = "oci-builder: OCI runtime bundles from Nix closures, a drop-in ociTools.buildContainer";

  # No flake.lock is committed: see "Flake" in docs/nix-api.md.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      # Bundles are built on Linux; images on Linux and macOS.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];

      # attrs on systems that build bundles (Linux), nothing elsewhere.
      onLinux = pkgs: attrs: if pkgs.stdenv.buildPlatform.isLinux then attrs else { };

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
        system: pkgs:
        {
          inherit (pkgs) oci-builder;
          example-image = pkgs.callPackage ./examples/hello-image.nix { };
          default = pkgs.oci-builder;
        }
        // onLinux pkgs {
          example = pkgs.callPackage ./examples/hello.nix { };
        }
      );

      checks = forAllSystems (
        system: pkgs:
        {
          inherit (pkgs) oci-builder;
          # `oci-builder version` prints the package's version.
          oci-builder-version = pkgs.oci-builder.tests.version;
          # GNU hello's image builds (its layers verified against the NAR hashes).
          example-image = self.packages.${system}.example-image;
        }
        // onLinux pkgs {
          example = validated pkgs "example" self.packages.${system}.example;
          # lib.ociToolsFor with nixpkgs as it comes, no overlay.
          lib-example = validated pkgs "lib-example" (
            nixpkgs.legacyPackages.${system}.callPackage ./examples/hello.nix {
              ociTools = self.lib.ociToolsFor nixpkgs.legacyPackages.${system};
            }
          );
        }
      );

      # `nix fmt`: nixfmt (the RFC 166 style nixpkgs uses) through treefmt,
      # which formats the whole repository when given no file, as `nix fmt`
      # calls it from Nix 2.25 on (plain nixfmt would read standard input).
      formatter = forAllSystems (system: pkgs: pkgs.nixfmt-tree);

      # `nix develop`: Go and its tools, and the commands the tests use, each
      # where nixpkgs has it for the system (runc, containerd, umoci,
      # busybox... are Linux's). The end-to-end tests also need root, Nix,
      # and a static busybox at /bin/busybox (docs/development.md).
      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            packages = builtins.filter (pkgs.lib.meta.availableOn pkgs.stdenv.buildPlatform) [
              pkgs.go
              pkgs.gopls
              pkgs.go-tools # staticcheck
              pkgs.nixfmt-tree
              pkgs.runc
              pkgs.skopeo
              pkgs.umoci
              pkgs.podman
              pkgs.buildah
              pkgs.zstd
              pkgs.pigz
              pkgs.distribution
              # The tests call the registry by Debian's name.
              (pkgs.writeShellScriptBin "docker-registry" ''
                exec ${pkgs.lib.getExe pkgs.distribution} "$@"
              '')
              pkgs.busybox
              pkgs.fakeroot
              pkgs.proot
              pkgs.containerd
              pkgs.docker
              pkgs.xfsprogs
            ];
          };
        }
      );
    };
}
