# The shell arguments of dockerTools' functions: extraCommands,
# fakeRootCommands, enableFakechroot and runAsRoot. Given nixpkgs (the
# overlay, lib.ociToolsFor pkgs, callPackage: stdenv, fakeroot and proot
# come with it), they run as dockerTools runs them, in a derivation of
# their own whose output, layer.tar, is the image's customisation layer
# with the owners fakeroot recorded (image.Compat.ShellLayer); without
# nixpkgs they are refused, naming the declarative options.
scope:
let
  inherit (builtins)
    filter
    head
    isBool
    isString
    storeDir
    toJSON
    ;
  inherit (scope)
    checkType
    fail
    fakeroot
    oci-builder
    proot
    stdenv
    ;

  # dockerTools' defaults: nothing to run.
  shellDefaults = {
    extraCommands = "";
    fakeRootCommands = "";
    enableFakechroot = false;
    runAsRoot = null;
  };

  # What to do instead, without nixpkgs.
  declarative = {
    extraCommands = "put files in a derivation (writeTextDir, runCommand) and add it to 'contents', make directories with 'dirs' (e.g. dirs = [ { path = \"/tmp\"; mode = \"1777\"; } ]) and set owners and modes with 'perms'";
    fakeRootCommands = "set owners and modes with 'perms' (e.g. perms = [ { path = pkg; regex = \".*\"; uid = 1000; } ]) and make owned directories with 'dirs' (e.g. dirs = [ { path = \"/var/lib/app\"; uid = 1000; gid = 1000; } ])";
    runAsRoot = "put files in a derivation and add it to 'copyToRoot', make directories with 'dirs' and set owners and modes with 'perms'";
  };
  runs = {
    extraCommands = "it runs a shell in the image's root";
    fakeRootCommands = "it runs a shell as fake root";
    runAsRoot = "it runs a shell as root over the image's root";
  };

  # Whether the library was given what runs them.
  haveShell = stdenv != null && stdenv ? mkDerivation && fakeroot != null;

  # The derivation making the customisation layer of the dockerTools-style
  # function fn (kind "layered", "stream" or "single": buildImage) from
  # its arguments given, or null when they run nothing. spec is the
  # customisation layer without them (image.TreeSpec: contents or
  # copyToRoot, uid and gid, dirs, perms): oci-builder customisation-tree
  # writes it, then, as dockerTools:
  #
  # - layered: extraCommands run in it as the build user, then
  #   fakeRootCommands under fakeroot, in it, or with enableFakechroot
  #   under proot with it as / (the store, /dev, /proc and /sys bound);
  # - single (buildImage): with runAsRoot, runAsRoot under fakeroot and
  #   proot with it as / (where dockerTools uses a VM), then extraCommands
  #   under fakeroot in it (over a base image, in proot too: the base's
  #   links resolve within the root); without, extraCommands as the build
  #   user and
  #   every entry owned by uid and gid. With runAsRoot and a base image
  #   (base: fromImage's path, name, tag), oci-builder base-tree first
  #   writes the base's files beneath the tree (as dockerTools unpacks
  #   them under an overlay), and layer-diff makes the layer what
  #   changed against the base (whiteouts for what was removed);
  #
  # and tar, under fakeroot, writes $out/layer.tar: sorted, numeric
  # owners as fakeroot recorded them (root's when unchanged), mtime 1, hard
  # links as files. Each fakeroot session saves its database for the next
  # (fakeroot -s, -i).
  shellLayer =
    {
      fn,
      kind,
      given,
      name,
      spec,
      base ? null,
    }:
    let
      a = shellDefaults // given;
      str = arg: checkType fn arg isString "a string (shell commands)" a.${arg};
      extraCommands = str "extraCommands";
      fakeRootCommands = str "fakeRootCommands";
      enableFakechroot = checkType fn "enableFakechroot" isBool "a boolean" a.enableFakechroot;
      runAsRoot = if a.runAsRoot == null then null else str "runAsRoot";
      commands = filter (k: a.${k} != shellDefaults.${k}) [
        "extraCommands"
        "fakeRootCommands"
        "runAsRoot"
      ];
      chroot = (enableFakechroot && fakeRootCommands != "") || runAsRoot != null;
      chrootArg = if runAsRoot != null then "runAsRoot" else "enableFakechroot";
      single = kind == "single";
      # runAsRoot over a base image: its files under the tree, and the
      # layer only what changed (oci-builder base-tree, layer-diff).
      overBase = single && runAsRoot != null && base != null;
      tarFile = if overBase then "root.tar" else "\"$out/layer.tar\"";
      # The image's root as / in proot: the store, /dev, /proc and /sys
      # bound, and the fakeroot database's directory.
      proot' = "proot -r \"$PWD/root\" -b ${storeDir} -b /dev -b /proc -b /sys -b \"$PWD/fakeroot\" -w /";
      session = "fakeroot -i \"$PWD/fakeroot/db\" -s \"$PWD/fakeroot/db\" --";
    in
    if !single && runAsRoot != null then
      fail fn "'runAsRoot' is an argument of dockerTools.buildImage, not of ${fn}: use fakeRootCommands with enableFakechroot = true (they run as root with / the image's root)"
    else if commands == [ ] then
      null
    else if !haveShell then
      fail fn "'${head commands}' is not supported without nixpkgs: ${runs.${head commands}}; ${
        declarative.${head commands}
      }; or use ociTools from nixpkgs (the overlay, lib.ociToolsFor pkgs), which runs it under fakeroot as dockerTools does"
    else if chroot && proot == null then
      fail fn "'${chrootArg}' needs proot, which this ociTools was not given: call nix/oci-tools.nix with nixpkgs' callPackage (it passes proot), or use fakeRootCommands without enableFakechroot"
    else
      stdenv.mkDerivation {
        name = "${name}-customisation-layer";
        nativeBuildInputs = [ fakeroot ] ++ (if chroot then [ proot ] else [ ]);
        inherit extraCommands fakeRootCommands;
        runAsRoot = if runAsRoot == null then "" else runAsRoot;
        customisation = toJSON spec;
        passAsFile = [ "customisation" ] ++ (if overBase then [ "baseImage" ] else [ ]);
        ${if overBase then "baseImage" else null} = toJSON base;
        buildCommand = ''
          ${oci-builder}/bin/oci-builder customisation-tree "$customisationPath" root owners.sh
          mkdir fakeroot
          ${
            if single && runAsRoot != null then
              ""
            else
              ''
                # As the build user, in the image's root.
                (cd root && eval "$extraCommands")
              ''
          }
          # The owners of contents, copyToRoot, dirs and perms.
          fakeroot -s "$PWD/fakeroot/db" -- bash -e -c 'cd root
            ${
              if single && (spec.uid or 0 != 0 || spec.gid or 0 != 0) then
                "chown -R -h ${toString spec.uid or 0}:${toString spec.gid or 0} ."
              else
                ""
            }
            . ../owners.sh'
          ${
            if overBase then
              ''
                # The base image's files beneath, their owners in the same fakeroot database.
                ${oci-builder}/bin/oci-builder base-tree "$baseImagePath" root base-owners.sh
                fakeroot -i "$PWD/fakeroot/db" -s "$PWD/fakeroot/db" -- bash -e -c 'cd root && . ../base-owners.sh'
              ''
            else
              ""
          }
          ${
            if single && runAsRoot != null then
              ''
                # As root, with the image's root as /, then extraCommands as root in it.
                export PROOT_TMP_DIR="$TMPDIR"
                { echo 'set -e'; echo 'export PATH="$PATH:/bin"'; printf '%s\n' "$runAsRoot"; } > fakeroot/run-as-root.sh
                ${proot'} ${session} bash -e "$PWD/fakeroot/run-as-root.sh"
                ${
                  if overBase then
                    # In proot too: the base image's links (etc -> /x, up -> ..)
                    # resolve within the image's root, as in dockerTools' VM.
                    "${proot'} ${session} bash -e -c 'eval \"$extraCommands\"'"
                  else
                    "${session} bash -e -c 'cd root && eval \"$extraCommands\"'"
                }
              ''
            else if fakeRootCommands == "" then
              ""
            else if chroot then
              ''
                # As fake root, with the image's root as /.
                export PROOT_TMP_DIR="$TMPDIR"
                ${proot'} ${session} bash -e -c 'source "$stdenv/setup"; eval "$fakeRootCommands"'
              ''
            else
              ''
                # As fake root, in the image's root.
                ${session} bash -e -c 'source "$stdenv/setup"; cd root && eval "$fakeRootCommands"'
              ''
          }
          mkdir "$out"
          fakeroot -i "$PWD/fakeroot/db" -- tar -C root --format=gnu --sort=name --numeric-owner --mtime=@1 \
            --hard-dereference -cf ${tarFile} .
          ${
            if overBase then
              ''
                # What changed over the base image: the layer.
                ${oci-builder}/bin/oci-builder layer-diff "$baseImagePath" root.tar "$out/layer.tar"
              ''
            else
              ""
          }
        '';
      };
in
{
  inherit shellDefaults shellLayer;
}
