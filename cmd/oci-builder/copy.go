package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/transport"
)

// overridePlatform completes skopeo's --override-* flags: the OS defaults
// to linux, the architecture to this machine's, and Nix's names are
// accepted (aarch64, armv7l: arm variant v7).
func overridePlatform(p v1.Platform) (v1.Platform, error) {
	arch := p.Architecture
	if arch == "" {
		arch = runtime.GOARCH
	}
	osName, goArch, err := container.Platform(p.OS, arch)
	if err != nil {
		return p, err
	}
	variant := p.Variant
	if variant == "" {
		switch arch {
		case "armv5tel":
			variant = "v5"
		case "armv6l":
			variant = "v6"
		case "armv7l", "armv7a":
			variant = "v7"
		}
	}
	return v1.Platform{OS: osName, Architecture: goArch, Variant: variant}, nil
}

const copyUsage = `Usage: oci-builder copy [OPTIONS] SRC DEST

Copies the image (or image index) SRC to DEST, named as skopeo names
images:

  SRC   oci:DIR[:TAG] or DIR      an OCI image layout (buildImage's,
                                  buildImageIndex's); TAG picks one of its
                                  images (default: its only image)
        oci-archive:FILE[:TAG]    a tar of an image layout
        docker-archive:FILE[:NAME:TAG]
                                  a docker save archive (the dockerTools
                                  style's, Docker 25's; dockerTools' older
                                  ones, gzip- or zstd-compressed or not), or
                                  FILE alone
        docker://HOST/REPO:TAG    a registry's image (or REPO@DIGEST)
  DEST  docker://HOST/REPO:TAG    a registry
        oci:DIR[:TAG]             an image layout (created, or the image of
                                  TAG replaced; TAG defaults to SRC's)
        oci-archive:FILE[:TAG]    a tar of an image layout
        docker-archive:FILE[:NAME:TAG]
                                  an archive for docker load
        docker-daemon:NAME:TAG    a running Docker daemon ($DOCKER_HOST), or
                                  podman's Docker API with --podman

Every blob of SRC (manifest, configuration, layers) is checked against its
digest and size as it is read: a changed or damaged SRC fails the copy
before DEST shows anything of it; an archive SRC is read and checked whole
(every layer's DiffID, no entry leaving the root) first. An image index
(buildImageIndex) goes whole to a registry; a Docker archive or daemon gets
the image of one platform, as does a copy from a registry's index:
--override-arch (default: this machine's). A registry receives only the
layers it lacks: the summary line on stderr says how many layers were
uploaded and how many it already had. Long uploads print a progress line
about once a second; transient network and server errors are retried.
Archives and new layouts are written beside their path and renamed into
place when complete; an existing archive is refused. Into an existing
layout, each blob is written to a new file and renamed into place, a blob
already there is checked before it is reused, and index.json is replaced
last: a copy that fails (no space left, SIGINT, SIGTERM) leaves the layout
as it was. DEST may not be in the Nix store. The image's SBOMs and
provenance (the artifacts of a layout SRC whose subject is the image,
checked as the image is) go with it to a registry (through its referrers
API, else under the tag sha256-<digest>, OCI 1.1's fallback) and to
layouts and oci-archives; a docker-archive or a daemon has no place for
them. The manifest's (or index's) digest is printed on stdout.

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
  --src-authfile FILE       a registry SRC's credentials from FILE (ignored,
                            with a warning, for a layout or an archive)
  --override-os OS, --override-arch ARCH, --override-variant VARIANT
                            the platform to take from an index
  --podman                  docker-daemon: is podman's Docker API
                            ($CONTAINER_HOST, else /run/podman/podman.sock,
                            $XDG_RUNTIME_DIR/podman/podman.sock when not root)
  Without credential options: $REGISTRY_AUTH_FILE, else ~/.docker/config.json
  or $DOCKER_CONFIG, else none.

Examples:
  oci-builder copy --dest-authfile ~/auth.json ./result docker://registry.example.org/hello:2.12
  printf '%s\n' "$TOKEN" | oci-builder copy --dest-username ci --dest-password-stdin ./result docker://registry.example.org/hello:2.12
  oci-builder copy oci:hello-image:2.12 docker-archive:hello.tar:hello:2.12
  oci-builder copy ./result docker-daemon:hello:2.12

Exit status: 0 on success, 1 on an error, 2 on a usage error.`

// runCopy is `oci-builder copy`.
func runCopy(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var opts transport.Options
	fs.BoolVar(&opts.Insecure, "insecure", false, "")
	creds := addCredentialFlags(fs, "dest-")
	srcAuthFile := fs.String("src-authfile", "", "")
	fs.BoolVar(&opts.Daemon.Podman, "podman", false, "")
	var platform v1.Platform
	fs.StringVar(&platform.OS, "override-os", "", "")
	fs.StringVar(&platform.Architecture, "override-arch", "", "")
	fs.StringVar(&platform.Variant, "override-variant", "", "")
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
	if *srcAuthFile != "" && src.Transport != transport.Docker {
		fmt.Fprintf(e.stderr, "oci-builder: warning: --src-authfile %s is ignored: SRC is an image on this machine, read without credentials\n", *srcAuthFile)
	}
	if platform.OS != "" || platform.Architecture != "" || platform.Variant != "" {
		p, err := overridePlatform(platform)
		if err != nil {
			return &usageError{"copy: " + err.Error()}
		}
		opts.Platform = &p
	}
	if dest.Transport == transport.Docker {
		if err := creds.apply(&opts, e); err != nil {
			return err
		}
	} else if src.Transport == transport.Docker {
		// A registry SRC reads its credentials as a destination would.
		opts.AuthFile, opts.FlagPrefix = *srcAuthFile, "src-"
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
	switch dest.Transport {
	case transport.DockerDaemon:
		fmt.Fprintf(e.stderr, "oci-builder: copied %s to %s: %s, loaded as %s\n", sum.Digest, dest, plural(sum.Layers, "layer"), sum.Loaded)
	case transport.Docker:
		fmt.Fprintf(e.stderr, "oci-builder: copied %s to %s: %s, %d uploaded (%s), %d already in the registry%s\n",
			sum.Digest, dest, plural(sum.Layers, "layer"), sum.Uploaded, humanBytes(uint64(sum.UploadedBytes)), sum.Existed, docs)
	default:
		fmt.Fprintf(e.stderr, "oci-builder: copied %s to %s: %s%s\n", sum.Digest, dest, plural(sum.Layers, "layer"), docs)
	}
	return printResult(e.stdout, sum.Digest, fmt.Sprintf("the image is copied to %s", dest))
}
