# ociTools backed by oci-builder.
#
# Takes nixpkgs' ociTools.buildContainer arguments (and more) and returns a
# derivation whose builder is the static oci-builder executable; its output
# is an OCI runtime bundle (config.json + rootfs/) for `runc run -b`.
# buildImage takes the same command line, the container options an image can
# carry and image settings, and makes an OCI image layout of the same
# closure, for registries, podman and Kubernetes.
#
# Only builtins are used, so this works from nixpkgs and with no nixpkgs at
# all:
#
#   (import ./nix/oci-tools.nix { oci-builder = ./dir/with/bin; }).buildContainer { ... }
#
# where oci-builder is a package or a directory containing bin/oci-builder.
# From nixpkgs, callPackage also supplies stdenv, read at evaluation only:
# the derivations are built on its build platform, by an oci-builder that
# runs there (the overlay passes buildPackages.oci-builder), and 'os' and
# 'arch' default to its host platform's, so that pkgsCross.X.ociTools makes
# containers and images for X. Without stdenv, they default to the system
# of oci-builder (or this machine's).
{
  oci-builder,
  stdenv ? null,
  ...
}:
let
  inherit (builtins)
    all
    appendContext
    attrNames
    concatLists
    concatStringsSep
    elemAt
    filter
    foldl'
    genList
    getContext
    isAttrs
    isBool
    isList
    isPath
    isString
    length
    listToAttrs
    split
    stringLength
    substring
    throw
    typeOf
    unsafeDiscardStringContext
    ;

  fail = fn: msg: throw "ociTools.${fn}: ${msg}";

  # The system the derivations are built on, where oci-builder runs.
  system =
    if stdenv != null then
      stdenv.buildPlatform.system
    else
      oci-builder.system or builtins.currentSystem;

  # The architecture names oci-builder accepts: GOARCH values and Nix's CPU
  # names (pkg/bundle.Platform; tests/nixpkgs_test.go checks they agree).
  archNames = [
    "amd64"
    "x86_64"
    "arm64"
    "aarch64"
    "386"
    "i386"
    "i486"
    "i586"
    "i686"
    "arm"
    "armv5tel"
    "armv6l"
    "armv7l"
    "armv7a"
    "riscv64"
    "ppc64le"
    "powerpc64le"
    "ppc64"
    "powerpc64"
    "s390x"
    "mips64le"
    "mips64el"
    "loong64"
    "loongarch64"
  ];

  # nixpkgs' CPU names (stdenv.hostPlatform.parsed.cpu.name) as GOARCH
  # values, the names OCI images use, as nixpkgs' go.GOARCH (which
  # dockerTools uses for images).
  goArchOfCpu = {
    aarch64 = "arm64";
    armv5tel = "arm";
    armv6l = "arm";
    armv7a = "arm";
    armv7l = "arm";
    i686 = "386";
    loongarch64 = "loong64";
    mips64el = "mips64le";
    powerpc64 = "ppc64";
    powerpc64le = "ppc64le";
    riscv64 = "riscv64";
    s390x = "s390x";
    x86_64 = "amd64";
  };

  # The default 'os': the host platform's kernel, "linux" without nixpkgs.
  defaultOs = if stdenv != null then stdenv.hostPlatform.parsed.kernel.name else "linux";

  # The default 'arch': the host platform's CPU as a GOARCH value; without
  # nixpkgs, the CPU of the system ("x86_64" on x86_64-linux).
  defaultArch =
    fn:
    if stdenv == null then
      builtins.head (split "-" system)
    else
      let
        cpu = stdenv.hostPlatform.parsed.cpu.name;
      in
      if goArchOfCpu ? ${cpu} then
        goArchOfCpu.${cpu}
      else
        fail fn "the host platform's CPU \"${cpu}\" has no OCI architecture: set 'arch' to one of ${concatStringsSep ", " archNames}";

  describe = v: if isAttrs v && v ? outPath then "a derivation" else "a ${typeOf v}";

  isStringLike = v: isString v || isPath v || (isAttrs v && v ? outPath);

  # Strings, paths and derivations become strings (paths are copied to the store).
  toStr = v: if isString v then v else "${v}";

  # nix-base32 digits, the characters of a store path's hash part.
  nix32 = "0123456789abcdfghijklmnpqrsvwxyz";

  escapeRegex =
    builtins.replaceStrings
      [ "\\" "." "[" "]" "{" "}" "(" ")" "*" "+" "?" "^" "$" "|" ]
      [ "\\\\" "\\." "\\[" "\\]" "\\{" "\\}" "\\(" "\\)" "\\*" "\\+" "\\?" "\\^" "\\$" "\\|" ];

  # The name part of a store path ("<storeDir>/<hash>-<name>").
  nameOf =
    p:
    let
      base = baseNameOf p;
    in
    substring 33 (stringLength base) base;

  unique = foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];

  # Nix's base-32 form of a hash that builtins.hashString gives in
  # hexadecimal (as nix-hash --to-base32 prints it).
  toBase32 =
    hex:
    let
      digits = listToAttrs (
        genList (i: {
          name = substring i 1 "0123456789abcdef";
          value = i;
        }) 16
      );
      n = stringLength hex / 2;
      bytes = genList (
        i: digits.${substring (2 * i) 1 hex} * 16 + digits.${substring (2 * i + 1) 1 hex}
      ) n;
      byte = i: if i < n then elemAt bytes i else 0;
      pow2 = elemAt [ 1 2 4 8 16 32 64 128 256 ];
      len = (n * 8 - 1) / 5 + 1;
      # The k-th group of 5 bits, counted from the hash's first byte.
      digit =
        k:
        let
          b = k * 5;
          i = b / 8;
          j = b - i * 8;
          v = byte i / pow2 j + byte (i + 1) * pow2 (8 - j);
        in
        substring (v - v / 32 * 32) 1 nix32;
    in
    concatStringsSep "" (genList (k: digit (len - 1 - k)) len);

  # The text Nix puts in a string for an output of a content-addressed
  # derivation, whose path is known only once it is built; Nix replaces it
  # with the path in the attributes of the derivations that use it.
  # outputPathName is the output path's name: "hello-2.12", "hello-2.12-bin".
  caPlaceholder =
    drv: outputPathName:
    "/"
    + toBase32 (
      builtins.hashString "sha256" "nix-upstream-output:${substring 0 32 (baseNameOf drv)}:${outputPathName}"
    );

  # A whole store path in a text (its name runs as far as the characters of
  # store path names go) or the placeholder of a content-addressed output.
  mentionPattern = "(${escapeRegex builtins.storeDir}/[${nix32}]{32}-[A-Za-z0-9+._?=-]+|/[${nix32}]{52})";

  # Pure evaluation (flakes) has no clock, and reads no .drv file.
  pureEval = !(builtins ? currentTime);

  # The closure roots of strings: every store path of their context, and
  # nothing else (a store path the text names without context is not a
  # dependency for Nix either, and may not exist where the derivation is
  # built). Each root is { path; name; }, path carrying the whole context,
  # in the order the text first names them, then the roots the text does
  # not name. Roots are whole store paths, never sub-paths, as
  # exportReferencesGraph needs under structured attributes on Nix 2.4 to
  # 2.21.
  #
  # The context gives plain store paths as they are, and derivation outputs
  # by the derivation's .drv path and the output's name. An output's path is
  # found in the text: the one whole store path there named as the output is
  # ("hello-2.12", "hello-2.12-bin"; "hello-2.12-bin-extra" is another
  # name), or the placeholder of a content-addressed output. An output the
  # text does not name (only in the context, as builtins.appendContext or
  # lib.addContextFrom leave it), or names under two paths, is read from its
  # .drv file (import), which pure evaluation forbids: there it is an error.
  rootsOf =
    fn: strings:
    let
      joined = concatStringsSep " " strings;
      context = getContext joined;
      keys = attrNames context;
      # Every whole store path and placeholder in the text, in order.
      mentions = unique (
        map builtins.head (filter isList (split mentionPattern (unsafeDiscardStringContext joined)))
      );
      storePaths = filter (
        m: substring 0 (stringLength builtins.storeDir + 1) m == "${builtins.storeDir}/"
      ) mentions;
      # Store paths (and whole derivations, as drv.drvPath gives them).
      plainKeys = filter (p: context.${p}.path or false || context.${p}.allOutputs or false) keys;
      plain = map (p: {
        path = p;
        name = nameOf p;
      }) plainKeys;
      outputs = concatLists (
        map (
          drv:
          let
            drvName = substring 0 (stringLength (nameOf drv) - 4) (nameOf drv);
          in
          map (o: {
            inherit drv;
            output = o;
            name = if o == "out" then drvName else "${drvName}-${o}";
          }) (context.${drv}.outputs or [ ])
        ) keys
      );
      locate =
        d:
        let
          placeholder = caPlaceholder d.drv d.name;
          named = filter (m: nameOf m == d.name) storePaths;
          found = if builtins.elem placeholder mentions then [ placeholder ] ++ named else named;
        in
        {
          inherit (d) name;
          path =
            if length found == 1 then
              builtins.head found
            else if pureEval then
              fail fn "the output '${d.output}' of ${d.drv} is in the strings' context but their text names ${
                if found == [ ] then "no path" else "several paths (${concatStringsSep ", " found})"
              } for it, and pure evaluation cannot read its path from the .drv file: name the output in a string (\"\${drv.${d.output}}\"), or evaluate with --impure"
            else
              unsafeDiscardStringContext (import d.drv).${d.output}.outPath;
        };
      roots = plain ++ map locate outputs;
      inText = map (m: filter (r: r.path == m) roots) mentions;
      ordered = concatLists inText ++ filter (r: !(builtins.elem r.path mentions)) roots;
    in
    map (r: r // { path = appendContext r.path context; }) ordered;

  checkStringList =
    fn: arg: v:
    if !(isList v) then
      fail fn "'${arg}' must be a list of strings, got ${describe v}"
    else
      map (
        x: if isStringLike x then toStr x else fail fn "'${arg}' must be a list of strings, got an element that is ${describe x}"
      ) v;

  checkType =
    fn: arg: pred: what: v:
    if pred v then v else fail fn "'${arg}' must be ${what}, got ${describe v}";

  # Checkers for option values: each takes the function name, the argument's
  # name (for messages) and the value, and returns the value to pass on.
  str = fn: arg: checkType fn arg isString "a string";
  bool = fn: arg: checkType fn arg isBool "a boolean";
  int = fn: arg: checkType fn arg builtins.isInt "an integer";
  number = fn: arg: checkType fn arg (v: builtins.isInt v || builtins.isFloat v) "a number";
  intOrString = fn: arg: checkType fn arg (v: builtins.isInt v || isString v) "a name or a number";
  oneOf =
    values: fn: arg: v:
    if builtins.elem v values then
      v
    else
      fail fn "'${arg}' must be one of ${concatStringsSep ", " (map (x: "\"${x}\"") values)}, got ${
        if isString v then "\"${v}\"" else describe v
      }";
  # An environment value: a string, path, derivation or number.
  envValue =
    fn: arg: v:
    if isStringLike v then
      toStr v
    else if builtins.isInt v then
      toString v
    else
      fail fn "'${arg}' must be a string, got ${describe v}";
  listOf =
    check: fn: arg: v:
    if isList v then
      genList (i: check fn "${arg}[${toString i}]" (elemAt v i)) (length v)
    else
      fail fn "'${arg}' must be a list, got ${describe v}";
  attrsOf =
    check: fn: arg: v:
    if isAttrs v && !(v ? outPath) then
      builtins.mapAttrs (k: check fn "${arg}.${k}") v
    else
      fail fn "'${arg}' must be an attribute set, got ${describe v}";
  # An attribute set with known fields; required ones must be present.
  record =
    required: fields: fn: arg: v:
    let
      known = attrNames fields;
      unknown = filter (k: !(builtins.elem k known)) (attrNames v);
      missing = filter (k: !(v ? ${k})) required;
    in
    if !(isAttrs v) || v ? outPath then
      fail fn "'${arg}' must be an attribute set, got ${describe v}"
    else if unknown != [ ] then
      fail fn "'${arg}' has unknown attribute '${builtins.head unknown}' (known: ${concatStringsSep ", " known})"
    else if missing != [ ] then
      fail fn "'${arg}' needs '${builtins.head missing}'"
    else
      builtins.mapAttrs (k: fields.${k} fn "${arg}.${k}") v;
  either =
    a: b: what: fn: arg: v:
    let
      tryA = builtins.tryEval (builtins.deepSeq (a fn arg v) true);
    in
    if tryA.success then a fn arg v else if (builtins.tryEval (builtins.deepSeq (b fn arg v) true)).success then b fn arg v else fail fn "'${arg}' must be ${what}, got ${describe v}";
  anyAttrs = fn: arg: checkType fn arg (v: isAttrs v && !(v ? outPath)) "an attribute set";

  capabilitySets = listOf str;

  # The options every container takes besides args/cmd, mounts and name,
  # with their checkers. Each is passed to the builder only when set.
  containerOptions = {
    readonly = bool;
    os =
      fn: arg: v:
      if str fn arg v == "linux" then
        v
      else
        fail fn "'os' must be \"linux\" (oci-builder makes Linux containers), got \"${v}\"";
    arch =
      fn: arg: v:
      if builtins.elem (str fn arg v) archNames then
        v
      else
        fail fn "'arch' must be one of the architectures oci-builder accepts (${concatStringsSep ", " archNames}), got \"${v}\"";
    env = attrsOf envValue;
    workingDir = str;
    hostname = str;
    terminal = bool;
    user = intOrString;
    group = intOrString;
    extraUsers = attrsOf (
      record [ "uid" ] {
        uid = int;
        gid = int;
        home = str;
        shell = str;
      }
    );
    extraGroups = attrsOf (
      record [ "gid" ] {
        gid = int;
        members = listOf str;
      }
    );
    capabilities = either capabilitySets (record [ ] {
      bounding = capabilitySets;
      effective = capabilitySets;
      inheritable = capabilitySets;
      permitted = capabilitySets;
      ambient = capabilitySets;
    }) "a list of capability names or an attribute set of capability sets";
    noNewPrivileges = bool;
    rlimits = attrsOf (
      either int (record [ "soft" "hard" ] {
        soft = int;
        hard = int;
      }) "a number or { soft; hard; }"
    );
    tmp = bool;
    network = oneOf [
      "private"
      "host"
    ];
    resources = record [ ] {
      memory = intOrString;
      cpu = number;
      pids = int;
    };
    annotations = attrsOf str;
    storeMode = oneOf [
      "copy"
      "reflink"
      "hardlink"
      "bind"
    ];
    # Check the closure against its NAR hashes: default true, false for bind.
    verify = bool;
    # "default" (Docker's profile), "unconfined", a profile file in
    # Docker's JSON format (read at evaluation) or the profile itself.
    seccomp =
      fn: arg: v:
      if v == "default" || v == "unconfined" then
        v
      else if isPath v || (isString v && builtins.substring 0 1 v == "/") then
        builtins.fromJSON (builtins.readFile v)
      else if isAttrs v && !(v ? outPath) then
        v
      else
        fail fn "'${arg}' must be \"default\", \"unconfined\", a profile file or a profile attribute set, got ${
          if isString v then "\"${v}\"" else describe v
        }";
    extraConfig = anyAttrs;
    rootless =
      let
        range = record [ "start" "count" ] {
          start = int;
          count = int;
        };
      in
      record [ "uid" "gid" ] {
        uid = int;
        gid = int;
        subUids = range;
        subGids = range;
      };
  };

  mountFields = [
    "type"
    "source"
    "options"
    "isFile"
  ];

  # A mount as nixpkgs' manual writes it: "/dest" = { type ? "none"; source; options ? [ ... ]; }.
  checkMount =
    fn: dest: m:
    let
      arg = "mounts.\"${dest}\"";
      unknown = filter (k: !(builtins.elem k mountFields)) (attrNames m);
    in
    if !(isAttrs m) then
      fail fn "'${arg}' must be an attribute set, got ${describe m}"
    else if unknown != [ ] then
      fail fn "'${arg}' has unknown attribute '${builtins.head unknown}' (known: ${concatStringsSep ", " mountFields})"
    else
      {
        destination = dest;
        type = checkType fn "${arg}.type" isString "a string" (m.type or "none");
      }
      // (if m ? source then { source = toStr (checkType fn "${arg}.source" isStringLike "a string" m.source); } else { })
      // (if m ? options then { options = checkStringList fn "${arg}.options" m.options; } else { })
      // (if m ? isFile then { isFile = checkType fn "${arg}.isFile" isBool "a boolean" m.isFile; } else { });

  # The process's command line from 'args' or 'cmd', checked.
  commandLine =
    fn: args: cmd:
    if cmd != null && args != null then
      fail fn "give either 'cmd' or 'args', not both"
    else if cmd != null then
      [ (toStr (checkType fn "cmd" isStringLike "a program (a string, path or derivation)" cmd)) ]
    else if args == null then
      fail fn "'args' (or 'cmd') is required: the program to run and its arguments"
    else
      let
        checked = checkStringList fn "args" args;
      in
      if checked == [ ] then fail fn "'args' must not be empty: the container needs a program to run" else checked;

  # The container options among the arguments, checked, without the unset ones.
  checkOptions =
    fn: given:
    builtins.listToAttrs (
      concatLists (
        map (
          k:
          if given ? ${k} && given.${k} != null then
            [
              {
                name = k;
                value = containerOptions.${k} fn k given.${k};
              }
            ]
          else
            [ ]
        ) (attrNames containerOptions)
      )
    );

  # The store paths the process mentions (its arguments, environment and
  # working directory): they and their closure go into the rootfs.
  processRoots =
    fn: processArgs: options:
    rootsOf fn (
      processArgs
      ++ builtins.attrValues (options.env or { })
      ++ (if options ? workingDir then [ options.workingDir ] else [ ])
      ++ (if options ? extraConfig then [ (builtins.toJSON (options.extraConfig.process or { })) ] else [ ])
    );

  # The derivation's name: 'name', or the first store path's name and a suffix.
  derivationName =
    fn: name: roots: suffix:
    if name != null then
      checkType fn "name" isString "a string" name
    else if roots != [ ] then
      "${unsafeDiscardStringContext (builtins.head roots).name}-${suffix}"
    else
      suffix;

  # The derivation with attributes nixpkgs users reach for, at its top
  # level and under passthru, as mkDerivation's passthru: only evaluation
  # sees them, the derivation (builtins only, no stdenv) does not change.
  withPassthru = passthru: drv: drv // passthru // { inherit passthru; };

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
      };
    in
    withPassthru
      {
        options = container;
        closureRoots = map (r: r.path) roots;
      }
      (derivation {
        name = derivationName fn name roots "container";
        inherit system container;
        builder = "${oci-builder}/bin/oci-builder";
        args = [ "nix-builder" ];
        __structuredAttrs = true;
        exportReferencesGraph.closure = map (r: r.path) roots;
        storeDir = builtins.storeDir;
      });

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
  buildImage =
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
      # Results of buildLayer: their layers come first, and the rest of the
      # closure goes into a layer derivation of its own, '<name>-layers'.
      layers ? [ ],
      created ? "1970-01-01T00:00:01Z",
      exposedPorts ? [ ],
      labels ? { },
      volumes ? [ ],
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
          compression = checkedCompression;
          name = imageName;
          roots = map (r: r.path) roots;
          # The /etc layer's.
          own = 1;
          budget = checkedMaxLayers - 1;
          verify = options.verify or null;
        };
        image = derivation (
          {
            name = imageName;
            inherit system container;
            builder = "${oci-builder}/bin/oci-builder";
            args = [ "nix-image-builder" ];
            __structuredAttrs = true;
            exportReferencesGraph.closure = map (r: r.path) roots;
            storeDir = builtins.storeDir;
            image = {
              tag = checkType fn "tag" isString "a string" tag;
              maxLayers = checkedMaxLayers;
              compression = checkedCompression;
              created = checkType fn "created" isString "a string" created;
              exposedPorts = map checkPort (checkType fn "exposedPorts" isList "a list of ports" exposedPorts);
              labels = checkLabels labels;
              volumes = checkStringList fn "volumes" volumes;
            };
          }
          // layered.attrs
        );
      in
      withPassthru (
        {
          options = container;
          closureRoots = map (r: r.path) roots;
          imageTag = tag;
          copyTo = copier image;
        }
        // layered.passthru
      ) image;

  # A layer derivation, the builder of buildLayer and of the layers of
  # buildImage's 'layers': the closure of 'roots' less the store paths of
  # 'layers' (checked buildLayer results, flattened: the whole stack) in at
  # most maxLayers layers.
  layerDerivation =
    {
      name,
      roots,
      layers,
      compression,
      maxLayers,
      verify,
    }:
    withPassthru
      {
        ociLayer = {
          inherit maxLayers compression;
          # The layer stack under this layer: every layer derivation below
          # it, transitively, lower layers first.
          layers = layers;
        };
      }
      (derivation {
        inherit name system;
        builder = "${oci-builder}/bin/oci-builder";
        args = [ "nix-layer-builder" ];
        __structuredAttrs = true;
        exportReferencesGraph.closure = roots;
        storeDir = builtins.storeDir;
        layer = {
          inherit compression maxLayers;
          layers = map toStr layers;
        }
        // (if verify != null then { inherit verify; } else { });
      });

  # The 'layers' argument of the image functions: a list of buildLayer
  # results.
  checkLayers =
    fn: layers:
    genList (
      i:
      let
        l = elemAt layers i;
      in
      if isAttrs l && l ? ociLayer && l ? outPath then
        l
      else
        fail fn "'layers[${toString i}]' must be a result of ociTools.buildLayer, got ${
          if isString l then "the string \"${l}\"" else describe l
        }"
    ) (length (checkType fn "layers" isList "a list of ociTools.buildLayer results" layers));

  # The layer stack of checked buildLayer results: each one's own stack
  # then itself, de-duplicated (first occurrence kept), so lower layers
  # come first.
  flattenLayers =
    layers:
    foldl' (acc: l: if builtins.any (a: toStr a == toStr l) acc then acc else acc ++ [ l ]) [ ] (
      builtins.concatMap (l: (l.ociLayer.layers or [ ]) ++ [ l ]) layers
    );

  # What an image with declared layers adds to its derivation: the declared
  # layers and, for the rest of its closure, a layer derivation of its own
  # ('<name>-layers'), which the image links instead of writing layers. With
  # no declared layers, nothing: the image writes its layers itself.
  imageLayers =
    {
      fn,
      name,
      roots,
      layers,
      compression,
      budget,
      # The image's own layers (/etc, contents), which budget leaves out.
      own,
      verify,
    }:
    let
      declared = flattenLayers (checkLayers fn layers);
      used = foldl' (n: l: n + l.ociLayer.maxLayers) 0 declared;
      rest = budget - used;
      auto = layerDerivation {
        name = "${name}-layers";
        inherit roots compression verify;
        layers = declared;
        maxLayers =
          if rest >= 1 then
            rest
          else
            fail fn "'maxLayers' leaves no layer for the closure: the declared layers (and the layers under them) may have ${toString used}, the image's own layers are ${toString own} and the rest of the closure needs 1: maxLayers must be at least ${
              toString (used + own + 1)
            }";
      };
    in
    if declared == [ ] then
      {
        attrs = { };
        passthru = { };
      }
    else
      {
        attrs.layerDerivations = map toStr (declared ++ [ auto ]);
        passthru = {
          layers = declared;
          closureLayers = auto;
        };
      };

  # A layer derivation of the closure of 'deps' less the store paths of
  # 'layers' (other buildLayer results), in at most 'maxLayers' layers
  # grouped by popularity as an image's: its output holds the blobs
  # (blobs/sha256/) and layers.json. Give it to buildImage's 'layers' so
  # that it is built once and shared by every version of the image.
  buildLayer =
    {
      deps ? [ ],
      layers ? [ ],
      compression ? "gzip",
      maxLayers ? 1,
      name ? null,
      verify ? null,
    }:
    let
      fn = "buildLayer";
      roots = rootsOf fn (checkStringList fn "deps" deps);
    in
    if roots == [ ] then
      fail fn "'deps' names no store path: a layer needs something to hold"
    else
      layerDerivation {
        name = derivationName fn name roots "layer";
        roots = map (r: r.path) roots;
        layers = flattenLayers (checkLayers fn layers);
        compression =
          if compression == "gzip" || compression == "zstd" then
            compression
          else
            fail fn "'compression' must be \"gzip\" or \"zstd\", got ${builtins.toJSON compression}";
        maxLayers =
          if builtins.isInt maxLayers && maxLayers >= 1 && maxLayers <= 125 then
            maxLayers
          else
            fail fn "'maxLayers' must be an integer from 1 to 125, got ${builtins.toJSON maxLayers}";
        verify = if verify == null then null else bool fn "verify" verify;
      };

  # A runnable copier of an image, as nix2container's copyToRegistry: two
  # links, bin/oci-builder-copy to oci-builder and image to the image;
  # `result/bin/oci-builder-copy DEST` (or `nix run .#image.copyTo --
  # DEST`) is `oci-builder copy IMAGE DEST`. No shell: oci-builder knows
  # its copier name (cmd/oci-builder/copier.go).
  copier =
    image:
    withPassthru { meta.mainProgram = "oci-builder-copy"; } (derivation {
      name = "${image.name}-copy-to";
      inherit system;
      builder = "${oci-builder}/bin/oci-builder";
      args = [
        "nix-copier-builder"
        "${image}"
        "${oci-builder}/bin/oci-builder"
      ];
    });

  # The arguments of nixpkgs' dockerTools.buildLayeredImage that need a
  # shell, refused with what to do instead.
  shellOnly = {
    extraCommands = "it runs a shell in the image's root, which this builder never does: put the files in a derivation (runCommand, writeTextDir) and add it to 'contents'";
    fakeRootCommands = "it runs a shell as fake root, which this builder never does: put the files in a derivation and add it to 'contents'; for users use buildImage's user/extraUsers, for /tmp its tmp";
    enableFakechroot = "it only serves fakeRootCommands, which are refused";
    runAsRoot = "it runs a shell in a VM, which this builder never does: put the files in a derivation and add it to 'contents'";
    fromImage = "base images are not supported: add what the base image gave (busybox, cacert, ...) to 'contents'";
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
      fromImage ? null,
    }@given:
    let
      shellDefaults = {
        extraCommands = "";
        fakeRootCommands = "";
        enableFakechroot = false;
        runAsRoot = null;
        fromImage = null;
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
          copyTo = copier drv;
        }
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
              tag = if tag == null then "" else checkType fn "tag" isString "a string" tag;
              maxLayers = checkedMaxLayers;
              inherit compression;
              created = checkType fn "created" isString "a string (RFC 3339, or \"now\")" created;
            };
            dockerCompat = {
              config = cfg;
              contents = contentsList;
              tagFromOutput = tag == null;
            };
          }
          // layered.attrs
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
    buildContainer
    buildImage
    buildLayeredImage
    streamLayeredImage
    buildLayer
    ;

  # Internal, not an API: the option names tests/options_test.go compares
  # with Go's options and the docs. The names of the checkers of container
  # options, and of the options buildImage refuses.
  _containerOptionNames = attrNames containerOptions;
  _imageRefusedOptionNames = attrNames runtimeOnly;
}
