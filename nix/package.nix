# The oci-builder package: the Go executable that nix/oci-tools.nix runs as
# the builder of every container and image derivation. Static on Linux; on
# macOS, where it builds images, it links libSystem, as every macOS
# executable does.
#
# callPackage-able from nixpkgs (nixpkgs 25.11 or later: Go 1.25 for
# go-containerregistry, env.CGO_ENABLED and
# buildGoModule (finalAttrs: ...)):
#
#   oci-builder = callPackage ./nix/package.nix { };
#
# vendorHash is the NAR hash of the `go mod vendor` directory of `src`;
# tests/flake_test.go recomputes it and says the new value when go.mod changes.
{
  lib,
  stdenv,
  buildGoModule,
  callPackage,
  testers,
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
      ../tests/treestate
    ];
  };

  vendorHash = "sha256-YC2TdV3Q0xgOe0fHRkJEwODQbpDWDhD6QJTUyYFIPFo=";

  subPackages = [ "cmd/oci-builder" ];

  # A static executable: it is the builder of derivations and runs with
  # nothing else from the store.
  env.CGO_ENABLED = 0;
  # buildGoModule adds -buildmode=pie to GOFLAGS when the pie hardening flag
  # is on (pkgsMusl, and any platform that turns it on by default): with
  # CGO_ENABLED=0 that links an executable with an ELF interpreter, which
  # finds no dynamic loader in a build sandbox.
  hardeningDisable = [ "pie" ];

  ldflags = [
    "-s"
    "-w"
    "-X main.version=${finalAttrs.version}"
  ];

  # The builder's guarantees, checked on what was installed: on Linux, no
  # ELF interpreter (PT_INTERP, read from the program headers with od, for
  # 32- and 64-bit ELF in the machine's byte order: install checks only run
  # where the program runs); on macOS every executable links libSystem
  # (Go's too, CGO_ENABLED=0 or not), which the darwin sandbox provides.
  # Everywhere, it works with an empty environment, as Nix runs builders
  # with almost none.
  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    bin=$out/bin/oci-builder
  ''
  + lib.optionalString stdenv.hostPlatform.isLinux ''
    field() { od -An -j "$1" -N "$2" -t "u$2" "$bin" | tr -d ' \n'; }
    if [ "$(head -c 4 "$bin" | tail -c 3)" != ELF ]; then
      echo "$bin is not an ELF executable" >&2
      exit 1
    fi
    case $(field 4 1) in
    1) phoff=$(field 28 4) phentsize=$(field 42 2) phnum=$(field 44 2) ;;
    2) phoff=$(field 32 8) phentsize=$(field 54 2) phnum=$(field 56 2) ;;
    *)
      echo "$bin: unknown ELF class" >&2
      exit 1
      ;;
    esac
    i=0
    while [ "$i" -lt "$phnum" ]; do
      if [ "$(field $((phoff + i * phentsize)) 4)" = 3 ]; then
        echo "$bin has an ELF interpreter (PT_INTERP): a builder must be a static executable (was it linked with -buildmode=pie?)" >&2
        exit 1
      fi
      i=$((i + 1))
    done
  ''
  + ''
    printed=$(env -i "$bin" version)
    if [ "$printed" != "oci-builder ${finalAttrs.version}" ]; then
      echo "env -i $bin version printed '$printed', want 'oci-builder ${finalAttrs.version}'" >&2
      exit 1
    fi
    runHook postInstallCheck
  '';

  passthru.tests =
    let
      ociTools = callPackage ./oci-tools.nix { oci-builder = finalAttrs.finalPackage; };
    in
    {
      # The flake's example image, with this package as its builder.
      example-image = callPackage ../examples/hello-image.nix { inherit ociTools; };
      version = testers.testVersion {
        package = finalAttrs.finalPackage;
        command = "oci-builder version";
      };
    }
    # The flake's example container: bundles are built on Linux only.
    // lib.optionalAttrs stdenv.buildPlatform.isLinux {
      example = callPackage ../examples/hello.nix { inherit ociTools; };
    };

  meta = {
    description = "Builds OCI runtime bundles (config.json + rootfs/) from Nix store closures";
    longDescription = ''
      oci-builder replaces nixpkgs' ociTools.buildContainer: a derivation
      whose builder is this one static executable copies the closure of the
      container's program into rootfs/ and writes a valid config.json.
    '';
    homepage = "https://github.com/oci-builder/oci-builder";
    license = lib.licenses.mit;
    mainProgram = "oci-builder";
    # Images are built on macOS too (x86_64 and arm64, Go's darwin
    # targets); bundles only on Linux.
    platforms = lib.platforms.linux ++ [
      "x86_64-darwin"
      "aarch64-darwin"
    ];
  };
})
