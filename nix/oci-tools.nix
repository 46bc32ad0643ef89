# ociTools backed by oci-builder.
#
# Takes nixpkgs' ociTools.buildContainer arguments (and more) and returns a
# derivation whose builder is the static oci-builder executable; its output
# is an OCI runtime bundle (config.json + rootfs/) for `runc run -b`.
# buildImage takes the same command line, the container options an image can
# carry and image settings, and makes an OCI image layout of the same
# closure, for registries, podman and Kubernetes.
#
# Only builtins are used, so this works from nixpkgs (callPackage supplies
# oci-builder) and with no nixpkgs at all:
#
#   (import ./nix/oci-tools.nix { oci-builder = ./dir/with/bin; }).buildContainer { ... }
#
# where oci-builder is a package or a directory containing bin/oci-builder.
{ oci-builder, ... }:
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

  # The system the derivations are built for.
  system = oci-builder.system or builtins.currentSystem;

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

  storePathPrefix = "(${escapeRegex builtins.storeDir}/[${nix32}]{32}-)";

  # The name part of a store path ("<storeDir>/<hash>-<name>").
  nameOf =
    p:
    let
      base = baseNameOf p;
    in
    substring 33 (stringLength base) base;

  # The store paths (whole paths, never sub-paths, as exportReferencesGraph
  # needs under structured attributes on Nix 2.4 to 2.21) that the strings
  # mention through their context, in order of first mention. A derivation
  # output's hash is not in the context, only the derivation's, so each
  # mention "<storeDir>/<hash>-<rest>" is matched against the names the
  # context allows, longest first ("hello-2.12-bin" before "hello-2.12").
  rootsOf =
    strings:
    let
      joined = concatStringsSep " " strings;
      context = getContext joined;
      drvName =
        p:
        let
          n = nameOf p;
        in
        substring 0 (stringLength n - 4) n;
      names = concatLists (
        map (
          p:
          let
            c = context.${p};
          in
          (if c.path or false || c.allOutputs or false then [ (nameOf p) ] else [ ])
          ++ map (o: if o == "out" then drvName p else "${drvName p}-${o}") (c.outputs or [ ])
        ) (attrNames context)
      );
      longestName =
        rest:
        foldl' (
          best: n:
          if stringLength n > stringLength best && substring 0 (stringLength n) rest == n then n else best
        ) "" names;
      pieces = split storePathPrefix (unsafeDiscardStringContext joined);
      mentions = genList (i: {
        prefix = builtins.head (elemAt pieces (2 * i + 1));
        rest = elemAt pieces (2 * i + 2);
      }) ((length pieces - 1) / 2);
      found = concatLists (
        map (
          m:
          let
            n = longestName m.rest;
          in
          if n == "" then [ ] else [ (m.prefix + n) ]
        ) mentions
      );
      firstMentions = foldl' (acc: p: if builtins.elem p acc then acc else acc ++ [ p ]) [ ] found;
    in
    map (p: appendContext p context) firstMentions;

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
    os = str;
    arch = str;
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
    processArgs: options:
    rootsOf (
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
      "${unsafeDiscardStringContext (nameOf (builtins.head roots))}-${suffix}"
    else
      suffix;

  buildContainer =
    {
      args ? null,
      cmd ? null,
      mounts ? { },
      os ? "linux",
      # nixpkgs' default is "x86_64" whatever the system; this is the CPU of
      # the system the derivation is built for ("x86_64" on x86_64-linux).
      arch ? builtins.head (split "-" system),
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
      roots = processRoots processArgs options;
    in
    derivation {
      name = derivationName fn name roots "container";
      inherit system;
      builder = "${oci-builder}/bin/oci-builder";
      args = [ "nix-builder" ];
      __structuredAttrs = true;
      exportReferencesGraph.closure = roots;
      storeDir = builtins.storeDir;
      container = options // {
        args = processArgs;
        mounts = checkedMounts;
      };
    };
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
      os ? "linux",
      # The CPU of the system the image is built for: "x86_64-linux" gives
      # "x86_64" (amd64).
      arch ? builtins.head (split "-" system),
      maxLayers ? 100,
      compression ? "gzip",
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
      # Refused, see runtimeOnly.
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
      refused = filter (k: given ? ${k} && given.${k} != null) (attrNames runtimeOnly);
      processArgs = commandLine fn args cmd;
      options = checkOptions fn ({ inherit os arch; } // given);
      roots = processRoots processArgs options;
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
      fail fn "'${k}' cannot be part of an image: ${runtimeOnly.${k}}"
    else
      derivation {
        name = derivationName fn name roots "image";
        inherit system;
        builder = "${oci-builder}/bin/oci-builder";
        args = [ "nix-image-builder" ];
        __structuredAttrs = true;
        exportReferencesGraph.closure = roots;
        storeDir = builtins.storeDir;
        container = options // {
          args = processArgs;
        };
        image = {
          tag = checkType fn "tag" isString "a string" tag;
          maxLayers =
            if !(builtins.isInt maxLayers) then
              fail fn "'maxLayers' must be an integer, got ${describe maxLayers}"
            else if maxLayers < 2 then
              fail fn "'maxLayers' must be at least 2 (the closure's layers and the /etc layer), got ${toString maxLayers}"
            else
              maxLayers;
          compression =
            if compression == "gzip" || compression == "zstd" then
              compression
            else
              fail fn "'compression' must be \"gzip\" or \"zstd\", got ${
                if isString compression then "\"${compression}\"" else describe compression
              }";
          created = checkType fn "created" isString "a string" created;
          exposedPorts = map checkPort (checkType fn "exposedPorts" isList "a list of ports" exposedPorts);
          labels = checkLabels labels;
          volumes = checkStringList fn "volumes" volumes;
        };
      };
in
{
  inherit buildContainer buildImage;

  # Internal, not an API: the option names tests/options_test.go compares
  # with Go's options and the docs. The names of the checkers of container
  # options, and of the options buildImage refuses.
  _containerOptionNames = attrNames containerOptions;
  _imageRefusedOptionNames = attrNames runtimeOnly;
}
