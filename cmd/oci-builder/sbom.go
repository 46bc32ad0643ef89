package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/oci-builder/oci-builder/pkg/sbom"
	"github.com/oci-builder/oci-builder/pkg/transport"
)

const sbomUsage = `Usage: oci-builder sbom [OPTIONS] IMAGE

Prints a document attached to an image (an OCI 1.1 artifact whose subject
is the image manifest, as every image oci-builder builds carries): by
default its CycloneDX 1.6 SBOM. IMAGE is

  oci:DIR[:TAG] or DIR            an image layout (buildImage's output)
  oci-archive:FILE or FILE        a tar of an image layout
  docker://HOST/REPO:TAG          a registry's image: its referrers API,
                                  else the sha256-<digest> fallback tag

An image index (buildImageIndex's) gives the document of its image for
this machine's platform, or the one --override-arch names.

Blobs read from a layout or an archive are checked against their digests.
Store paths are written with a character of their hash part as a JSON
\u escape (so that Nix registers no reference to them): read the document
with a JSON reader (jq), not grep.

Options:
  --format NAME             cyclonedx (default), spdx or provenance (the
                            SLSA provenance v1 in-toto statement)
  --insecure                plain HTTP and unverified TLS for the registry
  --override-os OS, --override-arch ARCH, --override-variant VARIANT
                            the platform whose image to take from an index
  --authfile FILE           the registry's credentials from FILE, in the
                            format of containers-auth.json (Docker's
                            config.json: "auths")
  --username USER           with --password-stdin: the registry's user,
  --password-stdin          and its password (or token), read from the first
                            line of stdin
  --creds USER:PASS         the credentials on the command line, where ps
                            shows them (a warning says so)
  Without credential options: $REGISTRY_AUTH_FILE, else ~/.docker/config.json
  or $DOCKER_CONFIG, else none.

Examples:
  oci-builder sbom ./result | jq '.components[].name'
  oci-builder sbom --format spdx docker://registry.example.org/hello:2.12 > hello.spdx.json
  grype sbom:<(oci-builder sbom ./result)

Exit status: 0 on success, 1 on an error (no such document included), 2 on
a usage error.`

// sbomFormats are --format's names and the documents' media types.
var sbomFormats = map[string]string{
	"cyclonedx":  sbom.CycloneDXType,
	"spdx":       sbom.SPDXType,
	"provenance": sbom.InTotoType,
}

// runSBOM is `oci-builder sbom`.
func runSBOM(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var opts transport.Options
	format := "cyclonedx"
	fs.StringVar(&format, "format", format, "")
	fs.BoolVar(&opts.Insecure, "insecure", false, "")
	var platform v1.Platform
	fs.StringVar(&platform.OS, "override-os", "", "")
	fs.StringVar(&platform.Architecture, "override-arch", "", "")
	fs.StringVar(&platform.Variant, "override-variant", "", "")
	creds := addCredentialFlags(fs, "")
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("sbom: %v", err)}
	}
	if platform.OS != "" || platform.Architecture != "" || platform.Variant != "" {
		p, err := overridePlatform(platform)
		if err != nil {
			return &usageError{"sbom: " + err.Error()}
		}
		opts.Platform = &p
	}
	if err := creds.check("sbom"); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &usageError{"sbom: want one IMAGE (oci-builder sbom [OPTIONS] IMAGE)"}
	}
	mediaType, ok := sbomFormats[format]
	if !ok {
		return &usageError{fmt.Sprintf("sbom: --format %q is not cyclonedx, spdx or provenance", format)}
	}
	ref, err := transport.ParseImage(fs.Arg(0))
	if err != nil {
		return &usageError{"sbom: " + err.Error()}
	}
	if ref.Transport == transport.Docker {
		if err := creds.apply(&opts, e); err != nil {
			return err
		}
	}
	opts.Getenv = e.getenv
	doc, err := transport.ReadDocument(ctx, ref, mediaType, opts)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(doc)
	return err
}
