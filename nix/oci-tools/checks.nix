# Argument checkers, the container options and their checks, mounts and
# the process's command line.
scope:
let
  inherit (builtins)
    attrNames
    concatLists
    concatStringsSep
    elemAt
    filter
    genList
    isAttrs
    isBool
    isList
    isPath
    isString
    length
    ;
  inherit (scope)
    archNames
    describe
    fail
    isStringLike
    rootsOf
    toStr
    ;

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

  # An image's date and time: ISO 8601 as dockerTools reads it (Python's
  # datetime.fromisoformat) and the builder too (pkg/image.ParseTime,
  # which also checks the ranges; no offset is UTC), or "now"; empty is
  # refused, saying what leaving it out gives.
  checkTime =
    fn: arg: v:
    let
      s = checkType fn arg isString "a string" v;
      date = "([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8})";
      time = "([0-9]{2}(:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?|[0-9]{2}([0-9]{2}([0-9]{2}([.,][0-9]+)?)?)?)";
      offset = "([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?";
    in
    if s == "" then
      fail fn "'${arg}' must not be empty: an ISO 8601 date and time, or \"now\" (leave it out for 1970-01-01T00:00:01Z)"
    else if s == "now" || builtins.match "${date}([Tt ]${time}${offset})?" s != null then
      s
    else
      fail fn "'${arg}' \"${s}\" is not an ISO 8601 date and time (like 2024-05-01T12:00:00Z, 2024-05-01 or 20240501) or \"now\"";

  # An architecture oci-builder accepts (GOARCH values and Nix's CPU
  # names, archNames), for buildContainer's and buildImage's 'arch',
  # dockerTools' 'architecture' and pullImage's 'arch'.
  checkArch =
    fn: arg: v:
    if builtins.elem (checkType fn arg isString "a string" v) archNames then
      v
    else
      fail fn "'${arg}' must be one of the architectures oci-builder accepts (${concatStringsSep ", " archNames}), got \"${v}\"";

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
    arch = checkArch;
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
in
{
  inherit
    checkArch
    checkStringList
    checkTime
    checkType
    bool
    containerOptions
    checkMount
    commandLine
    checkOptions
    processRoots
    ;
}
