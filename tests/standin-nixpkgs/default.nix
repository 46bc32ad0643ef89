# A stand-in for nixpkgs, for the offline tests of the project's flake,
# default.nix and overlay (tests/flake_test.go, tests/nixpkgs_test.go):
# `import nixpkgs { system; crossSystem; overlays; }` gives a package set
# with just what those files use, with nixpkgs' meaning:
#
#   stdenv                 a derivation (that nothing may depend on) with
#                          hostPlatform, buildPlatform and the default
#                          hardening flags, pie included (as in pkgsMusl),
#                          shell and mkDerivation (buildCommand only), whose
#                          builds have this machine's bash, coreutils, tar,
#                          sed, grep, findutils, gzip and diff on PATH
#                          (hostTools)
#   fakeroot, proot        this machine's (Debian's), really working
#   buildPackages          the package set of the build platform: the
#                          machine's (the set itself when not cross)
#   pkgsCross.aarch64-multiplatform, .armv7l-hf-multiplatform, .raspberryPi
#                          built on this system, for aarch64-linux,
#                          armv7l-linux, armv6l-linux (images only: no Go
#                          programs are compiled for the arm ones)
#   buildGoModule          see build-go-module.nix
#   testers.testVersion    runs a command of a package, greps its version
#   mkShell (whose builder is a static bash, as nix develop needs),
#   bashInteractive (that static bash), cacert (a stand-in bundle),
#   coreutils (busybox's applets), stdenv.cc.cc (a lib directory),
#   writeShellScriptBin, and the tools of the flake's devShell
#                          (go, gopls, go-tools, nixfmt-tree, runc, ...) with
#                          nixpkgs' platforms
#   ociTools               nixpkgs' own: buildContainer, and somethingElse
#                          that an overlay must keep
#   hello, busybox
#
# The test copies this directory and adds what it needs at run time:
#
#   busybox/bin/busybox, busybox/bin/sh   static busybox, the builder of hello
#   bash/bin/bash                          static bash, mkShell's builder
#   hosttools/libexec/*, hosttools/lib/*   this machine's dynamically linked
#                                          tools (bash, coreutils, tar, ...,
#                                          faked-sysv, proot, Debian's
#                                          fakeroot script), their libraries,
#                                          libfakeroot-sysv.so and the loader
#                                          (lib/ld.so): see hostTools
#   prebuilt/SYSTEM/bin/*                  the Go programs the test compiled
#   prebuilt/SYSTEM/tests/*.test           and their tests (go test -c)
#   prebuilt/SYSTEM/build.json             the arguments it compiled them with
#                                          (darwin: the arguments the package
#                                          must ask for, no programs)
#   nonce                                  makes hello, so every container, new
#   broken-hello                           if present, hello's script names a
#                                          shell outside its closure
#
# The derivations of systems other than the machine's, darwin's included,
# are only evaluated (nix flake check builds the current system's checks
# only): their hello would run the machine's busybox, so it builds nowhere
# else. Cross package sets build on the machine.
{
  system,
  crossSystem ? null,
  overlays ? [ ],
  config ? { },
}:
let
  lib = import ./lib.nix;

  # The systems it knows: CPU and kernel.
  systems = {
    x86_64-linux = {
      cpu = "x86_64";
      kernel = "linux";
    };
    aarch64-linux = {
      cpu = "aarch64";
      kernel = "linux";
    };
    armv7l-linux = {
      cpu = "armv7l";
      kernel = "linux";
    };
    armv6l-linux = {
      cpu = "armv6l";
      kernel = "linux";
    };
    x86_64-darwin = {
      cpu = "x86_64";
      kernel = "darwin";
    };
    aarch64-darwin = {
      cpu = "aarch64";
      kernel = "darwin";
    };
  };

  # A platform as lib.systems.elaborate gives it, in part.
  platform =
    s:
    let
      known = systems.${s} or (throw "stand-in nixpkgs: unsupported system ${s}");
    in
    {
      system = s;
      parsed.cpu.name = known.cpu;
      parsed.kernel.name = known.kernel;
      isLinux = known.kernel == "linux";
      isDarwin = known.kernel == "darwin";
      # No emulation here: a platform runs its own executables only.
      canExecute = other: other.system == s;
    };

  buildPlatform = platform system;
  hostPlatform = if crossSystem == null then buildPlatform else platform crossSystem;
  isCross = hostPlatform.system != buildPlatform.system;

  # What the test puts in dir/bin/program, as the store path name.
  fromTest =
    dir: program: name:
    if builtins.pathExists (dir + "/bin/${program}") then
      builtins.path {
        path = dir;
        inherit name;
      }
    else
      throw "stand-in nixpkgs: the test puts a static ${program} in ${baseNameOf dir}/bin";

  busybox = fromTest ./busybox "busybox" "busybox";
  # A static bash: the builder of mkShell's derivations, which nix develop
  # runs with its environment script (bash's).
  bash = fromTest ./bash "bash" "bash-static";

  nonce = if builtins.pathExists ./nonce then builtins.readFile ./nonce else "";

  # This machine's dynamically linked programs, for what needs them:
  # fakeroot works by LD_PRELOAD, which the static busybox ignores, so
  # stdenv's builds (and fakeroot, proot) use these. The build sandbox has
  # no /lib64, so each bin/PROGRAM is a script that runs libexec/PROGRAM
  # through the loader the test copied (lib/ld.so) with the libraries in
  # lib; LD_PRELOAD (fakeroot's library) works as with the program run
  # directly. bin/fakeroot is Debian's fakeroot script, pointed at the
  # faked-sysv and libfakeroot-sysv.so here.
  hostToolsSrc =
    if builtins.pathExists ./hosttools/lib/ld.so then
      builtins.path {
        path = ./hosttools;
        name = "host-tools-src";
      }
    else
      throw "stand-in nixpkgs: the test puts this machine's tools in hosttools (tests/hosttools_test.go)";
  hostTools =
    build "host-tools-standin" { src = hostToolsSrc; } ''
      PATH=${busybox}/bin
      mkdir -p $out/bin
      cp -r $src/lib $src/libexec $out/
      for p in $out/libexec/*; do
        name=''${p##*/}
        [ "$name" = fakeroot-sysv ] && continue
        printf '#!%s\nexec %s --library-path %s --argv0 "$0" %s "$@"\n' \
          ${busybox}/bin/sh $out/lib/ld.so $out/lib "$p" > "$out/bin/$name"
        chmod 555 "$out/bin/$name"
      done
      # Debian's fakeroot script with this package's faked and preload
      # library, run by this bash ('/bin/ls' is absent in a sandbox).
      # nixpkgs' fakeroot ignores chown's EINVAL (a uid the user namespace
      # of Nix's sandbox does not map), Debian's only EPERM: here the
      # real chown is not tried (FAKEROOTDONTTRYCHOWN), to the same effect.
      {
        printf '#!%s\nexport FAKEROOTDONTTRYCHOWN=1\n' $out/bin/bash
        sed -e 1d \
          -e "s|^PATHS=.*|PATHS=$out/lib|" \
          -e "s|^FAKED=.*|FAKED=$out/bin/faked-sysv|" \
          -e "s|/bin/ls |$out/bin/ls |g" \
          $src/libexec/fakeroot-sysv
      } > $out/bin/fakeroot
      chmod 555 $out/bin/fakeroot
      chmod -R a-w $out
    '';

  # A derivation built where derivations of this set build.
  build =
    name: attrs: script:
    derivation (
      attrs
      // {
        inherit name;
        system = buildPlatform.system;
        builder = "${busybox}/bin/sh";
        args = [
          "-c"
          script
        ];
      }
    );

  # The package set before overlays; final is the set after them.
  base = final: {
    inherit lib;
    # nixpkgs' busybox is Linux's (meta.platforms), as flake.nix's devShell
    # sees.
    busybox = {
      outPath = busybox;
      name = "busybox";
      meta.platforms = linux;
    };
    # nixpkgs' pkgs.system: the host platform's.
    inherit (hostPlatform) system;

    # As nixpkgs' callPackage: the function's named arguments are taken from
    # the package set, then from args (without the override attributes).
    callPackage =
      fn: args:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) final // args);

    # A real derivation, so that a derivation depending on stdenv shows in
    # its inputs (the tests check that containers do not).
    # Its setup, which nix develop sources, puts the bin directories of
    # nativeBuildInputs and buildInputs on PATH.
    # Its setup also puts the machine's tools (hostTools) on PATH, as
    # nixpkgs' stdenv puts coreutils, tar, ..., and defines genericBuild,
    # which runs buildCommand (mkDerivation implements nothing else).
    stdenv =
      build "stdenv-standin" { } ''
        ${busybox}/bin/busybox mkdir $out
        ${busybox}/bin/busybox cat > $out/setup <<'EOF'
        PATH=; for p in $nativeBuildInputs $buildInputs; do PATH=''${PATH:+$PATH:}$p/bin; done
        PATH=''${PATH:+$PATH:}${hostTools}/bin; export PATH
        genericBuild() { eval "$buildCommand"; }
        EOF
      ''
      // {
        inherit hostPlatform buildPlatform;
        # nixpkgs' stdenv.shell: bash, of the build platform.
        shell = "${hostTools}/bin/bash";
        # As nixpkgs' stdenv.mkDerivation with buildCommand: the other
        # attributes are the derivation's environment; nativeBuildInputs and
        # buildInputs put their bin on PATH.
        mkDerivation =
          {
            name,
            buildCommand,
            ...
          }@args:
          let
            unsupported = builtins.filter (a: args ? ${a}) [
              "src"
              "phases"
              "buildPhase"
              "installPhase"
              "__structuredAttrs"
              "outputs"
            ];
          in
          if unsupported != [ ] then
            throw "stand-in stdenv.mkDerivation: ${builtins.head unsupported} is not implemented (buildCommand only)"
          else
            derivation (
              removeAttrs args [
                "meta"
                "passthru"
              ]
              // {
                system = buildPlatform.system;
                builder = "${hostTools}/bin/bash";
                args = [
                  "-e"
                  "-c"
                  "source $stdenv/setup; genericBuild"
                ];
                stdenv = final.stdenv;
              }
            )
            // {
              meta = args.meta or { };
              passthru = args.passthru or { };
            };
        targetPlatform = hostPlatform;
        # nixpkgs' stdenv.cc.cc: the C compiler, whose lib holds the
        # libraries of C and C++ programs (streamNixShellImage puts it on
        # LD_LIBRARY_PATH). Here a directory with a note.
        cc.cc = build "gcc-standin" { } ''
          ${busybox}/bin/busybox mkdir -p $out/lib
          echo "stand-in for gcc's libraries" > $out/lib/README
        '';
        # The flags mkDerivation turns on unless hardeningDisable names them.
        defaultHardeningFlags = [
          "format"
          "fortify"
          "pie"
          "pic"
          "relro"
          "stackprotector"
          "strictoverflow"
        ];
      };

    # The package set whose packages run on the build platform.
    buildPackages =
      if isCross then
        import ./. {
          inherit system overlays config;
        }
      else
        final;

    pkgsCross = {
      aarch64-multiplatform = import ./. {
        inherit system overlays config;
        crossSystem = "aarch64-linux";
      };
      armv7l-hf-multiplatform = import ./. {
        inherit system overlays config;
        crossSystem = "armv7l-linux";
      };
      raspberryPi = import ./. {
        inherit system overlays config;
        crossSystem = "armv6l-linux";
      };
    };

    # Prints what GNU hello prints.
    hello =
      build "hello-standin"
        {
          inherit nonce;
          shell = if builtins.pathExists ./broken-hello then "/bin/sh" else "${busybox}/bin/sh";
        }
        ''
          ${busybox}/bin/busybox mkdir -p $out/bin
          printf '#!%s\necho "Hello, world!"\n' "$shell" > $out/bin/hello
          ${busybox}/bin/busybox chmod 555 $out/bin/hello
        '';

    buildGoModule = import ./build-go-module.nix {
      inherit lib busybox;
      inherit (final) stdenv;
    };

    # As nixpkgs' testers.testVersion: the command's output must hold the
    # version as a word.
    testers.testVersion =
      {
        package,
        command ? "${package.meta.mainProgram or package.pname} --version",
        version ? package.version,
      }:
      build "${package.name}-test-version" { inherit command version; } ''
        PATH=${package}/bin:${busybox}/bin
        if output=$($command 2>&1) && echo "$output" | busybox grep -Fw -- "$version"; then
          busybox touch $out
        else
          echo "$command printed $output, without $version" >&2
          exit 1
        fi
      '';

    # As nixpkgs' mkShell: the environment of `nix develop`, with packages
    # on PATH; not meant to be built.
    mkShell =
      {
        name ? "nix-shell",
        packages ? [ ],
        ...
      }@args:
      let
        unknown = builtins.attrNames (removeAttrs args [
          "name"
          "packages"
        ]);
      in
      if unknown != [ ] then
        throw "stand-in mkShell: argument ${builtins.head unknown} is not implemented"
      else
        derivation {
          inherit name;
          system = buildPlatform.system;
          # nix develop runs the builder with its own script: bash's.
          builder = "${bash}/bin/bash";
          args = [
            "-c"
            "echo 'This derivation is not meant to be built, unless you want to capture the dependency closure.' >&2; exit 1"
          ];
          inherit (final) stdenv;
          nativeBuildInputs = packages;
          # As mkDerivation's: nix develop's script writes each of $outputs.
          outputs = [ "out" ];
        }
        // {
          inherit packages;
        };

    # The shell nix develop starts (it looks for nixpkgs' bashInteractive).
    bashInteractive = build "bash-interactive-standin" { } ''
      ${busybox}/bin/busybox mkdir -p $out/bin
      ${busybox}/bin/busybox cp ${bash}/bin/bash $out/bin/bash
    '';

    # nixpkgs' cacert: a CA bundle (a stand-in one) where nixpkgs keeps it.
    cacert = build "nss-cacert-standin" { } ''
      ${busybox}/bin/busybox mkdir -p $out/etc/ssl/certs
      echo "-- a stand-in CA bundle --" > $out/etc/ssl/certs/ca-bundle.crt
    '';

    # nixpkgs' coreutils: busybox's applets of the same names.
    coreutils = build "coreutils-standin" { } ''
      ${busybox}/bin/busybox mkdir -p $out/bin
      for a in basename cat chmod chown cp cut date dirname echo env false head id ln ls mkdir mktemp mv printf pwd readlink rm rmdir sleep sort stat tail tee test touch tr true uname wc whoami; do
        ${busybox}/bin/busybox ln -s ${busybox}/bin/busybox $out/bin/$a
      done
    '';

    # As nixpkgs' writeShellScriptBin (busybox's sh for bash).
    writeShellScriptBin =
      name: text:
      build name { inherit text; } ''
        ${busybox}/bin/busybox mkdir -p $out/bin
        printf '#!%s\n%s\n' ${busybox}/bin/sh "$text" > $out/bin/${name}
        ${busybox}/bin/busybox chmod 555 $out/bin/${name}
      ''
      // {
        meta.mainProgram = name;
      };

    # The tools flake.nix's devShell lists, with the platforms nixpkgs gives
    # them (Linux's: runc, umoci, buildah, busybox, fakeroot, proot,
    # containerd, xfsprogs); each a script that names itself.
    inherit (tools)
      go
      gopls
      go-tools
      nixfmt-tree
      runc
      skopeo
      umoci
      podman
      buildah
      zstd
      pigz
      distribution
      containerd
      docker
      xfsprogs
      ;

    # Real ones: this machine's (hostTools), with nixpkgs' platforms.
    fakeroot = realTool "fakeroot" [
      "fakeroot"
      "faked-sysv"
    ];
    proot = realTool "proot" [ "proot" ];

    # nixpkgs' own ociTools, with an attribute an overlay must keep.
    ociTools = {
      buildContainer = args: throw "stand-in nixpkgs: this is nixpkgs' own ociTools.buildContainer";
      somethingElse = "nixpkgs' ociTools.somethingElse";
    };
  };

  # A package of a command: bin/MAIN prints "PNAME stand-in".
  tool =
    pname: mainProgram: platforms:
    build "${pname}-standin" { } ''
      ${busybox}/bin/busybox mkdir -p $out/bin
      printf '#!%s\necho "%s stand-in"\n' ${busybox}/bin/sh ${pname} > $out/bin/${mainProgram}
      ${busybox}/bin/busybox chmod 555 $out/bin/${mainProgram}
    ''
    // {
      inherit pname;
      meta = { inherit mainProgram platforms; };
    };
  # A package of hostTools' programs (Linux's, as nixpkgs' fakeroot and
  # proot).
  realTool =
    pname: programs:
    build "${pname}-standin" { } ''
      ${busybox}/bin/busybox mkdir -p $out/bin
      for p in ${toString programs}; do ${busybox}/bin/busybox ln -s ${hostTools}/bin/$p $out/bin/$p; done
    ''
    // {
      inherit pname;
      meta = {
        mainProgram = pname;
        platforms = linux;
      };
    };
  unix = lib.platforms.linux ++ lib.platforms.darwin;
  inherit (lib.platforms) linux;
  tools = {
    go = tool "go" "go" unix;
    gopls = tool "gopls" "gopls" unix;
    go-tools = tool "go-tools" "staticcheck" unix;
    nixfmt-tree = tool "nixfmt-tree" "treefmt" unix;
    runc = tool "runc" "runc" linux;
    skopeo = tool "skopeo" "skopeo" unix;
    umoci = tool "umoci" "umoci" linux;
    podman = tool "podman" "podman" unix;
    buildah = tool "buildah" "buildah" linux;
    zstd = tool "zstd" "zstd" unix;
    pigz = tool "pigz" "pigz" unix;
    distribution = tool "distribution" "registry" unix;
    containerd = tool "containerd" "containerd" linux;
    docker = tool "docker" "docker" unix;
    xfsprogs = tool "xfsprogs" "mkfs.xfs" linux;
  };

  # lib.extends: an overlay applied on top of a package set function.
  extends =
    overlay: f: final:
    let
      prev = f final;
    in
    prev // overlay final prev;
in
if config != { } then
  throw "stand-in nixpkgs: config is not supported"
else
  lib.fix (lib.foldl' (f: overlay: extends overlay f) base overlays)
