# dockerTools' functions of the same name: buildLayeredImage,
# streamLayeredImage, the dockerTools style of buildImage, the *WithNixDb
# variants and mergeImages, with dockerTools' arguments, meanings and
# defaults, and its results: one archive file (an OCI layout with Docker's
# manifest.json, pkg/ociarchive) that docker load, podman load, skopeo and
# ctr images import read; a streaming executable for streamLayeredImage.
scope:
let
  inherit (builtins)
    all
    attrNames
    concatStringsSep
    elem
    filter
    hasContext
    head
    isAttrs
    isBool
    isInt
    isList
    isString
    match
    replaceStrings
    storeDir
    stringLength
    substring
    unsafeDiscardStringContext
    ;
  inherit (scope)
    checkArch
    checkLayeringPipeline
    checkStringList
    checkTime
    checkType
    copiers
    fromImageOptions
    defaultArch
    defaultOs
    describe
    fail
    imageLayers
    isStringLike
    licensesOf
    oci-builder
    rootsOf
    sbomAttrs
    shellDefaults
    shellLayer
    system
    toStr
    withPassthru
    ;

  # dockerTools' includeNixDB: the builder writes Nix's database of the
  # image's closure (pkg/nixdb, no sqlite, no shell) into the
  # customisation layer, /nix/var/nix owned by uid and gid.
  nixDB =
    fn: a:
    if checkType fn "includeNixDB" isBool "a boolean" a.includeNixDB then { includeNixDB = true; } else { };

  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = replaceStrings upper lower;

  # The distribution reference grammar (github.com/distribution/reference):
  # [DOMAIN/]COMPONENT(/COMPONENT)*, at most 255 characters; a tag of
  # letters, digits, '_', '.', '-', at most 128, not starting with '.' or
  # '-'.
  component = "[a-z0-9]+(([.]|_|__|-+)[a-z0-9]+)*";
  domainComponent = "([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
  # (an IPv6 address in brackets too, as the grammar has it since v3)
  domain = "(${domainComponent}([.]${domainComponent})*|[[][a-fA-F0-9:]+[]])(:[0-9]+)?";
  namePattern = "(${domain}/)?${component}(/${component})*";
  tagPattern = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";

  isImageName = s: match namePattern s != null && stringLength s <= 255;
  imageNameRule = "lowercase letters, digits and separators '.', '_', '__', '-' between them, components joined by '/', an optional registry first, as registry-1.docker.io/team/app";
  isTag = s: match tagPattern s != null;
  tagRule = "letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'";

  checkName =
    fn: name:
    let
      lowered = toLower (checkType fn "name" isString "a string" name);
    in
    if !(isImageName lowered) then
      fail fn "'name' \"${name}\" is not a valid image name (${imageNameRule}): docker load would refuse it"
    else
      lowered;

  checkTag =
    fn: tag:
    if tag == null then
      null
    else if tag == "" then
      fail fn "'tag' must not be empty (leave it out, or null, for the hash of the output path, as dockerTools)"
    else if !(isString tag) then
      fail fn "'tag' must be a string (or null), got ${describe tag}"
    else if !(isTag tag) then
      fail fn "'tag' \"${tag}\" is not a valid tag (${tagRule})"
    else
      tag;

  # The image configuration, checked where Docker would fail at run time.
  checkConfig =
    fn: cfg:
    let
      c = checkType fn "config" (v: isAttrs v && !(v ? outPath)) "an attribute set (the image configuration: Cmd, Env, ...)" cfg;
      strings =
        key: example:
        if !(c ? ${key}) || c.${key} == null then
          true
        else if isList c.${key} && all isStringLike c.${key} then
          true
        else
          fail fn "'config.${key}' must be a list of strings (${key} = [ ${example} ]), got ${describe c.${key}}";
      env =
        if !(c ? Env) || c.Env == null then
          true
        else if !(isList c.Env) then
          fail fn "'config.Env' must be a list of \"NAME=VALUE\" strings, got ${describe c.Env}"
        else
          all (
            e:
            # (the first line: a value may hold newlines, which '.' does not match)
            if isStringLike e && match "[^=]+=.*" (head (builtins.split "\n" (toStr e))) != null then
              true
            else
              fail fn "'config.Env' must be a list of \"NAME=VALUE\" strings, got ${
                if isString e then "\"${e}\"" else describe e
              }"
          ) c.Env;
      workingDir =
        if !(c ? WorkingDir) || c.WorkingDir == null || c.WorkingDir == "" then
          true
        else if isStringLike c.WorkingDir && substring 0 1 (toStr c.WorkingDir) == "/" then
          true
        else
          fail fn "'config.WorkingDir' must be an absolute path, got ${
            if isString c.WorkingDir then "\"${c.WorkingDir}\"" else describe c.WorkingDir
          }";
      prog = "\"prog\" \"arg\"";
      # Docker's health check: Test, then durations in nanoseconds (as
      # Docker writes them) and a count, each checked.
      healthKeys = [ "Test" "Interval" "Timeout" "StartPeriod" "StartInterval" "Retries" ];
      healthcheck =
        let
          h = c.Healthcheck;
          unknownKeys = filter (k: !(elem k healthKeys)) (attrNames h);
          test = h.Test or null;
          first = toStr (head test);
          count =
            key: what:
            if !(h ? ${key}) || h.${key} == null || (isInt h.${key} && h.${key} >= 0) then
              true
            else
              fail fn "'config.Healthcheck.${key}' must be a non-negative integer (${what}), got ${builtins.toJSON h.${key}}";
        in
        if !(c ? Healthcheck) || h == null then
          true
        else if !(isAttrs h) || h ? outPath then
          fail fn "'config.Healthcheck' must be an attribute set { Test; Interval; Timeout; StartPeriod; StartInterval; Retries; } (Docker's health check), got ${describe h}"
        else if unknownKeys != [ ] then
          fail fn "'config.Healthcheck.${head unknownKeys}' is not a key of Docker's health check (${concatStringsSep ", " healthKeys})"
        else if !(isList test) || test == [ ] || !(all isStringLike test) then
          fail fn "'config.Healthcheck.Test' must be a non-empty list of strings: [ \"CMD\" PROGRAM ARGS... ], [ \"CMD-SHELL\" COMMAND ] or [ \"NONE\" ], got ${
            if test == [ ] then
              "an empty list"
            else if isList test then
              "a list with an element that is not a string"
            else if test == null then
              "none"
            else
              describe test
          }"
        else if !(elem first [ "NONE" "CMD" "CMD-SHELL" ]) then
          fail fn "'config.Healthcheck.Test' must start with \"NONE\", \"CMD\" or \"CMD-SHELL\", got \"${first}\""
        else if first != "NONE" && builtins.length test < 2 then
          fail fn "'config.Healthcheck.Test' gives no command after \"${first}\""
        else
          all (k: count k "nanoseconds, as Docker: 30 s is 30000000000") [ "Interval" "Timeout" "StartPeriod" "StartInterval" ]
          && count "Retries" "consecutive failures";
      # The OCI image configuration's keys and Docker's (Healthcheck,
      # OnBuild, Shell): what the builder writes. Other keys of Docker's
      # container configuration (Hostname, Tty, ...) are not an image's:
      # refused here, in one line, rather than by the builder.
      known = [ "ArgsEscaped" "Cmd" "Entrypoint" "Env" "ExposedPorts" "Healthcheck" "Labels" "OnBuild" "Shell" "StopSignal" "User" "Volumes" "WorkingDir" ];
      unknown = filter (k: !(elem k known)) (attrNames c);
      # The other keys' types (null is unset): what Docker's JSON takes.
      typed =
        key: pred: what:
        if !(c ? ${key}) || c.${key} == null || pred c.${key} then
          true
        else
          fail fn "'config.${key}' must be ${what}, got ${describe c.${key}}";
      plainAttrs = v: isAttrs v && !(v ? outPath);
      attrsOf =
        key: pred: what: example:
        typed key plainAttrs "an attribute set (${key} = ${example})"
        && all (
          k:
          if pred c.${key}.${k} then
            true
          else
            fail fn "'config.${key}.\"${k}\"' must be ${what} (${key} = ${example}), got ${describe c.${key}.${k}}"
        ) (attrNames (if c.${key} or null == null then { } else c.${key}));
      # (an element null is what Docker's JSON decoding takes too)
      empty = v: v == null || v == { };
      types =
        attrsOf "ExposedPorts" empty "{ }" "{ \"80/tcp\" = { }; }"
        && attrsOf "Volumes" empty "{ }" "{ \"/data\" = { }; }"
        && attrsOf "Labels" (v: v == null || isStringLike v) "a string" "{ \"org.opencontainers.image.source\" = \"https://...\"; }"
        && typed "User" isString "a string (\"user\", \"uid:gid\")"
        && typed "StopSignal" isString "a string (\"SIGTERM\")"
        && typed "ArgsEscaped" isBool "a boolean";
      fields =
        if unknown == [ ] then
          true
        else
          fail fn "'config.${head unknown}' is not supported: an image configuration takes ${concatStringsSep ", " known} (image-spec's keys and Docker's Healthcheck, OnBuild, Shell)";
    in
    if
      fields
      && strings "Cmd" prog
      && strings "Entrypoint" prog
      && strings "Shell" "\"/bin/sh\" \"-c\""
      && strings "OnBuild" "\"RUN make\""
      && env
      && workingDir
      && healthcheck
      && types
    then
      c
    else
      c;

  # The owner and mode attributes a 'perms' or 'dirs' element may give
  # (arg names it in errors; modeExample shows a mode), checked; those
  # left out or null are not passed.
  ownerFields =
    fn: arg: modeExample: e:
    let
      opt = k: check: if e.${k} or null == null then { } else { ${k} = check e.${k}; };
    in
    opt "mode" (checkType fn "${arg}.mode" (v: isString v && match "[0-7]{3,4}" v != null) "an octal mode string such as ${modeExample}")
    // opt "uid" (checkType fn "${arg}.uid" isInt "an integer")
    // opt "gid" (checkType fn "${arg}.gid" isInt "an integer")
    // opt "uname" (checkType fn "${arg}.uname" isString "a string")
    // opt "gname" (checkType fn "${arg}.gname" isString "a string");

  # 'perms' (nix2container's) and 'dirs', checked, for the builder.
  checkPerms =
    fn: perms:
    map (
      p:
      let
        known = [ "path" "regex" "mode" "uid" "gid" "uname" "gname" ];
        unknown = filter (k: !(elem k known)) (attrNames p);
      in
      if !(isAttrs p) || p ? outPath then
        fail fn "'perms' must be a list of { path; regex ? \".*\"; mode ? null; uid ? null; gid ? null; uname ? null; gname ? null; }, got an element that is ${describe p}"
      else if unknown != [ ] then
        fail fn "'perms' has an element with unknown attribute '${head unknown}' (known: ${concatStringsSep ", " known})"
      else if !(p ? path) then
        fail fn "'perms' has an element without 'path' (the store path, a contents element, whose files it changes)"
      else
        {
          path = toStr (checkType fn "perms.path" isStringLike "a store path (a package of contents)" p.path);
          regex = checkType fn "perms.regex" isString "a string (a regular expression)" (p.regex or ".*");
        }
        // ownerFields fn "perms" "\"0644\"" p
    ) (checkType fn "perms" isList "a list of { path; regex; mode; uid; gid; uname; gname; }" perms);

  checkDirs =
    fn: dirs:
    map (
      d:
      let
        known = [ "path" "mode" "uid" "gid" "uname" "gname" ];
        unknown = if isAttrs d then filter (k: !(elem k known)) (attrNames d) else [ ];
      in
      if isString d then
        { path = checkType fn "dirs" (v: substring 0 1 v == "/") "a list of absolute paths or { path; mode; uid; gid; }" d; }
      else if !(isAttrs d) || d ? outPath then
        fail fn "'dirs' must be a list of absolute paths or { path; mode ? \"0755\"; uid ? 0; gid ? 0; uname ? null; gname ? null; }, got an element that is ${describe d}"
      else if unknown != [ ] then
        fail fn "'dirs' has an element with unknown attribute '${head unknown}' (known: ${concatStringsSep ", " known})"
      else
        {
          path = checkType fn "dirs.path" (v: isString v && substring 0 1 v == "/") "an absolute path" (d.path or null);
        }
        // ownerFields fn "dirs" "\"0755\" or \"1777\"" d
    ) (checkType fn "dirs" isList "a list of directories" dirs);

  # The arguments of dockerTools.buildLayeredImage and streamLayeredImage
  # (nixpkgs' own, then oci-builder's): anything else is refused naming
  # it, as nixpkgs' formals would.
  layeredArgs = [
    "name"
    "tag"
    "fromImage"
    "fromImageName"
    "fromImageTag"
    "contents"
    "config"
    "architecture"
    "created"
    "mtime"
    "uid"
    "gid"
    "uname"
    "gname"
    "maxLayers"
    "extraCommands"
    "fakeRootCommands"
    "enableFakechroot"
    # buildImage's, refused with what to do instead.
    "runAsRoot"
    "includeStorePaths"
    "includeNixDB"
    "passthru"
    "meta"
    "layeringPipeline"
    "debug"
    "compressor"
    "layers"
    "perms"
    "dirs"
  ];

  compressions = {
    gz = "gzip";
    zstd = "zstd";
    none = "none";
  };

  # What every dockerTools-style function shares: the arguments checked,
  # the closure roots and the derivation's attributes. kind is "layered"
  # (buildLayeredImage), "stream" (streamLayeredImage) or "single"
  # (buildImage's dockerTools style: one layer).
  dockerImage =
    fn: kind: arguments:
    let
      given = checkType fn "arguments" (
        v: isAttrs v && !(v ? outPath)
      ) "an attribute set of dockerTools.${fn}'s arguments ({ name = \"app\"; ... })" arguments;
      a = {
        tag = null;
        fromImage = null;
        contents = null;
        copyToRoot = null;
        keepContentsDirlinks = false;
        config = if kind == "single" then null else { };
        architecture = defaultArch fn;
        created = "1970-01-01T00:00:01Z";
        mtime = "1970-01-01T00:00:01Z";
        uid = 0;
        gid = 0;
        uname = "root";
        gname = "root";
        maxLayers = 100;
        includeStorePaths = true;
        includeNixDB = false;
        compressor = "gz";
        passthru = { };
        meta = { };
        layeringPipeline = null;
        debug = false;
        layers = [ ];
        perms = [ ];
        dirs = [ ];
      }
      // given;
      perms = checkPerms fn a.perms;
      dirs = checkDirs fn a.dirs;
      # The customisation layer the shell arguments make, or null.
      shell = shellLayer {
        inherit fn kind;
        given = builtins.intersectAttrs shellDefaults given;
        name = drvName;
        # runAsRoot runs over the base image's files, as dockerTools'.
        base = if kind == "single" then (fromImageOptions fn given).fromImage or null else null;
        spec = {
          inherit perms dirs;
        }
        // (
          if kind == "single" then
            {
              copyToRoot = copied;
              inherit (a) keepContentsDirlinks;
              uid = int "uid" a.uid;
              gid = int "gid" a.gid;
            }
          else
            { contents = linked; }
        );
      };
      listOf = v: if v == null then [ ] else if isList v then v else [ v ];
      storePaths =
        arg: v:
        map (
          c:
          if isString c && !(hasContext c) && substring 0 (stringLength storeDir + 1) c != "${storeDir}/" then
            fail fn "'${arg}' must be a package, a store path or a list of them, got the string \"${c}\", which names no store path (give the package itself, or a path such as ./root)"
          else if isStringLike c then
            toStr c
          else
            fail fn "'${arg}' must be a package, a store path or a list of them, got an element that is ${describe c}"
        ) (listOf v);
      # buildImage's deprecated contents are its copyToRoot.
      copied =
        if kind != "single" then
          [ ]
        else if a.contents != null && a.copyToRoot != null then
          fail fn "give 'copyToRoot' or 'contents' (deprecated), not both"
        else
          storePaths (if a.copyToRoot != null then "copyToRoot" else "contents") (
            if a.copyToRoot != null then a.copyToRoot else a.contents
          );
      linked = if kind == "single" then [ ] else storePaths "contents" a.contents;
      cfg = if a.config == null then { } else checkConfig fn a.config;
      configJSON = builtins.toJSON cfg;
      roots = rootsOf fn (
        linked ++ copied ++ [ configJSON ] ++ (if shell != null then [ "${shell}" ] else [ ])
      );
      # null is unset, as Docker reads it (dockerTools writes it as given).
      listOrNone = v: if v == null then [ ] else v;
      command = listOrNone (cfg.Entrypoint or null) ++ listOrNone (cfg.Cmd or null);
      imageName = checkName fn (given.name or (fail fn "'name' is required: the image's name (as dockerTools')"));
      # After imageName: a name that is no string fails there, in one line.
      drvName = builtins.seq imageName (baseNameOf given.name);
      tag = checkTag fn a.tag;
      compression =
        compressions.${toString a.compressor}
          or (fail fn "'compressor' must be \"gz\", \"zstd\" or \"none\" (the layers' compression), got ${builtins.toJSON a.compressor}");
      maxLayers =
        if kind == "single" then
          1
        else if !(isInt a.maxLayers) || a.maxLayers < 2 || a.maxLayers > 125 then
          fail fn "'maxLayers' must be an integer from 2 to 125 (the store paths' layers and the customisation layer), got ${builtins.toJSON a.maxLayers}"
        else
          a.maxLayers;
      # The image's own layers: the customisation layer, and Nix's
      # database in a layer of its own when the shell arguments make the
      # customisation layer (pkg/image compatLayers).
      own = if shell != null && nixDB fn a != { } then 2 else 1;
      layered = imageLayers {
        inherit fn own;
        inherit (a) layers;
        name = drvName;
        roots = map (r: r.path) roots;
        budget = maxLayers - own;
      };
      int = arg: v: checkType fn arg isInt "an integer" v;
      str = arg: v: checkType fn arg isString "a string" v;
      attrs = {
        name = drvName;
        inherit system;
        container = {
          args = if command != [ ] && all isString command then command else [ "/bin/sh" ];
          os = defaultOs;
          arch = checkArch fn "architecture" a.architecture;
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
          tag = if tag == null then "" else tag;
          # buildImage's one layer (and the base's, which dockerTools'
          # buildImage does not count).
          maxLayers =
            if kind != "single" then
              # dockerTools does not apply maxLayers to a pipeline's layers.
              (if a.layeringPipeline != null then 125 else maxLayers)
            else if a.fromImage != null then
              125
            else
              2;
          inherit compression;
          created = checkTime fn "created" a.created;
          inherit perms dirs;
        }
        // fromImageOptions fn given;
        dockerCompat = {
          config = cfg;
          contents = linked;
          copyToRoot = copied;
          keepContentsDirlinks = checkType fn "keepContentsDirlinks" isBool "a boolean" a.keepContentsDirlinks;
          single = kind == "single";
          tagFromOutput = tag == null;
          excludeStorePaths = !(checkType fn "includeStorePaths" isBool "a boolean" a.includeStorePaths);
          uid = int "uid" a.uid;
          gid = int "gid" a.gid;
          debug = checkType fn "debug" isBool "a boolean" a.debug;
        }
        // nixDB fn a
        // (
          if kind != "single" && a.layeringPipeline != null then
            { layeringPipeline = checkLayeringPipeline fn a.layeringPipeline; }
          else
            { }
        )
        // (if shell != null then { shellLayer = "${shell}"; } else { })
        // (
          if kind == "single" then
            { }
          else
            {
              uname = str "uname" a.uname;
              gname = str "gname" a.gname;
              mtime = checkTime fn "mtime" a.mtime;
            }
        );
        archive.repository = imageName;
      }
      // layered.attrs
      # The licences (meta.license) of the packages given, for the SBOMs.
      // sbomAttrs (
        licensesOf (listOf (if kind == "single" && a.copyToRoot != null then a.copyToRoot else a.contents))
        ++ layered.licenses
      );
      unknown = if kind == "single" then [ ] else filter (k: !(elem k layeredArgs)) (attrNames given);
      checks =
        if unknown != [ ] then
          fail fn "'${head unknown}' is not an argument of dockerTools.${fn} (nor of this one: ${concatStringsSep ", " layeredArgs})"
        else if a.layeringPipeline != null && a.layers != [ ] then
          fail fn "give 'layeringPipeline' or 'layers', not both: the pipeline splits the closure into the image's own layers, 'layers' takes them from buildLayer derivations"
        else if !(isAttrs a.passthru) || !(isAttrs a.meta) then
          fail fn "'passthru' and 'meta' must be attribute sets"
        else
          true;
    in
    assert checks;
    {
      inherit
        a
        attrs
        roots
        imageName
        tag
        ;
    };

  # A dockerTools-style result: the derivation of attrs with the
  # attributes dockerTools' results carry at evaluation (imageName,
  # imageTag: the tag, or the hash of the output path), passthru and
  # meta, and extra (copyTo, stream, isExe, buildArgs: the function's).
  result =
    d: extra: attrs:
    let
      drv = withPassthru (
        d.a.passthru
        // {
          imageName = d.imageName;
          imageTag = if d.tag != null then d.tag else substring 0 32 (baseNameOf (unsafeDiscardStringContext drv.outPath));
          closureRoots = map (r: r.path) d.roots;
          inherit (d.a) meta;
        }
        // extra drv
      ) (derivation attrs);
    in
    drv;

  # dockerTools.buildLayeredImage: the image as one archive file,
  # NAME.tar (an OCI layout with Docker's manifest.json; its layers
  # compressed with 'compressor').
  buildLayeredImage =
    given:
    let
      fn = "buildLayeredImage";
      d = dockerImage fn "layered" given;
    in
    result d (
      drv:
      copiers drv "${d.imageName}:${drv.imageTag}"
      // {
        stream = streamLayeredImage (removeAttrs given [ "compressor" "layers" ]);
      }
    ) (d.attrs // { name = "${d.attrs.name}.tar"; });

  # dockerTools.streamLayeredImage's arguments (buildLayeredImage's but
  # 'compressor'): the image buildLayeredImage would make, never written
  # into the store. The output is an executable file, the line
  # "#!<oci-builder> stream-image" and a JSON description of the image
  # (store paths, layer sizes and DiffIDs, configuration), whose
  # references keep the closure alive; running it writes a docker-archive
  # with uncompressed layers to stdout: `$(nix-build) | docker load`.
  streamLayeredImage =
    given:
    let
      fn = "streamLayeredImage";
      checked =
        if !(isAttrs given) then
          fail fn "takes an attribute set of dockerTools.streamLayeredImage's arguments, got ${describe given}"
        else if given ? compressor then
          fail fn "'compressor' is not supported: streamed layers are uncompressed, as dockerTools.streamLayeredImage writes them (buildLayeredImage compresses its layers)"
        else if given ? layers then
          fail fn "'layers' is not supported: a streamed image is never stored, so there are no layer derivations to link (use buildLayeredImage with 'layers' for incremental images)"
        else
          given;
      d = dockerImage fn "stream" checked;
    in
    # As dockerTools': the output is a program to run.
    result d (_: { isExe = true; }) (
      removeAttrs d.attrs [ "archive" ]
      // {
        name = "stream-${d.attrs.name}";
        args = [ "nix-stream-builder" ];
        image = removeAttrs d.attrs.image [ "compression" ];
        stream = {
          repository = d.imageName;
          interpreter = "${oci-builder}/bin/oci-builder";
        };
      }
    );

  # dockerTools.buildImage's style of buildImage (nix/oci-tools/image.nix
  # chooses it from the arguments): one layer of copyToRoot copied at /
  # and the closure, in one archive file, docker-image-NAME.tar.
  dockerBuildImage =
    given:
    let
      fn = "buildImage";
      d = dockerImage fn "single" given;
    in
    result d (
      drv:
      copiers drv "${d.imageName}:${drv.imageTag}"
      // {
        buildArgs = given;
      }
    ) (d.attrs // { name = "docker-image-${d.attrs.name}.tar"; });

  # dockerTools' *WithNixDb: buildImage and buildLayeredImage with
  # includeNixDB = true, as in nixpkgs.
  buildImageWithNixDb = given: scope.buildImage (given // { includeNixDB = true; });
  buildLayeredImageWithNixDb = given: buildLayeredImage (given // { includeNixDB = true; });

  # dockerTools.mergeImages: the images of several archives
  # (buildImage's and buildLayeredImage's results) in one archive that
  # docker load, podman load and ctr images import load at once.
  mergeImages =
    images:
    let
      fn = "mergeImages";
      list = checkType fn "images" (v: isList v && v != [ ]) "a non-empty list of images (results of buildImage or buildLayeredImage)" images;
      paths = map (
        i:
        if isAttrs i && i ? outPath && !(i.isExe or false) then
          toStr i
        else
          fail fn "'images' must be results of ociTools.buildImage or buildLayeredImage (archives), got ${
            if isAttrs i && i.isExe or false then "a streamLayeredImage result (run it into a file first)" else describe i
          }"
      ) list;
    in
    derivation {
      name = "merge-docker-images.tar";
      inherit system;
      builder = "${oci-builder}/bin/oci-builder";
      args = [ "nix-merge-builder" ] ++ paths;
    };
in
{
  inherit
    checkPerms
    checkDirs
    checkName
    checkTag
    imageNameRule
    isImageName
    isTag
    tagRule
    dockerBuildImage
    buildLayeredImage
    streamLayeredImage
    buildImageWithNixDb
    buildLayeredImageWithNixDb
    mergeImages
    ;
}
