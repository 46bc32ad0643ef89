# ociTools backed by oci-builder.
#
# Takes nixpkgs' ociTools.buildContainer arguments (and more) and returns a
# derivation whose builder is the static oci-builder executable; its output
# is an OCI runtime bundle (config.json + rootfs/) for `runc run -b`.
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

  storeModes = [
    "copy"
    "reflink"
    "hardlink"
    "bind"
  ];

  checkStoreMode =
    fn: v:
    let
      allowed = concatStringsSep ", " (map (m: "\"${m}\"") storeModes);
    in
    if !(isString v) then
      fail fn "'storeMode' must be one of ${allowed}, got ${describe v}"
    else if !(builtins.elem v storeModes) then
      fail fn "'storeMode' must be one of ${allowed}, got \"${v}\""
    else
      v;

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

  buildContainer =
    {
      args ? null,
      cmd ? null,
      mounts ? { },
      os ? "linux",
      arch ? "x86_64",
      readonly ? false,
      name ? null,
      storeMode ? "copy",
    }:
    let
      fn = "buildContainer";
      processArgs =
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
      checkedMounts = map (dest: checkMount fn dest mounts.${dest}) (
        attrNames (checkType fn "mounts" isAttrs "an attribute set of mounts" mounts)
      );
      roots = rootsOf processArgs;
      drvName =
        if name != null then
          checkType fn "name" isString "a string" name
        else if roots != [ ] then
          "${unsafeDiscardStringContext (nameOf (builtins.head roots))}-container"
        else
          "container";
    in
    derivation {
      name = drvName;
      system = oci-builder.system or builtins.currentSystem;
      builder = "${oci-builder}/bin/oci-builder";
      args = [ "nix-builder" ];
      __structuredAttrs = true;
      exportReferencesGraph.closure = roots;
      storeDir = builtins.storeDir;
      container = {
        args = processArgs;
        mounts = checkedMounts;
        readonly = checkType fn "readonly" isBool "a boolean" readonly;
        os = checkType fn "os" isString "a string" os;
        arch = checkType fn "arch" isString "a string" arch;
        storeMode = checkStoreMode fn storeMode;
      };
    };
in
{
  inherit buildContainer;
}
