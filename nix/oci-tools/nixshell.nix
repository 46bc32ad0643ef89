# dockerTools' streamNixShellImage and buildNixShellImage: an image that
# behaves like `nix-shell` for a derivation. Its environment is the
# derivation's (each attribute as a variable, passAsFile attributes as
# files, the outputs' paths) and what Nix's sandbox sets; its command is
# bash with an rcfile that sources $stdenv/setup and runs the shellHook,
# then 'command' or 'run'; its user (uid:gid) owns /nix/store, so that
# `buildDerivation` builds the derivation inside the container.
#
# It takes nixpkgs' bash, cacert, coreutils (for /usr/bin/env) and stdenv
# (which writes the rcfile and the files, and whose C compiler's
# libraries go on LD_LIBRARY_PATH) from the nixpkgs the library was given
# (the overlay, lib.ociToolsFor pkgs, callPackage); without nixpkgs it is
# refused in one line. The ownership fakeRootCommands gives in nixpkgs is
# declared with 'dirs', so no fakeroot runs.
scope:
let
  inherit (builtins)
    attrNames
    concatStringsSep
    elem
    filter
    head
    isAttrs
    isInt
    isList
    isString
    listToAttrs
    map
    match
    replaceStrings
    storeDir
    substring
    typeOf
    unsafeDiscardStringContext
    ;
  inherit (scope)
    bashInteractive
    buildLayeredImage
    cacert
    checkName
    checkTag
    checkType
    coreutils
    describe
    fail
    stdenv
    streamLayeredImage
    unique
    ;

  # What it needs of nixpkgs, by the name callPackage passes.
  needs = {
    inherit
      stdenv
      bashInteractive
      cacert
      coreutils
      ;
  };
  missing = filter (n: needs.${n} == null || (n == "stdenv" && !(stdenv ? mkDerivation))) (attrNames needs);

  # nixpkgs' lib.escapeShellArg: unquoted when safe, else single-quoted.
  escapeShellArg =
    s: if match "[[:alnum:],._+:@%/-]+" s != null then s else "'${replaceStrings [ "'" ] [ "'\\''" ] s}'";

  # devShellTools.valueToString: a derivation attribute as Nix passes it
  # to the builder (paths copied to the store, lists joined by spaces).
  valueToString =
    v:
    if typeOf v == "path" then
      "${v}"
    else if isList v then
      toString (map valueToString v)
    else
      toString v;

  # A text file in the store, written by nixpkgs' stdenv (its references
  # kept): nixpkgs' writeText.
  writeText =
    name: text:
    stdenv.mkDerivation {
      inherit name text;
      passAsFile = [ "text" ];
      buildCommand = ''cp "$textPath" "$out"'';
    };

  # The derivation's directory of a program (makeBinPath of one package:
  # its bin output's bin).
  binOf = p: if isAttrs p then "${p.bin or p.out or p}/bin" else "${p}/bin";

  args = [
    "drv"
    "name"
    "tag"
    "uid"
    "gid"
    "homeDirectory"
    "shell"
    "command"
    "run"
    "maxLayers"
    "uname"
  ];

  # The image's arguments for streamLayeredImage (buildLayeredImage with
  # compressor), from streamNixShellImage's.
  imageArgs =
    fn: given:
    let
      unknown = filter (k: !(elem k args)) (attrNames given);
      a = {
        name = drv.name + "-env";
        tag = null;
        uid = 1000;
        gid = 1000;
        homeDirectory = "/build";
        shell = "${bashInteractive}/bin/bash";
        command = null;
        run = null;
        maxLayers = 100;
        uname = "nixbld";
      }
      // given;
      drv = checkType fn "drv" (
        v: isAttrs v && v ? drvAttrs && v ? name
      ) "a derivation (the one whose nix-shell environment the image has)" (given.drv or null);
      drvAttrs = drv.drvAttrs;
      uid = checkType fn "uid" isInt "an integer" a.uid;
      gid = checkType fn "gid" isInt "an integer" a.gid;
      uname = checkType fn "uname" isString "a string" a.uname;
      home = checkType fn "homeDirectory" (
        v: isString v && substring 0 1 v == "/"
      ) "an absolute path (a string)" a.homeDirectory;
      shell = checkType fn "shell" (v: isString v && v != "") "a path to bash (a string)" a.shell;
      text = arg: if a.${arg} == null then "" else checkType fn arg isString "a string (shell commands) or null" a.${arg};
      command = text "command";
      run = text "run";

      # bin/buildDerivation runs the derivation's builder with its
      # arguments, as Nix would.
      builder = stdenv.mkDerivation {
        name = "build-derivation";
        text = ''
          #!${bashInteractive}/bin/bash
          exec ${escapeShellArg (valueToString drvAttrs.builder)} ${
            concatStringsSep " " (map (x: escapeShellArg (valueToString x)) (drvAttrs.args or [ ]))
          }
        '';
        passAsFile = [ "text" ];
        buildCommand = ''
          mkdir -p "$out/bin"
          cp "$textPath" "$out/bin/buildDerivation"
          chmod 555 "$out/bin/buildDerivation"
        '';
      };

      # The PATH the image starts with: the shell's directory,
      # buildDerivation's, drv's buildInputs' and /usr/bin.
      staticPath = concatStringsSep ":" (
        [
          (dirOf shell)
          (binOf builder)
        ]
        ++ map binOf (filter (p: p != null) (flatten (drv.buildInputs or [ ])))
        ++ [ "/usr/bin" ]
      );
      flatten = l: if isList l then builtins.concatMap flatten l else [ l ];

      # What nix-shell writes as bash's rcfile (Nix 2.8's nix-build.cc):
      # the stdenv's setup, the PATH, the prompt, the shellHook, then the
      # command, and exit.
      rcfile = writeText "nix-shell-rc" ''
        unset PATH
        dontAddDisableDepTrack=1
        [ -e $stdenv/setup ] && source $stdenv/setup
        PATH=${staticPath}:"$PATH"
        SHELL=${escapeShellArg shell}
        BASH=${escapeShellArg shell}
        set +e
        [ -n "$PS1" -a -z "$NIX_SHELL_PRESERVE_PROMPT" ] && PS1='\n\[\033[1;32m\][nix-shell:\w]\$\[\033[0m\] '
        if [ "$(type -t runHook)" = function ]; then
          runHook shellHook
        fi
        unset NIX_ENFORCE_PURITY
        shopt -u nullglob
        shopt -s execfail
        ${
          if a.command != null || a.run != null then
            ''
              ${command}
              ${run}
              exit
            ''
          else
            ""
        }
      '';

      # devShellTools.unstructuredDerivationInputEnv and
      # derivationOutputEnv: the derivation's attributes (but args) as Nix
      # passes them, passAsFile's as files named by NAMEPath, and each
      # output's path.
      passAsFile = drvAttrs.passAsFile or [ ];
      drvEnv =
        listToAttrs (
          map (
            n:
            let
              str = valueToString drvAttrs.${n};
            in
            if elem n passAsFile then
              {
                name = "${n}Path";
                value = "${writeText "shell-passAsFile-${n}" str}";
              }
            else
              {
                name = n;
                value = str;
              }
          ) (filter (n: n != "args") (attrNames drvAttrs))
        )
        // listToAttrs (
          map (o: {
            name = o;
            value = unsafeDiscardStringContext drv.${o}.outPath;
          }) (drv.outputs or [ "out" ])
        );

      certs = "${cacert}/etc/ssl/certs/ca-bundle.crt";
      cc = stdenv.cc.cc or null;
      env =
        {
          SSL_CERT_FILE = certs;
          NIX_SSL_CERT_FILE = certs;
          PATH = staticPath;
          HOME = home;
          NIX_STORE = storeDir;
          NIX_BUILD_CORES = "1";
        }
        // (if cc == null then { } else { LD_LIBRARY_PATH = "${cc.lib or cc}/lib"; })
        // drvEnv
        // {
          # Nix's sandbox's (Nix 2.8's local-derivation-goal.cc).
          NIX_BUILD_TOP = "/build";
          TMPDIR = "/tmp";
          TEMPDIR = "/tmp";
          TMP = "/tmp";
          TEMP = "/tmp";
          PWD = home;
          TERM = "xterm-256color";
        };

      # The image's files: bash as /bin/sh and /bin/bash (nixpkgs'
      # dockerTools.binSh), /usr/bin/env (usrBinEnv), the CA bundle where
      # distributions keep it (caCertificates), /etc/nix/nix.conf and
      # fakeNss' /etc/passwd, /etc/group (with the build user),
      # /etc/nsswitch.conf and /var/empty.
      passwd = ''
        root:x:0:0:root user:/var/empty:/bin/sh
        ${uname}:x:${toString uid}:${toString gid}:Build user:${home}:${shell}
        nobody:x:65534:65534:nobody:/var/empty:/bin/sh
      '';
      group = ''
        root:x:0:
        ${uname}:!:${toString gid}:
        nobody:x:65534:
      '';
      root = stdenv.mkDerivation {
        name = "nix-shell-root";
        inherit passwd group;
        nixConf = ''
          experimental-features = nix-command flakes
        '';
        passAsFile = [
          "passwd"
          "group"
          "nixConf"
        ];
        buildCommand = ''
          mkdir -p "$out/bin" "$out/usr/bin" "$out/etc/nix" "$out/etc/ssl/certs" "$out/etc/pki/tls/certs" "$out/var/empty"
          ln -s ${bashInteractive}/bin/bash "$out/bin/sh"
          ln -s ${bashInteractive}/bin/bash "$out/bin/bash"
          ln -s ${coreutils}/bin/env "$out/usr/bin/env"
          ln -s ${certs} "$out/etc/ssl/certs/ca-bundle.crt"
          ln -s ${certs} "$out/etc/ssl/certs/ca-certificates.crt"
          ln -s ${certs} "$out/etc/pki/tls/certs/ca-bundle.crt"
          cp "$nixConfPath" "$out/etc/nix/nix.conf"
          cp "$passwdPath" "$out/etc/passwd"
          cp "$groupPath" "$out/etc/group"
          echo 'hosts: files dns' > "$out/etc/nsswitch.conf"
        '';
      };

      # What nixpkgs' fakeRootCommands does, declared: the user owns the
      # store (to build drv into it), Nix's state, /etc/nix, the build
      # directory, the home directory and /tmp.
      owned = [
        "/nix/store"
        "/nix/var/nix"
        "/etc/nix"
        "/build"
        home
        "/tmp"
      ];
      dirs = map (path: {
        inherit path uid gid;
        mode = "0755";
      }) (unique owned);
    in
    if missing != [ ] then
      fail fn "needs nixpkgs (${concatStringsSep ", " missing}): it puts nixpkgs' bash, cacert and coreutils in the image and writes its rcfile with stdenv; use ociTools from nixpkgs (the overlay, lib.ociToolsFor pkgs)"
    else if !(isAttrs given) || given ? outPath then
      fail fn "takes an attribute set of dockerTools.${fn}'s arguments ({ drv = derivation; }), got ${describe given}"
    else if unknown != [ ] then
      fail fn "'${head unknown}' is not an argument of dockerTools.${fn} (nor of this one: ${concatStringsSep ", " args})"
    else if drvAttrs.__structuredAttrs or false then
      fail fn "Does not work with the derivation ${drv.name} because it uses __structuredAttrs"
    else if a.command != null && a.run != null then
      fail fn "Can't specify both command and run"
    else
      {
        # Checked here, so that an error names this function, not
        # streamLayeredImage.
        name = builtins.seq (checkName fn a.name) a.name;
        tag = builtins.seq (checkTag fn a.tag) a.tag;
        maxLayers = checkType fn "maxLayers" (
          v: isInt v && v >= 2 && v <= 125
        ) "an integer from 2 to 125 (the store paths' layers and the customisation layer)" a.maxLayers;
        contents = [ root ];
        inherit dirs;
        config = {
          User = "${toString uid}:${toString gid}";
          Cmd =
            if a.run == null then
              [
                shell
                "--rcfile"
                "${rcfile}"
              ]
            else
              [
                shell
                "${rcfile}"
              ];
          WorkingDir = home;
          Env = map (n: "${n}=${env.${n}}") (attrNames env);
        };
      };

  # dockerTools.streamNixShellImage: the image, streamed (as
  # streamLayeredImage's result, an executable that writes it).
  streamNixShellImage =
    given: streamLayeredImage (imageArgs "streamNixShellImage" given);

  # dockerTools.buildNixShellImage: the image as one archive file (as
  # buildLayeredImage's: an OCI layout with Docker's manifest.json, its
  # layers compressed with 'compressor').
  buildNixShellImage =
    given:
    let
      fn = "buildNixShellImage";
      checked = checkType fn "arguments" (
        v: isAttrs v && !(v ? outPath)
      ) "an attribute set (dockerTools.buildNixShellImage's arguments: { drv = derivation; })" given;
    in
    buildLayeredImage (
      imageArgs fn (removeAttrs checked [ "compressor" ])
      // {
        compressor = checkType fn "compressor" (
          v: elem v [
            "gz"
            "zstd"
            "none"
          ]
        ) "\"gz\", \"zstd\" or \"none\" (the layers' compression)" (checked.compressor or "gz");
      }
    );
in
{
  inherit streamNixShellImage buildNixShellImage;
}
