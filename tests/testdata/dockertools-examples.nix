# A representative subset of nixpkgs' pkgs/build-support/docker/examples.nix,
# translated with stand-in packages (busybox scripts built with builtins
# only) and every argument of each call kept. The calls that need a shell
# (extraCommands, fakeRootCommands, runAsRoot) or a base image (fromImage,
# pullImage) are in `refused`, each with the one-line error it must give.
# tests/dockertools_examples_test.go builds, loads and runs them;
# tests/nixdb_test.go runs Nix in those with a Nix database.
{
  ociTools,
  busybox,
  nonce,
  # The Nix the tests run, the lane's own, as a directory: bin/nix, its
  # libraries and dynamic loader in lib (tests/nixdb_test.go).
  hostNix,
}:
let
  system = builtins.currentSystem;
  sh = "${busybox}/bin/sh";
  bb = "${busybox}/bin/busybox";
  mk =
    name: script:
    derivation {
      inherit name system;
      builder = sh;
      args = [
        "-c"
        script
      ];
    };
  # The packages examples.nix uses.
  pkgs = rec {
    hello = mk "hello-${nonce}" ''
      ${bb} mkdir -p $out/bin
      ${bb} printf '#!${sh}\necho "Hello, world!"\n' > $out/bin/hello
      ${bb} chmod 555 $out/bin/hello
    '';
    bashInteractive = mk "bash-interactive-${nonce}" ''
      ${bb} mkdir -p $out/bin
      ${bb} printf '#!${sh}\nexec ${sh} "$@"\n' > $out/bin/bash
      ${bb} chmod 555 $out/bin/bash
      ${bb} ln -s bash $out/bin/sh
    '';
    bash = bashInteractive;
    coreutils = mk "coreutils-${nonce}" ''
      ${bb} mkdir -p $out/bin
      for a in cat date echo env id ls readlink stat touch true; do ${bb} ln -s ${bb} $out/bin/$a; done
    '';
    # nixpkgs' buildEnv: the entries of pathsToLink of each path linked
    # into one tree, the first path winning.
    buildEnv =
      {
        name,
        paths,
        pathsToLink ? [ "/" ],
      }:
      mk name ''
        for dir in ${toString pathsToLink}; do
          for p in ${toString paths}; do
            [ -d $p$dir ] || continue
            ${bb} mkdir -p $out$dir
            for f in $p$dir/*; do
              [ -e $out$dir/''${f##*/} ] || ${bb} ln -s $f $out$dir/
            done
          done
        done
        ${bb} mkdir -p $out
      '';
    writeTextDir =
      path: text:
      mk (baseNameOf path) ''
        ${bb} mkdir -p $out/${dirOf path}
        ${bb} cat > $out/${path} <<'EOT'
        ${text}
        EOT
      '';
    runtimeShell = sh;
    writeText =
      name: text:
      mk name ''
        ${bb} cat > $out <<'EOT'
        ${text}
        EOT
      '';
    writeScriptBin =
      name: text:
      mk name ''
        ${bb} mkdir -p $out/bin
        ${bb} cat > $out/bin/${name} <<'EOT'
        ${text}
        EOT
        ${bb} chmod 555 $out/bin/${name}
      '';
    # Nix: the lane's own nix, started by its own dynamic loader with its
    # own libraries (argv[0] chooses the command, as nix's links do).
    nix = mk "nix-${nonce}" ''
      ${bb} mkdir -p $out/bin
      ${bb} printf '#!${sh}\nexec ${hostNix}/lib/ld.so --argv0 "''${0##*/}" --library-path ${hostNix}/lib ${hostNix}/bin/nix "$@"\n' > $out/bin/nix
      ${bb} chmod 555 $out/bin/nix
      for l in nix-build nix-daemon nix-env nix-instantiate nix-store; do ${bb} ln -s nix $out/bin/$l; done
    '';
    dockerTools.caCertificates = mk "ca-certificates" ''
      ${bb} mkdir -p $out/etc/ssl/certs
      echo "-- a stand-in bundle --" > $out/etc/ssl/certs/ca-bundle.crt
    '';
  };
  inherit (ociTools)
    buildImage
    buildLayeredImage
    streamLayeredImage
    mergeImages
    buildImageWithNixDb
    buildLayeredImageWithNixDb
    ;
