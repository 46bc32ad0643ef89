package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/transport"
)

const copyUsage = `Usage: oci-builder copy [OPTIONS] SRC DEST

Copies the image layout SRC, as written by buildImage or oci-builder image,
to DEST, named as skopeo names images:

  SRC   oci:DIR[:TAG] or DIR      an OCI image layout; TAG picks one of its
                                  images (default: its only image)
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
	creds := fs.String("dest-creds", "", "")
	fs.StringVar(&opts.AuthFile, "dest-authfile", "", "")
	user := fs.String("dest-username", "", "")
	passwordStdin := fs.Bool("dest-password-stdin", false, "")
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
	given := 0
	for _, set := range []bool{*creds != "", opts.AuthFile != "", *user != "" || *passwordStdin} {
		if set {
			given++
		}
	}
	switch {
	case given > 1:
		return &usageError{"copy: give one of --dest-creds, --dest-authfile and --dest-username with --dest-password-stdin"}
	case *user != "" && !*passwordStdin:
		return &usageError{"copy: --dest-username goes with --dest-password-stdin (the password is read from stdin, never from the command line)"}
	case *passwordStdin && *user == "":
		return &usageError{"copy: --dest-password-stdin goes with --dest-username USER"}
	}
	if *srcAuthFile != "" {
		fmt.Fprintf(e.stderr, "oci-builder: warning: --src-authfile %s is ignored: SRC is an image layout on this machine, read without credentials\n", *srcAuthFile)
	}
	if dest.Transport == transport.Docker {
		switch {
		case *creds != "":
			u, p, ok := strings.Cut(*creds, ":")
			if !ok || u == "" {
				return &usageError{"copy: --dest-creds: want USER:PASSWORD"}
			}
			opts.Username, opts.Password, opts.CredentialsFlag = u, p, "--dest-creds"
			fmt.Fprintln(e.stderr, "oci-builder: warning: --dest-creds puts the password on the command line, where ps and the shell's history show it: use --dest-authfile FILE, or --dest-username USER --dest-password-stdin")
		case *passwordStdin:
			p, err := readPassword(e.stdin)
			if err != nil {
				return err
			}
			opts.Username, opts.Password, opts.CredentialsFlag = *user, p, "--dest-username and --dest-password-stdin"
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

// readPassword reads a password from the first line of r (stdin), as
// docker login --password-stdin does: the line's end is not part of it.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		r = strings.NewReader("")
	}
	line, err := bufio.NewReader(io.LimitReader(r, readlimit.Credentials+1)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("--dest-password-stdin: read stdin: %w", err)
	}
	if len(line) > readlimit.Credentials {
		return "", fmt.Errorf("--dest-password-stdin: the first line of stdin is more than %s long", humanBytes(readlimit.Credentials))
	}
	p := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if p == "" {
		return "", errors.New("--dest-password-stdin: stdin holds no password (an empty first line, or nothing)")
	}
	return p, nil
}
