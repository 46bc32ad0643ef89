# buildContainer: an OCI runtime bundle (config.json + rootfs/).
scope:
let
  inherit (builtins)
    attrNames
    isAttrs
    ;
  inherit (scope)
    buildsOnDarwin
    checkMount
    checkOptions
    checkType
    closureGraphAttrs
    commandLine
    defaultArch
    defaultOs
    derivationName
    fail
    oci-builder
    processRoots
    system
    withPassthru
    ;

  buildContainer =
    {
      args ? null,
      cmd ? null,
      mounts ? { },
      # The host platform's (nixpkgs' default is "linux").
      os ? defaultOs,
      # nixpkgs' default is "x86_64" whatever the platform; this is the
      # host platform's CPU as a GOARCH value ("amd64", "arm64"), see
      # defaultArch.
      arch ? defaultArch "buildContainer",
      # nixpkgs' default is false; the root filesystem is always read-only
      # here (false warns at build time), see docs/security.md.
      readonly ? null,
      name ? null,
      env ? null,
      workingDir ? null,
      hostname ? null,
      terminal ? null,
      user ? null,
      group ? null,
      extraUsers ? null,
      extraGroups ? null,
      capabilities ? null,
      noNewPrivileges ? null,
      rlimits ? null,
      tmp ? null,
      network ? null,
      resources ? null,
      annotations ? null,
      extraConfig ? null,
      rootless ? null,
      storeMode ? null,
      verify ? null,
      seccomp ? null,
    }@given:
    let
      fn = "buildContainer";
      processArgs = commandLine fn args cmd;
      checkedMounts = map (dest: checkMount fn dest mounts.${dest}) (
        attrNames (checkType fn "mounts" isAttrs "an attribute set of mounts" mounts)
      );
      # nixpkgs' defaults, which the function's formals set but `given` lacks.
      options = checkOptions fn ({ inherit os arch; } // given);
      roots = processRoots fn processArgs options;
      container = options // {
        args = processArgs;
        mounts = checkedMounts;
        # The seccomp filter's architecture: the platform the bundle is
        # built for, whatever 'arch' (metadata, "x86_64" in nixpkgs' calls)
        # says.
        seccompArch = defaultArch fn;
      };
    in
    if buildsOnDarwin then
      fail fn "bundles are built on Linux, and this build platform is ${system}; on darwin build images instead (buildImage, buildLayeredImage, streamLayeredImage)"
    else
      withPassthru
        {
          options = container;
          closureRoots = map (r: r.path) roots;
        }
        (
          derivation (
            {
              name = derivationName fn name roots "container";
              inherit system container;
              builder = "${oci-builder}/bin/oci-builder";
              args = [ "nix-builder" ];
              __structuredAttrs = true;
              storeDir = builtins.storeDir;
            }
            // closureGraphAttrs {
              name = derivationName fn name roots "container";
              roots = map (r: r.path) roots;
              # What the builder verifies: the closure unless verify is
              # false, or in bind mode unless verify is true (see
              # docs/store-modes.md).
              hashes =
                if options.storeMode or "copy" == "bind" then
                  options.verify or false == true
                else
                  options.verify or true != false;
            }
          )
        );
in
{
  inherit buildContainer;
}
