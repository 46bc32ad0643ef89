# What the images' documents (SBOMs, provenance) learn at evaluation: the
# licences (meta.license) of the packages an image is given. Everything
# else they say comes from the closure graph, in the builder.
scope:
let
  inherit (builtins)
    concatMap
    filter
    isAttrs
    isList
    isString
    unsafeDiscardStringContext
    ;

  # One licence of meta.license as the builder takes it: nixpkgs' licence
  # attribute sets by their spdxId, else by name; a bare string (older
  # nixpkgs) by name.
  licenseEntry =
    l:
    if isAttrs l && isString (l.spdxId or null) then
      { spdxId = l.spdxId; }
    else if isAttrs l && isString (l.fullName or null) then
      { name = l.fullName; }
    else if isAttrs l && isString (l.shortName or null) then
      { name = l.shortName; }
    else if isString l then
      { name = l; }
    else
      null;

  # The licences of packages (anything else, a string or a path, has
  # none), for each of their outputs' store paths: a list of
  # { path; licenses; }, the paths without string context (they are in
  # the image's closure anyway).
  licensesOf =
    packages:
    concatMap (
      p:
      let
        given = if isAttrs p then p.meta.license or null else null;
        entries = filter (e: e != null) (map licenseEntry (if isList given then given else [ given ]));
        outputs =
          if isList (p.outputs or null) then
            map (o: p.${o}.outPath or null) p.outputs
          else
            [ (p.outPath or null) ];
      in
      if entries == [ ] then
        [ ]
      else
        map (o: {
          path = unsafeDiscardStringContext (toString o);
          licenses = entries;
        }) (filter (o: o != null) outputs)
    ) (if isList packages then packages else [ packages ]);

  # The image derivation's attribute for the licences (none when no
  # licence is known, so that such derivations stay as they were).
  sbomAttrs = licenses: if licenses == [ ] then { } else { sbom = { inherit licenses; }; };
in
{
  inherit
    licensesOf
    sbomAttrs
    ;
}