in
rec {
  # 1. basic example
  bash = buildImage {
    name = "bash";
    tag = "latest";
    copyToRoot = pkgs.buildEnv {
      name = "image-root";
      paths = [ pkgs.bashInteractive ];
      pathsToLink = [ "/bin" ];
    };
  };

  # 9. created = "now"
  unstableDate = buildImage {
    name = "unstable-date";
    tag = "latest";
    copyToRoot = pkgs.buildEnv {
      name = "image-root";
      pathsToLink = [ "/bin" ];
      paths = [ pkgs.coreutils ];
    };
    created = "now";
  };

  # 16.
  another-layered-image = buildLayeredImage {
    name = "another-layered-image";
    tag = "latest";
    config.Cmd = [ "${pkgs.hello}/bin/hello" ];
  };

  # 17. only 2 layers
  two-layered-image = buildLayeredImage {
    name = "two-layered-image";
    tag = "latest";
    config.Cmd = [ "${pkgs.hello}/bin/hello" ];
    contents = [
      pkgs.bash
      pkgs.hello
    ];
    maxLayers = 2;
  };

  # 18. more packages than layers
  bulk-layer = buildLayeredImage {
    name = "bulk-layer";
    tag = "latest";
    contents = with pkgs; [
      coreutils
      hello
    ];
    maxLayers = 2;
  };

  # 22.
  unstableDateLayered = buildLayeredImage {
    name = "unstable-date-layered";
    tag = "latest";
    contents = [ pkgs.coreutils ];
    created = "now";
  };

  bashUncompressed = buildImage {
    name = "bash-uncompressed";
    tag = "latest";
    compressor = "none";
    copyToRoot = pkgs.bashInteractive;
  };

  bashZstdCompressed = buildImage {
    name = "bash-zstd";
    tag = "latest";
    compressor = "zstd";
    copyToRoot = pkgs.bashInteractive;
  };

  bashNoTag = buildImage {
    name = "bash-no-tag";
    copyToRoot = pkgs.bashInteractive;
  };

  bashNoTagLayered = buildLayeredImage {
    name = "bash-no-tag-layered";
    contents = pkgs.bashInteractive;
  };

  bashLayeredUncompressed = buildLayeredImage {
    name = "bash-layered-uncompressed";
    tag = "latest";
    compressor = "none";
    contents = pkgs.bashInteractive;
  };

  bashLayeredZstdCompressed = buildLayeredImage {
    name = "bash-layered-zstd";
    tag = "latest";
    compressor = "zstd";
    contents = pkgs.bashInteractive;
  };

  bashNoTagStreamLayered = streamLayeredImage {
    name = "bash-no-tag-stream-layered";
    contents = pkgs.bashInteractive;
  };

  bashLayeredWithUser =
    let
      nonRootShadowSetup =
        {
          user,
          uid,
          gid ? uid,
        }:
        with pkgs;
        [
          (writeTextDir "etc/shadow" ''
            root:!x:::::::
            ${user}:!:::::::
          '')
          (writeTextDir "etc/passwd" ''
            root:x:0:0::/root:${runtimeShell}
            ${user}:x:${toString uid}:${toString gid}::/home/${user}:
          '')
          (writeTextDir "etc/group" ''
            root:x:0:
            ${user}:x:${toString gid}:
          '')
          (writeTextDir "etc/gshadow" ''
            root:x::
            ${user}:x::
          '')
        ];
    in
    buildLayeredImage {
      name = "bash-layered-with-user";
      tag = "latest";
      contents = [
        pkgs.bash
        pkgs.coreutils
      ]
      ++ nonRootShadowSetup {
        uid = 999;
        user = "somebody";
      };
    };

  layeredStoreSymlink =
    let
      target = pkgs.writeTextDir "dir/target" "Content doesn't matter.";
      symlink = mk "symlink" "${bb} ln -s ${target} $out";
    in
    buildLayeredImage {
      name = "layeredstoresymlink";
      tag = "latest";
      contents = [
        pkgs.bash
        symlink
      ];
    }
    // {
      passthru = {
        inherit symlink;
      };
    };

  prefixedImage = buildImage {
    name = "registry-1.docker.io/image";
    tag = "latest";
    config.Cmd = [ "${pkgs.hello}/bin/hello" ];
  };

  prefixedLayeredImage = buildLayeredImage {
    name = "registry-1.docker.io/layered-image";
    tag = "latest";
    config.Cmd = [ "${pkgs.hello}/bin/hello" ];
  };

  mergeVaryingCompressor = mergeImages [
    bash
    bashUncompressed
    bashZstdCompressed
  ];

  helloOnRoot = streamLayeredImage {
    name = "hello";
    tag = "latest";
    contents = [
      (pkgs.buildEnv {
        name = "hello-root";
        paths = [ pkgs.hello ];
      })
    ];
    config.Cmd = [ "hello" ];
  };

  helloOnRootNoStore = streamLayeredImage {
    name = "hello";
    tag = "latest";
    contents = [
      (pkgs.buildEnv {
        name = "hello-root";
        paths = [ pkgs.hello ];
      })
    ];
    config.Cmd = [ "hello" ];
    includeStorePaths = false;
  };

  build-image-with-path = buildImage {
    name = "build-image-with-path";
    tag = "latest";
    copyToRoot = [
      pkgs.bashInteractive
      ./test-dummy
    ];
  };

  layered-image-with-path = streamLayeredImage {
    name = "layered-image-with-path";
    tag = "latest";
    contents = [
      pkgs.bashInteractive
      ./test-dummy
    ];
  };

  build-image-with-architecture = buildImage {
    name = "build-image-with-architecture";
    tag = "latest";
    architecture = "arm64";
    copyToRoot = [
      pkgs.bashInteractive
      ./test-dummy
    ];
  };

  layered-image-with-architecture = streamLayeredImage {
    name = "layered-image-with-architecture";
    tag = "latest";
    architecture = "arm64";
    contents = [
      pkgs.bashInteractive
      ./test-dummy
    ];
  };

  image-with-certs = buildImage {
    name = "image-with-certs";
    tag = "latest";
    copyToRoot = pkgs.buildEnv {
      name = "image-with-certs-root";
      paths = [
        pkgs.coreutils
        pkgs.dockerTools.caCertificates
      ];
    };
    config = {
    };
  };

  # 6. nix example to play with the container nix store
  nix = buildImageWithNixDb {
    name = "nix";
    tag = "latest";
    copyToRoot = [
      # nix-store uses cat program to display results as specified by
      # the image env variable NIX_PAGER.
      pkgs.coreutils
      pkgs.nix
      pkgs.bash
    ];
    config = {
      Env = [
        "NIX_PAGER=cat"
        # A user is required by nix
        "USER=nobody"
      ];
    };
  };

  nixLayered = buildLayeredImageWithNixDb {
    name = "nix-layered";
    tag = "latest";
    contents = [
      # nix-store uses cat program to display results as specified by
      # the image env variable NIX_PAGER.
      pkgs.coreutils
      pkgs.nix
      pkgs.bash
    ];
    config = {
      Env = [
        "NIX_PAGER=cat"
        # A user is required by nix
        "USER=nobody"
      ];
    };
  };

  # 21. Support files in the store on buildLayeredImage
  filesInStore = buildLayeredImageWithNixDb {
    name = "file-in-store";
    tag = "latest";
    contents = [
      pkgs.coreutils
      pkgs.nix
      (pkgs.writeScriptBin "myscript" ''
        #!${pkgs.runtimeShell}
        cat ${pkgs.writeText "somefile" "some data"}
      '')
    ];
    config = {
      Cmd = [ "myscript" ];
      # For some reason 'nix-store --verify' requires this environment variable
      Env = [ "USER=root" ];
    };
  };

  # Not in examples.nix: Nix for an unprivileged user in single-user mode
  # (uid, gid: the store's owner and, with includeNixDB, /nix/var/nix's),
  # streamed.
  nixUserStreamed = streamLayeredImage {
    name = "nix-user";
    tag = "latest";
    contents = [
      pkgs.coreutils
      pkgs.nix
      (pkgs.writeTextDir "etc/passwd" ''
        root:x:0:0::/root:/bin/sh
        user:x:1000:1000::/home/user:/bin/sh
      '')
      (pkgs.writeTextDir "etc/group" ''
        root:x:0:
        user:x:1000:
      '')
    ];
    # Nix wants a home that its user owns.
    dirs = [
      {
        path = "/home/user";
        uid = 1000;
        gid = 1000;
      }
    ];
    uid = 1000;
    gid = 1000;
    uname = "user";
    gname = "user";
    includeNixDB = true;
    config = {
      User = "1000:1000";
      Env = [
        "USER=user"
        "HOME=/home/user"
      ];
    };
  };

  # The calls that need what is not supported without nixpkgs: each must
  # fail at evaluation with one line naming its argument.
  refused = {
    redis = buildImage {
      name = "redis";
      tag = "latest";
      fromImage = bash;
      copyToRoot = pkgs.buildEnv {
        name = "image-root";
        paths = [ pkgs.hello ];
        pathsToLink = [ "/bin" ];
      };
      runAsRoot = ''
        mkdir -p /data
      '';
      config = {
        Cmd = [ "/bin/redis-server" ];
        WorkingDir = "/data";
        Volumes = {
          "/data" = { };
        };
      };
    };
    layered-image = buildLayeredImage {
      name = "layered-image";
      tag = "latest";
      extraCommands = ''echo "(extraCommand)" > extraCommands'';
      config.Cmd = [ "${pkgs.hello}/bin/hello" ];
      contents = [
        pkgs.hello
        pkgs.bash
        pkgs.coreutils
      ];
    };
    layeredImageWithFakeRootCommands = buildLayeredImage {
      name = "layered-image-with-fake-root-commands";
      tag = "latest";
      contents = [ busybox ];
      fakeRootCommands = ''
        mkdir -p ./home/alice
        chown 1000 ./home/alice
      '';
    };
    imageViaFakeChroot = streamLayeredImage {
      name = "image-via-fake-chroot";
      tag = "latest";
      config.Cmd = [ "hello" ];
      enableFakechroot = true;
      fakeRootCommands = ''
        mkdir /bin
      '';
    };
  };
}
