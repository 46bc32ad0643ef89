# Images from outside: base images (fromImage), pulled images (pullImage)
# and images of several platforms (buildImageIndex).
scope:
let
  inherit (builtins)
    attrNames
    concatStringsSep
    elem
    filter
    hasContext
    isAttrs
    isBool
    isList
    isString
    match
    replaceStrings
    ;
  inherit (scope)
    checkArch
    checkName
    checkTag
    checkType
    copiers
    defaultArch
    describe
    fail
    imageNameRule
    isImageName
    isStringLike
    isTag
    oci-builder
    system
    tagRule
    toStr
    withPassthru
    ;

  # The "fromImage" of an image's options, from dockerTools' fromImage,
  # fromImageName and fromImageTag: { } without a base image. The base is
  # a docker-archive (dockerTools' results, pullImage's, docker save), an
  # OCI layout directory (buildImage's) or an oci-archive; its string
  # context makes it an input of the derivation.
  fromImageOptions =
    fn:
    {
      fromImage ? null,
      fromImageName ? null,
      fromImageTag ? null,
      ...
    }:
    if fromImage == null then
      if fromImageName != null || fromImageTag != null then
        fail fn "'fromImageName' and 'fromImageTag' pick the base image in 'fromImage', which is not set"
      else
        { }
    else if !(isStringLike fromImage) then
      fail fn "'fromImage' must be an image (a derivation or a path: a docker-archive, an OCI layout or an oci-archive), got ${describe fromImage}"
    else if isString fromImage && !(hasContext fromImage) then
      fail fn "'fromImage' is the string \"${fromImage}\", which names no store path the build can read: give a path (./image.tar, which Nix copies into the store) or a derivation"
    else if isAttrs fromImage && fromImage.isExe or false then
      fail fn "'fromImage' is a streamLayeredImage result, a program that writes an image, not an image: use buildLayeredImage for the base"
    else
      {
        fromImage = {
          path = toStr fromImage;
        }
        // (
          if fromImageName != null then
            { name = checkType fn "fromImageName" isString "a string" fromImageName; }
          else
            { }
        )
        // (
          if fromImageTag != null then { tag = checkType fn "fromImageTag" isString "a string" fromImageTag; } else { }
        );
      };

  # dockerTools' names of the archive pullImage writes (an IPv6
  # registry's brackets left out: a store path cannot hold them).
  fixName = replaceStrings [ "/" ":" "[" "]" ] [ "-" "-" "" "" ];

  # dockerTools.pullImage's arguments and result: a fixed-output
  # derivation fetching imageName@imageDigest (the platform's image of an
  # index) with oci-builder's own client, no skopeo and no shell, into a
  # docker-archive named finalImageName:finalImageTag, its layers as the
  # registry has them. Credentials are read as oci-builder copy reads them
  # ($REGISTRY_AUTH_FILE, $DOCKER_CONFIG, passed through as impure
  # variables: the file must be readable in the build's sandbox).
  pullImage =
    # Formals for builtins.functionArgs (as nixpkgs' pullImage has them);
    # the checks below say what is missing or wrong, naming it.
    {
      imageName ? null,
      imageDigest ? null,
      sha256 ? null,
      hash ? null,
      os ? null,
      arch ? null,
      finalImageName ? null,
      finalImageTag ? null,
      tlsVerify ? null,
      name ? null,
      # nixpkgs' pullImage takes these too (lib.fetchers.withNormalizedHash).
      outputHash ? null,
      outputHashAlgo ? null,
      ...
    }@args:
    let
      fn = "pullImage";
      str = arg: checkType fn arg isString "a string";
      known = attrNames (builtins.functionArgs pullImage);
      unknown = filter (k: !(elem k known)) (attrNames args);
      required =
        arg: what: if args ? ${arg} then args.${arg} else fail fn "'${arg}' is required: ${what}";
      # A repository as the registry names it (no tag, no digest).
      repository =
        arg: v:
        if isImageName (str arg v) then
          v
        else
          fail fn "'${arg}' \"${v}\" is not a valid image name (${imageNameRule}; no tag or digest)";
      imageName = repository "imageName" (
        required "imageName" "the image's repository, as docker.io/library/nginx"
      );
      imageDigest =
        let
          d = str "imageDigest" (
            required "imageDigest" "the digest (sha256:...) of the image, or of its index, which `skopeo inspect docker://IMAGE` prints"
          );
        in
        if match "sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128}" d != null then
          d
        else
          fail fn "'imageDigest' \"${d}\" is not a digest: sha256: and 64 lowercase hexadecimal digits (or sha384: and 96, sha512: and 128)";
      finalImageName = repository "finalImageName" (args.finalImageName or imageName);
      finalImageTag =
        let
          t = args.finalImageTag or "latest";
        in
        if isTag (str "finalImageTag" t) then
          t
        else
          fail fn "'finalImageTag' \"${t}\" is not a valid tag (${tagRule})";
      os =
        let
          o = args.os or "linux";
        in
        if str "os" o == "linux" then
          o
        else
          fail fn "'os' must be \"linux\" (oci-builder pulls Linux images), got \"${o}\"";
      arch = if args ? arch then checkArch fn "arch" args.arch else defaultArch fn;
      name =
        if args ? name then
          str "name" args.name
        else
          fixName "docker-image-${finalImageName}-${finalImageTag}.tar";
      # An SRI hash (sha256-BASE64) or one with its type (sha256:...).
      typed = h: match "(md5|sha1|sha256|sha512)[-:].+" h != null;
      hashes = filter (k: args.${k} or null != null) [
        "hash"
        "sha256"
        "outputHash"
      ];
      outputHashAttrs =
        if builtins.length hashes > 1 then
          fail fn "give one of 'hash', 'sha256' and 'outputHash', not several ('${builtins.head hashes}' and '${builtins.elemAt hashes 1}' are given)"
        else if hash != null then
          # "" is nixpkgs' fake hash: a first build prints the right one.
          if str "hash" hash == "" then
            {
              outputHash = "";
              outputHashAlgo = "sha256";
            }
          else if typed hash then
            { outputHash = hash; }
          else
            fail fn "'hash' \"${hash}\" names no hash type: give an SRI hash (sha256-...), or the bare hash as 'sha256'"
        else if sha256 != null then
          {
            outputHash = str "sha256" sha256;
            outputHashAlgo = "sha256";
          }
        else if outputHash != null then
          if outputHashAlgo != null then
            {
              outputHash = str "outputHash" outputHash;
              outputHashAlgo = str "outputHashAlgo" outputHashAlgo;
            }
          else if typed (str "outputHash" outputHash) then
            { inherit outputHash; }
          else
            fail fn "'outputHash' \"${outputHash}\" names no hash type: give an SRI hash (sha256-...), or 'outputHashAlgo'"
        else
          fail fn "'hash' (or 'sha256') is required: the hash of the archive, which a first build with lib.fakeHash prints";
      drv = derivation (
        {
          inherit name system;
          builder = "${oci-builder}/bin/oci-builder";
          args = [ "nix-pull-builder" ];
          __structuredAttrs = true;
          outputHashMode = "flat";
          pull = {
            inherit
              imageName
              imageDigest
              finalImageName
              finalImageTag
              os
              arch
              ;
            tlsVerify = checkType fn "tlsVerify" isBool "a boolean" (args.tlsVerify or true);
          };
          impureEnvVars = [
            "http_proxy"
            "https_proxy"
            "ftp_proxy"
            "all_proxy"
            "no_proxy"
            "HTTP_PROXY"
            "HTTPS_PROXY"
            "NO_PROXY"
            "REGISTRY_AUTH_FILE"
            "DOCKER_CONFIG"
          ];
        }
        // outputHashAttrs
      );
    in
    if unknown != [ ] then
      fail fn "'${builtins.head unknown}' is not an argument of dockerTools.pullImage (nor of this one: ${concatStringsSep ", " known})"
    else
      withPassthru {
        imageName = finalImageName;
        imageTag = finalImageTag;
        inherit imageDigest;
      } drv;

  # One OCI image index over images of several platforms (buildImage's,
  # buildLayeredImage's, pkgsCross.X.ociTools' included), each entry with
  # its image's platform: os, architecture and variant. The result is an
  # OCI image layout whose index.json names the index, tagged 'tag'; `oci-builder
  # copy` pushes it with all its images.
  buildImageIndex =
    {
      name,
      tag ? "latest",
      images,
    }:
    let
      fn = "buildImageIndex";
      checked =
        if !(isList images) || images == [ ] then
          fail fn "'images' must be a non-empty list of images, got ${describe images}"
        else
          map (
            i:
            if isStringLike i && !(isAttrs i && i.isExe or false) then
              toStr i
            else
              fail fn "'images' must be images (buildImage's or buildLayeredImage's results, OCI layouts or archives; a streamLayeredImage result is a program, not an image), got ${describe i}"
          ) images;
      # The image's name and tag, checked as the images' are (the name
      # lowercased, as dockerTools does); the tag is never null: the
      # index is named by it.
      imageName = checkName fn name;
      imageTag =
        if tag == null then fail fn "'tag' must be a string, got null" else checkTag fn tag;
      drv = derivation {
        name = builtins.seq imageName (baseNameOf name);
        inherit system;
        builder = "${oci-builder}/bin/oci-builder";
        args = [ "nix-index-builder" ];
        __structuredAttrs = true;
        index = {
          tag = imageTag;
          images = checked;
        };
      };
    in
    withPassthru (
      {
        inherit imageName imageTag;
      }
      // copiers drv "${imageName}:${imageTag}"
    ) drv;

  # dockerTools.exportImage: the file system of fromImage (its layers
  # applied in order, whiteouts honoured) as one tar, entries ./NAME with
  # numeric owners, the layers' modes and hard links; oci-builder writes
  # it, with no VM (diskSize is accepted and ignored). The result is
  # named as dockerTools': fromImage's name.
  exportImage =
    given:
    let
      fn = "exportImage";
      known = [
        "name"
        "fromImage"
        "fromImageName"
        "fromImageTag"
        "diskSize"
      ];
      args = checkType fn "arguments" (
        v: isAttrs v && !(v ? outPath)
      ) "an attribute set ({ fromImage = image; }), not the image itself" given;
      unknown = builtins.filter (k: !(builtins.elem k known)) (builtins.attrNames args);
      fromImage =
        given.fromImage or (fail fn "'fromImage' is required: the image whose file system to export (a buildImage or buildLayeredImage result, a pullImage result, an OCI layout or an archive)");
      from = fromImageOptions fn given;
      name =
        if given ? name then
          checkType fn "name" isString "a string" given.name
        else if isAttrs fromImage && fromImage ? name then
          fromImage.name
        else
          # The file's name (a store path's without its hash): a
          # derivation's name may not refer to a store path.
          let
            base = baseNameOf (builtins.unsafeDiscardStringContext (toStr fromImage));
            stored = builtins.match "[0-9a-z]{32}-(.+)" base;
          in
          if stored == null then base else builtins.head stored;
    in
    if unknown != [ ] then
      fail fn "'${builtins.head unknown}' is not an argument of dockerTools.exportImage (nor of this one: ${builtins.concatStringsSep ", " known})"
    else if given ? diskSize && !(builtins.isInt given.diskSize) then
      fail fn "'diskSize' must be an integer (MiB; accepted and ignored: there is no VM), got ${describe given.diskSize}"
    else
      assert fromImage != null || fail fn "'fromImage' must be an image, got null";
      # fromImage checked before the name is taken of it.
      builtins.seq from derivation {
        inherit name system;
        builder = "${oci-builder}/bin/oci-builder";
        args = [ "nix-export-builder" ];
        __structuredAttrs = true;
        export = from;
      };
in
{
  inherit
    fromImageOptions
    pullImage
    buildImageIndex
    exportImage
    ;
}
