# dockerTools' functions of the same name: buildLayeredImage and
# streamLayeredImage.
scope:
let
  inherit (builtins)
    all
    attrNames
    filter
    isAttrs
    isList
    isString
    substring
    unsafeDiscardStringContext
    ;
  inherit (scope)
    checkType
    copiers
    defaultArch
    defaultOs
    describe
    fail
    fromImageOptions
    imageLayers
    isStringLike
    licensesOf
    oci-builder
    rootsOf
    sbomAttrs
    system
    toStr
    withPassthru
    ;

  # The arguments of nixpkgs' dockerTools.buildLayeredImage that need a
  # shell, refused with what to do instead.
  shellOnly = {
    extraCommands = "it runs a shell in the image's root, which this builder never does: put the files in a derivation (runCommand, writeTextDir) and add it to 'contents'";
    fakeRootCommands = "it runs a shell as fake root, which this builder never does: put the files in a derivation and add it to 'contents'; for users use buildImage's user/extraUsers, for /tmp its tmp";
    enableFakechroot = "it only serves fakeRootCommands, which are refused";
    runAsRoot = "it runs a shell in a VM, which this builder never does: put the files in a derivation and add it to 'contents'";
  };

  # dockerTools.buildLayeredImage's arguments, with their meaning and
  # defaults, making an OCI image layout: 'name' is the image's repository
  # name (and, as dockerTools', the derivation's baseNameOf), 'tag'
  # defaults to the hash of the output path, 'contents' are linked at / in
  # a top layer (bin/sh -> busybox's), 'config' is the image
  # configuration's, verbatim. See docs/migration.md. fn names the
  # function in messages: "buildLayeredImage" or "streamLayeredImage".
  layeredImage =
    fn:
    {
      name,
      tag ? null,
      contents ? [ ],
      config ? { },
      created ? "1970-01-01T00:00:01Z",
      maxLayers ? 100,
      architecture ? defaultArch fn,
      # dockerTools' compressor: "gz" (default) or "zstd".
      compressor ? "gz",
      # Results of buildLayer, as buildImage's 'layers'.
      layers ? [ ],
      passthru ? { },
      extraCommands ? "",
      fakeRootCommands ? "",
      enableFakechroot ? false,
      runAsRoot ? null,
      # A base image: its layers first, its Env under config's.
      fromImage ? null,
      fromImageName ? null,
      fromImageTag ? null,
    }@given:
    let
      shellDefaults = {
        extraCommands = "";
        fakeRootCommands = "";
        enableFakechroot = false;
        runAsRoot = null;
      };
      refused = filter (k: given ? ${k} && given.${k} != shellDefaults.${k}) (attrNames shellOnly);
      contentsList = map (
        c:
        if isStringLike c then
          toStr c
        else
          fail fn "'contents' must be a list of packages or store paths, got an element that is ${describe c}"
      ) (if isList contents then contents else [ contents ]);
      cfg = checkType fn "config" (v: isAttrs v && !(v ? outPath)) "an attribute set (the image configuration: Cmd, Env, ...)" config;
      configJSON = builtins.toJSON cfg;
      roots = rootsOf fn (contentsList ++ [ configJSON ]);
      command = (cfg.Entrypoint or [ ]) ++ (cfg.Cmd or [ ]);
      compression =
        if compressor == "gz" then
          "gzip"
        else if compressor == "zstd" then
          "zstd"
        else
          fail fn "'compressor' must be \"gz\" or \"zstd\" (an OCI layout's layers are compressed), got ${builtins.toJSON compressor}";
      checkedMaxLayers =
        if !(builtins.isInt maxLayers) || maxLayers < 2 then
          fail fn "'maxLayers' must be an integer of at least 2, got ${builtins.toJSON maxLayers}"
        else
          maxLayers;
      drvName = baseNameOf (checkType fn "name" isString "a string" name);
      layered = imageLayers {
        inherit fn layers compression;
        name = drvName;
        roots = map (r: r.path) roots;
        # The /etc layer's, and the contents' when there are any.
        own = 1 + (if contentsList != [ ] then 1 else 0);
        budget = checkedMaxLayers - 1 - (if contentsList != [ ] then 1 else 0);
        verify = null;
      };
      drv = withPassthru (
        passthru
        // {
          imageName = name;
          imageTag = if tag != null then tag else substring 0 32 (baseNameOf (unsafeDiscardStringContext drv.outPath));
          closureRoots = map (r: r.path) roots;
        }
        // copiers drv "${name}:${drv.imageTag}"
        // layered.passthru
      ) (
        derivation (
          {
            name = drvName;
            inherit system;
            # The process of the /etc layer's passwd and of the closure; the
            # image's configuration is 'config', verbatim.
            container = {
              args = if command != [ ] && all isString command then command else [ "/bin/sh" ];
              os = defaultOs;
              arch = checkType fn "architecture" isString "a string" architecture;
            }
            // (
              if isString (cfg.WorkingDir or null) && substring 0 1 cfg.WorkingDir == "/" then
                { workingDir = cfg.WorkingDir; }
              else
                { }
            );
            builder = "${oci-builder}/bin/oci-builder";
            args = [ "nix-image-builder" ];
            __structuredAttrs = true;
            exportReferencesGraph.closure = map (r: r.path) roots;
            storeDir = builtins.storeDir;
            image = {
              tag =
                if tag == null then
                  ""
                else if checkType fn "tag" isString "a string" tag == "" then
                  fail fn "'tag' must not be empty (leave it out, or null, for the hash of the output path, as dockerTools)"
                else
                  tag;
              maxLayers = checkedMaxLayers;
              inherit compression;
              created =
                if checkType fn "created" isString "a string (RFC 3339, or \"now\")" created == "" then
                  fail fn "'created' must not be empty: an RFC 3339 date and time, or \"now\" (leave it out for 1970-01-01T00:00:01Z)"
                else
                  created;
            }
            // fromImageOptions fn given;
            dockerCompat = {
              config = cfg;
              contents = contentsList;
              tagFromOutput = tag == null;
            };
          }
          // layered.attrs
          // sbomAttrs (licensesOf contents ++ layered.licenses)
        )
      );
    in
    if refused != [ ] then
      let
        k = builtins.head refused;
      in
      fail fn "'${k}' is not supported: ${shellOnly.${k}}"
    else
      drv;

  buildLayeredImage = layeredImage "buildLayeredImage";

  # dockerTools.streamLayeredImage's arguments (buildLayeredImage's but
  # 'compressor'): the image buildLayeredImage would make, never written
  # into the store. The output is an executable file, the line
  # "#!<oci-builder> stream-image" and a JSON description of the image
  # (store paths, layer sizes and DiffIDs, configuration), whose
  # references keep the closure alive; running it writes a docker-archive
  # with uncompressed layers to stdout: `$(nix-build) | docker load`. The
  # derivation is buildLayeredImage's, with another builder command.
  streamLayeredImage =
    args:
    let
      fn = "streamLayeredImage";
      checked =
        if !(isAttrs args) then
          fail fn "takes an attribute set of dockerTools.streamLayeredImage's arguments, got ${describe args}"
        else if args ? compressor then
          fail fn "'compressor' is not supported: streamed layers are uncompressed, as dockerTools.streamLayeredImage writes them (buildLayeredImage compresses its layers)"
        else if args ? layers then
          fail fn "'layers' is not supported: a streamed image is never stored, so there are no layer derivations to link (use buildLayeredImage with 'layers' for incremental images)"
        else
          args;
      layered = layeredImage fn checked;
      attrs = layered.drvAttrs;
      drv = withPassthru (
        (checked.passthru or { })
        // {
          imageName = checked.name;
          imageTag =
            if checked.tag or null != null then
              checked.tag
            else
              substring 0 32 (baseNameOf (unsafeDiscardStringContext drv.outPath));
          inherit (layered) closureRoots;
          # As dockerTools': the output is a program to run.
          isExe = true;
        }
      ) (derivation (
        attrs
        // {
          name = "stream-${attrs.name}";
          args = [ "nix-stream-builder" ];
          image = removeAttrs attrs.image [ "compression" ];
          stream = {
            repository = checked.name;
            interpreter = "${oci-builder}/bin/oci-builder";
          };
        }
      ));
    in
    drv;
in
{
  inherit
    buildLayeredImage
    streamLayeredImage
    ;
}
