# dockerTools' layeringPipeline (buildLayeredImage, streamLayeredImage):
# the steps that split the image's closure into layers, checked for shape
# at evaluation, each error naming the step as the builder does
# (pkg/layering runs the pipeline, and checks it again). Store paths in it
# (packages, paths) become strings that keep their context.
scope:
let
  inherit (builtins)
    attrNames
    concatStringsSep
    elemAt
    genList
    head
    isAttrs
    isInt
    isList
    isString
    length
    tail
    ;
  inherit (scope)
    describe
    fail
    isStringLike
    toStr
    ;

  # Each operation and its number of arguments, as nixpkgs'
  # flatten_references_graph takes them.
  operations = {
    flatten = 0;
    limit_layers = 1;
    map = 1;
    over = 2;
    pipe = 1;
    popularity_contest = 0;
    remove_paths = 1;
    reverse = 0;
    split_every = 1;
    split_paths = 1;
    subcomponent_in = 1;
    subcomponent_out = 1;
  };

  # The pipeline, checked: a list of steps, or a file (a derivation or a
  # path) holding their JSON, which the builder reads.
  checkLayeringPipeline =
    fn: pipeline:
    let
      bad = loc: msg: fail fn "'layeringPipeline' step ${loc}: ${msg}";
      paths =
        loc: op: single: v:
        if single && isStringLike v then
          toStr v
        else if isList v then
          map (
            p:
            if isStringLike p then
              toStr p
            else
              bad loc "\"${op}\" takes a list of store paths, got an element that is ${describe p}"
          ) v
        else
          bad loc "\"${op}\" takes a list of store paths, got ${describe v}";
      splitSpecs =
        loc: v:
        if !(isList v) then
          bad loc "\"split_paths\" takes a list of store paths or { children_of = ...; }, got ${describe v}"
        else
          map (
            s:
            if isStringLike s then
              toStr s
            else if isAttrs s && attrNames s == [ "children_of" ] then
              { children_of = paths loc "split_paths" true s.children_of; }
            else
              bad loc "\"split_paths\" takes a list of store paths or { children_of = ...; }, got an element that is ${describe s}"
          ) v;
      step =
        loc: s:
        let
          op = head s;
          args = tail s;
          arg = head args;
        in
        if !(isList s) || s == [ ] || !(isString (head s)) then
          bad loc "must be a list whose first element names an operation (${concatStringsSep ", " (attrNames operations)}), got ${describe s}"
        else if !(operations ? ${op}) then
          bad loc "unknown operation \"${op}\" (known: ${concatStringsSep ", " (attrNames operations)})"
        else if length args != operations.${op} then
          bad loc "\"${op}\" takes ${toString operations.${op}} argument(s), got ${toString (length args)}"
        else
          [ op ]
          ++ (
            if op == "split_every" || op == "limit_layers" then
              [
                (
                  if isInt arg && arg >= 1 then
                    arg
                  else
                    bad loc "\"${op}\" takes a count, an integer of at least 1, got ${if isInt arg then toString arg else describe arg}"
                )
              ]
            else if op == "subcomponent_in" || op == "subcomponent_out" then
              [ (paths loc op false arg) ]
            else if op == "remove_paths" then
              [ (paths loc op true arg) ]
            else if op == "split_paths" then
              [ (splitSpecs loc arg) ]
            else if op == "over" then
              [
                (if isString arg then arg else bad loc "\"over\" takes a key (\"main\", \"common\" or \"rest\"), got ${describe arg}")
                (step "${loc}.1" (elemAt args 1))
              ]
            else if op == "map" then
              [ (step "${loc}.1" arg) ]
            else if op == "pipe" then
              [ (if isList arg then steps "${loc}." arg else bad loc "\"pipe\" takes a list of steps, got ${describe arg}") ]
            else
              [ ]
          );
      steps = prefix: l: genList (i: step "${prefix}${toString (i + 1)}" (elemAt l i)) (length l);
    in
    if isStringLike pipeline then
      toStr pipeline
    else if !(isList pipeline) then
      fail fn "'layeringPipeline' must be a list of steps (e.g. [ [ \"popularity_contest\" ] [ \"limit_layers\" 99 ] ]), or a file holding them as JSON, got ${describe pipeline}"
    else if pipeline == [ ] then
      fail fn "'layeringPipeline' is empty: it would leave the closure one graph, not layers (as in dockerTools, where it fails); give steps, e.g. [ [ \"popularity_contest\" ] [ \"limit_layers\" 99 ] ], or leave it out"
    else
      steps "" pipeline;
in
{
  inherit checkLayeringPipeline;
}
