# buildImage: an OCI image layout of the closure of a process, with the
# container options an image can carry.
scope:
let
  inherit (builtins)
    attrNames
    filter
    isAttrs
    isList
    isString
    listToAttrs
    ;
  inherit (scope)
    checkDirs
    checkOptions
    checkPerms
    dockerBuildImage
    checkStringList
    checkTime
    checkType
    commandLine
    copiers
    defaultArch
    defaultOs
    derivationName
    describe
    fail
    fromImageOptions
    imageLayers
    oci-builder
    processRoots
    sbomAttrs
    system
    withPassthru
    ;

  # Container options an image cannot carry, with what decides them instead:
  # whoever runs the image.
  runtimeOnly = {
    mounts = "podman run -v or a Kubernetes volume decide mounts; declare mountpoints with 'volumes'";
    readonly = "podman run --read-only or Kubernetes' readOnlyRootFilesystem decide it";
    hostname = "podman run --hostname or Kubernetes' hostname decide it";
    terminal = "podman run -t decides it";
    capabilities = "podman run --cap-add/--cap-drop or Kubernetes' securityContext decide them";
    noNewPrivileges = "podman run --security-opt no-new-privileges or Kubernetes' allowPrivilegeEscalation decide it";
    rlimits = "podman run --ulimit decides them";
    network = "podman run --network or the pod decides it";
    resources = "podman run --memory/--cpus/--pids-limit or Kubernetes' resources decide them";
    extraConfig = "an image has no runtime configuration to merge into";
    rootless = "rootless runtimes map users themselves";
    storeMode = "an image's layers always hold the closure's bytes";
    seccomp = "runtimes apply their own default profile; podman run --security-opt seccomp=FILE or Kubernetes' seccompProfile choose another";
  };

  # An OCI image layout (oci-layout, index.json, blobs/sha256/) of the
  # closure of what the process mentions, one layer per store path up to
  # 'maxLayers', plus a layer with /etc/passwd, /etc/group, the home and
  # working directories and /tmp.
  argsBuildImage =
    {
      args ? null,
      cmd ? null,
      name ? null,
      tag ? "latest",
      # The host platform's, see buildContainer.
      os ? defaultOs,
      arch ? defaultArch "buildImage",
      maxLayers ? 100,
      compression ? "gzip",
      # Results of buildLayer: their layers come first, linked; the image
      # writes the rest of the closure in layers of its own.
      layers ? [ ],
      created ? "1970-01-01T00:00:01Z",
      exposedPorts ? [ ],
      labels ? { },
      volumes ? [ ],
      # A base image (docker-archive, OCI layout or oci-archive): its
      # layers first, its Env under the image's; fromImageName and
      # fromImageTag pick one of several images in it.
      fromImage ? null,
      fromImageName ? null,
      fromImageTag ? null,
      # Container options that the image carries.
      env ? null,
      workingDir ? null,
      user ? null,
      group ? null,
      extraUsers ? null,
      extraGroups ? null,
      tmp ? null,
      annotations ? null,
      # Check each store path against its NAR hash as its layer is written:
      # default true when the closure graph has hashes.
      verify ? null,
      # Refused, see runtimeOnly; but readonly = false and mounts = { },
      # nixpkgs' buildContainer defaults, are accepted and ignored.
      mounts ? null,
      readonly ? null,
      hostname ? null,
      terminal ? null,
      capabilities ? null,
      noNewPrivileges ? null,
      rlimits ? null,
      network ? null,
      resources ? null,
      extraConfig ? null,
      rootless ? null,
      storeMode ? null,
      seccomp ? null,
      # nix2container's perms, and directories to make (docker.nix).
      perms ? [ ],
      dirs ? [ ],
      passthru ? { },
      meta ? { },
    }@given:
    let
      fn = "buildImage";
      # nixpkgs' buildContainer defaults, which a converted call carries:
      # accepted and ignored, as an image has neither.
      ignoredDefaults = {
        readonly = false;
        mounts = { };
      };
      taken = removeAttrs given (
        filter (k: given ? ${k} && given.${k} == ignoredDefaults.${k}) (attrNames ignoredDefaults)
        ++ [ "perms" "dirs" "passthru" "meta" ]
      );
      refused = filter (k: taken ? ${k} && taken.${k} != null) (attrNames runtimeOnly);
      processArgs = commandLine fn args cmd;
      options = checkOptions fn ({ inherit os arch; } // taken);
      roots = processRoots fn processArgs options;
      container = options // {
        args = processArgs;
      };
      checkPort =
        p:
        if builtins.isInt p then
          toString p
        else if isString p then
          p
        else
          fail fn "'exposedPorts' must be a list of ports (8080 or \"53/udp\"), got an element that is ${describe p}";
      checkLabels =
        v:
        let
          attrs = checkType fn "labels" isAttrs "an attribute set of strings" v;
        in
        listToAttrs (
          map (k: {
            name = k;
            value = checkType fn "labels.${k}" isString "a string" attrs.${k};
          }) (attrNames attrs)
        );
    in
    if refused != [ ] then
      let
        k = builtins.head refused;
      in
      fail fn "'${k}' cannot be part of an image: ${runtimeOnly.${k}}${
        if ignoredDefaults ? ${k} then
          " (only nixpkgs' default, ${builtins.toJSON ignoredDefaults.${k}}, is accepted, and ignored)"
        else
          ""
      }"
    else
      let
        imageName = derivationName fn name roots "image";
        checkedMaxLayers =
          if !(builtins.isInt maxLayers) then
            fail fn "'maxLayers' must be an integer, got ${describe maxLayers}"
          else if maxLayers < 2 then
            fail fn "'maxLayers' must be at least 2 (the closure's layers and the /etc layer), got ${toString maxLayers}"
          else
            maxLayers;
        checkedCompression =
          if compression == "gzip" || compression == "zstd" then
            compression
          else
            fail fn "'compression' must be \"gzip\" or \"zstd\", got ${
              if isString compression then "\"${compression}\"" else describe compression
            }";
        layered = imageLayers {
          inherit fn layers;
          name = imageName;
          roots = map (r: r.path) roots;
          # The /etc layer's.
          own = 1;
          budget = checkedMaxLayers - 1;
        };
        image = derivation (
          {
            name = imageName;
            inherit system container;
            builder = "${oci-builder}/bin/oci-builder";
            args = [ "nix-image-builder" ];
            __structuredAttrs = true;
            storeDir = builtins.storeDir;
            image = {
              tag =
                if checkType fn "tag" isString "a string" tag == "" then
                  fail fn "'tag' must not be empty (leave it out for \"latest\")"
                else
                  tag;
              maxLayers = checkedMaxLayers;
              compression = checkedCompression;
              created = checkTime fn "created" created;
              exposedPorts = map checkPort (checkType fn "exposedPorts" isList "a list of ports" exposedPorts);
              labels = checkLabels labels;
              volumes = checkStringList fn "volumes" volumes;
            }
            // (if perms != [ ] then { perms = checkPerms fn perms; } else { })
            // (if dirs != [ ] then { dirs = checkDirs fn dirs; } else { })
            // fromImageOptions fn given;
          }
          // layered.attrs
          // sbomAttrs layered.licenses
        );
      in
      withPassthru (
        passthru
        // {
          options = container;
          closureRoots = map (r: r.path) roots;
          inherit imageName;
          imageTag = tag;
          inherit meta;
        }
        // copiers image "${imageName}:${tag}"
        // layered.passthru
      ) image;

  # The arguments only dockerTools.buildImage takes, and those only
  # oci-builder's style takes: a call is in one style or the other; the
  # others (name, tag, created, perms, dirs, passthru, meta, fromImage,
  # fromImageName, fromImageTag) are both's.
  dockerStyle = [
    "copyToRoot"
    "contents"
    "keepContentsDirlinks"
    "config"
    "architecture"
    "extraCommands"
    "uid"
    "gid"
    "runAsRoot"
    "diskSize"
    "buildVMMemorySize"
    "compressor"
    "includeNixDB"
  ];
  argsStyle = filter (
    k:
    !(builtins.elem k (
      dockerStyle
      ++ [
        "name"
        "tag"
        "created"
        "perms"
        "dirs"
        "passthru"
        "meta"
        "fromImage"
        "fromImageName"
        "fromImageTag"
      ]
    ))
  ) (
    attrNames (builtins.functionArgs argsBuildImage)
  );

  # buildImage in either style: dockerTools.buildImage's arguments
  # (copyToRoot, config, ...: one layer, an archive file, see docker.nix)
  # or oci-builder's (args, env, user, ...: an image layout of the
  # closure of the process). A call with only the shared arguments is in
  # dockerTools' style.
  buildImage =
    {
      # Both styles'.
      name ? null,
      tag ? null,
      created ? null,
      perms ? null,
      dirs ? null,
      passthru ? null,
      meta ? null,
      fromImage ? null,
      fromImageName ? null,
      fromImageTag ? null,
      # dockerTools.buildImage's (docker.nix).
      copyToRoot ? null,
      contents ? null,
      keepContentsDirlinks ? null,
      config ? null,
      architecture ? null,
      extraCommands ? null,
      uid ? null,
      gid ? null,
      runAsRoot ? null,
      diskSize ? null,
      buildVMMemorySize ? null,
      compressor ? null,
      includeNixDB ? null,
      # oci-builder's (argsBuildImage).
      args ? null,
      cmd ? null,
      os ? null,
      arch ? null,
      maxLayers ? null,
      compression ? null,
      layers ? null,
      exposedPorts ? null,
      labels ? null,
      volumes ? null,
      env ? null,
      workingDir ? null,
      user ? null,
      group ? null,
      extraUsers ? null,
      extraGroups ? null,
      tmp ? null,
      annotations ? null,
      verify ? null,
      mounts ? null,
      readonly ? null,
      hostname ? null,
      terminal ? null,
      capabilities ? null,
      noNewPrivileges ? null,
      rlimits ? null,
      network ? null,
      resources ? null,
      extraConfig ? null,
      rootless ? null,
      storeMode ? null,
      seccomp ? null,
    }@given:
    let
      docker = filter (k: given ? ${k}) dockerStyle;
      ours = filter (k: given ? ${k}) argsStyle;
    in
    if docker != [ ] && ours != [ ] then
      fail "buildImage" "'${builtins.head docker}' (dockerTools.buildImage's style) and '${builtins.head ours}' (oci-builder's style) do not mix: a call takes dockerTools' arguments (copyToRoot, config, ...: an archive) or oci-builder's (args, env, user, ...: an image layout), see docs/images.md"
    else if ours != [ ] then
      argsBuildImage given
    else
      dockerBuildImage given;
in
{
  inherit
    runtimeOnly
    dockerStyle
    buildImage
    ;
}
