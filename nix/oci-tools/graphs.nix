# How a derivation gets the closure graph of its roots. Nix's structured
# export (exportReferencesGraph under __structuredAttrs) gives each path's
# NAR hash, which verification needs, but computes every path's closure
# size on the way: its cost grows with the sum of the closures' sizes, tens
# of seconds for a few thousand paths. A derivation that verifies nothing
# (and writes no SBOM, which gives the hashes too: containers and buildLayer)
# takes the text export instead, an order of magnitude cheaper, through a
# helper derivation without structured attributes (Nix gives the text
# format only to those), whose output it reads.
scope:
let
  inherit (builtins)
    concatLists
    elemAt
    genList
    length
    ;
  inherit (scope)
    oci-builder
    system
    ;

  # The helper: Nix writes the text graph of each root into the build
  # directory (closure0, closure1, ...) and `oci-builder nix-graph-builder`
  # writes their union to $out, one file.
  textGraph =
    name: roots:
    derivation {
      name = "${name}-closure";
      inherit system;
      builder = "${oci-builder}/bin/oci-builder";
      args = [ "nix-graph-builder" ];
      exportReferencesGraph = concatLists (
        genList (i: [
          "closure${toString i}"
          (elemAt roots i)
        ]) (length roots)
      );
    };

  # The attributes that give a derivation with __structuredAttrs (and
  # oci-builder as builder) the closure graph of 'roots' (whole store
  # paths): the structured export when 'hashes' (the builder verifies), the
  # text export through the helper '<name>-closure' otherwise.
  closureGraphAttrs =
    {
      name,
      roots,
      hashes,
    }:
    if hashes then
      { exportReferencesGraph.closure = roots; }
    else
      {
        closureGraph = {
          file = "${textGraph name roots}";
          inherit roots;
        };
      };
in
{
  inherit closureGraphAttrs;
}
