# The closure roots of strings: every store path of their string context,
# found in their text (and the placeholders of content-addressed outputs).
scope:
let
  inherit (builtins)
    appendContext
    attrNames
    concatLists
    concatStringsSep
    elemAt
    filter
    genList
    getContext
    isList
    length
    listToAttrs
    split
    stringLength
    substring
    unsafeDiscardStringContext
    ;
  inherit (scope)
    fail
    nameOf
    unique
    ;

  # nix-base32 digits, the characters of a store path's hash part.
  nix32 = "0123456789abcdfghijklmnpqrsvwxyz";

  escapeRegex =
    builtins.replaceStrings
      [ "\\" "." "[" "]" "{" "}" "(" ")" "*" "+" "?" "^" "$" "|" ]
      [ "\\\\" "\\." "\\[" "\\]" "\\{" "\\}" "\\(" "\\)" "\\*" "\\+" "\\?" "\\^" "\\$" "\\|" ];

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
in
{
  inherit rootsOf;
}
