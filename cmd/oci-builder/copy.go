package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/oci-builder/oci-builder/pkg/transport"
)

const copyUsage = `Usage: oci-builder copy [OPTIONS] SRC DEST

Copies the image SRC, as written by buildImage, buildLayeredImage or
oci-builder image, to DEST, named as skopeo names images:

  SRC   oci:DIR[:TAG] or DIR      an OCI image layout; TAG picks one of its
                                  images (default: its only image)
        oci-archive:FILE[:TAG], docker-archive:FILE[:REF] or FILE
                                  an archive with index.json (the
                                  dockerTools style's, Docker 25's docker
                                  save), its layout unpacked to a
                                  temporary directory
  DEST  docker://HOST/REPO:TAG    a registry
        oci:DIR[:TAG]             an image layout (created, or the image of
                                  TAG replaced; TAG defaults to SRC's)
        oci-archive:FILE          a tar of an image layout
        docker-archive:FILE[:REF] an archive for docker load, named REF

Every blob of SRC (manifest, configuration, layers) is checked against its
digest and size as it is read: a changed or damaged SRC fails the copy
before DEST shows anything of it. A registry receives only the layers it
lacks: the summary line on stderr says how many layers were uploaded and
how many it already had. Long uploads print a progress line about once a
second; transient network and server errors are retried. Archives and new
layouts are written beside their path and renamed into place when
complete; an existing archive is refused. Into an existing layout, each
blob is written to a new file and renamed into place, a blob already there
is checked before it is reused, and index.json is replaced last: a copy
that fails (no space left, SIGINT, SIGTERM) leaves the layout as it was.
DEST may not be in the Nix store. The image's SBOMs and provenance (the
artifacts of SRC whose subject is the image, checked as the image is) go
with it to a registry (through its referrers API, else under the tag
sha256-<digest>, OCI 1.1's fallback) and to layouts and oci-archives; a
docker-archive has no place for them. The manifest's digest is printed on
stdout.

Options:
  --insecure                plain HTTP and unverified TLS for the registry
  --dest-authfile FILE      the registry's credentials from FILE, in the
                            format of containers-auth.json (Docker's
                            config.json: "auths")
  --dest-username USER      with --dest-password-stdin: the registry's user,
  --dest-password-stdin     and its password (or token), read from the first
                            line of stdin
  --dest-creds USER:PASS    the credentials on the command line, where ps
                            shows them (a warning says so)
  --src-authfile FILE       accepted for skopeo's command lines and ignored
                            (SRC is a layout on this machine)
  Without credential options: $REGISTRY_AUTH_FILE, else ~/.docker/config.json
  or $DOCKER_CONFIG, else none.

Examples:
  oci-builder copy --dest-authfile ~/auth.json ./result docker://registry.example.org/hello:2.12
  printf '%s\n' "$TOKEN" | oci-builder copy --dest-username ci --dest-password-stdin ./result docker://registry.example.org/hello:2.12
  oci-builder copy oci:hello-image:2.12 docker-archive:hello.tar:hello:2.12

Exit status: 0 on success, 1 on an error, 2 on a usage error.`

// runCopy is `oci-builder copy`.
func runCopy(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var opts transport.Options
	fs.BoolVar(&opts.Insecure, "insecure", false, "")
	creds := addCredentialFlags(fs, "dest-")
	srcAuthFile := fs.String("src-authfile", "", "")
	// Options may come before, between or after SRC and DEST.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return &usageError{fmt.Sprintf("copy: %v", err)}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 2 {
		return &usageError{"copy: want SRC and DEST (oci-builder copy [OPTIONS] SRC DEST)"}
	}
	src, err := transport.ParseSource(pos[0])
	if err != nil {
		return &usageError{"copy: " + err.Error()}
	}
	dest, err := transport.ParseDestination(pos[1])
	if err != nil {
		return &usageError{"copy: " + err.Error()}
	}
	if err := creds.check("copy"); err != nil {
		return err
	}
	if *srcAuthFile != "" {
		fmt.Fprintf(e.stderr, "oci-builder: warning: --src-authfile %s is ignored: SRC is an image layout on this machine, read without credentials\n", *srcAuthFile)
	}
	if dest.Transport == transport.Docker {
		if err := creds.apply(&opts, e); err != nil {
			return err
		}
	}
	opts.Getenv = e.getenv
	opts.Log = e.stderr
	sum, err := transport.Copy(ctx, src, dest, opts)
	if err != nil {
		return err
	}
	docs := ""
	if sum.Referrers > 0 {
		docs = fmt.Sprintf("; %s attached (SBOMs, provenance)", plural(sum.Referrers, "document"))
	}
	if dest.Transport == transport.Docker {
		fmt.Fprintf(e.stderr, "oci-builder: copied %s to %s: %s, %d uploaded (%s), %d already in the registry%s\n",
			sum.Digest, dest, plural(sum.Layers, "layer"), sum.Uploaded, humanBytes(uint64(sum.UploadedBytes)), sum.Existed, docs)
	} else {
		fmt.Fprintf(e.stderr, "oci-builder: copied %s to %s: %s%s\n", sum.Digest, dest, plural(sum.Layers, "layer"), docs)
	}
	fmt.Fprintln(e.stdout, sum.Digest)
	return nil
}
