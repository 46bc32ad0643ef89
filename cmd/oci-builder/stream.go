package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/dockerarchive"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/store/local"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// streamCommand is the command a streamed image's "#!" line names.
const streamCommand = "stream-image"

const streamImageUsage = `Usage: oci-builder stream-image FILE

Writes the image that FILE describes to stdout as a docker-archive (what
docker save writes and docker load, podman load and skopeo's
docker-archive: read), its layers uncompressed. FILE is the output of
ociTools.streamLayeredImage, which runs this command through its first line
(#!.../bin/oci-builder stream-image), so that

  $(nix-build image.nix) | docker load
  $(nix-build image.nix) | podman load
  $(nix-build image.nix) > image.tar && skopeo copy docker-archive:image.tar oci:DIR:TAG

work. The layers are written from the store paths FILE names and checked
against the DiffIDs recorded when FILE was built: a store path that changed
fails the command before manifest.json is written, so no loader accepts the
partial archive. The same FILE always gives the same bytes. stdout must not
be a terminal.

FILE must name the local store directory ($NIX_STORE_DIR, else $NIX_STORE,
else /nix/store) and only store paths directly in it: a FILE naming any
other path is refused before anything is written.

Exit status: 0 on success, 1 on an error (a missing store path, a closed
stdout), 2 on a usage error.`

// runStreamImage is `oci-builder stream-image FILE`.
func runStreamImage(ctx context.Context, e env, args []string) error {
	if len(args) != 1 {
		return &usageError{"stream-image takes one FILE, the image's description (run the file itself: $(nix-build ...) | docker load)"}
	}
	data, err := readlimit.File(args[0], "a streamed image description", readlimit.Description)
	if err != nil {
		return fmt.Errorf("read the image description: %w", err)
	}
	d, err := dockerarchive.Decode(data, local.StoreDir(e.getenv))
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if f, ok := e.stdout.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios); err == nil {
			return fmt.Errorf("stdout is a terminal: pipe the image into docker load or podman load, or redirect it to a file")
		}
	}
	// A reader that stops (docker load failing, head) gives a write
	// error and one line, not a silent death by SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	defer signal.Reset(syscall.SIGPIPE)
	if err := dockerarchive.Stream(ctx, e.stdout, d); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		return err
	}
	return nil
}

// streamAttrs are what streamLayeredImage passes besides buildLayeredImage's
// attributes, under "stream".
type streamAttrs struct {
	// Repository is the image's name in manifest.json's RepoTags.
	Repository string `json:"repository"`
	// Interpreter is oci-builder's path: the output's first line is
	// "#!" Interpreter " stream-image".
	Interpreter string `json:"interpreter"`
}

// runNixStreamBuilder is the builder of streamLayeredImage's derivations:
// .attrs.json in, the image's description (an executable file) out.
// fromImageOf is what picks the plan's base image in its file again.
func fromImageOf(plan *image.Plan) image.FromImage {
	if plan.Base == nil {
		return image.FromImage{}
	}
	return *plan.FromImage
}

func runNixStreamBuilder(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		return &usageError{"nix-stream-builder takes no arguments"}
	}
	in, plan, err := readImagePlan(ctx, e)
	if err != nil {
		return err
	}
	defer plan.Close()
	raw, ok := in.attrs.Raw("stream")
	if !ok {
		return fmt.Errorf("no \"stream\" attribute: use nix/oci-tools.nix's streamLayeredImage to make the derivation")
	}
	var sa streamAttrs
	if err := strictjson.Unmarshal(raw, &sa); err != nil {
		return fmt.Errorf("stream attributes: %w", strictjson.DescribeOptionError(err))
	}
	interpreter := sa.Interpreter + " " + streamCommand
	if err := dockerarchive.CheckInterpreter(interpreter); err != nil {
		return err
	}
	repoTag := sa.Repository + ":" + plan.Tag
	if err := dockerarchive.CheckRepoTag(repoTag); err != nil {
		return err
	}
	workers := workerCount(in.workers, e.stderr)
	start := time.Now()
	verifying := ""
	if plan.Verify {
		verifying = ", verifying their NAR hashes"
	}
	fmt.Fprintf(e.stderr, "oci-builder: hashing %s of the image %s, %s at once%s\n",
		plural(len(plan.Layers), "layer"), repoTag, plural(workers, "layer"), verifying)
	d, err := dockerarchive.Describe(ctx, plan, repoTag, dockerarchive.DescribeOptions{Workers: workers, Verify: plan.Verify, FromImage: fromImageOf(plan)})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(in.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o555)
	if err != nil {
		return fmt.Errorf("create the output: %w", err)
	}
	w := bufio.NewWriter(f)
	err = dockerarchive.Encode(w, interpreter, d)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		// The umask may have taken bits away.
		err = os.Chmod(in.out, 0o555)
	}
	if err != nil {
		os.Remove(in.out)
		return fmt.Errorf("write %s: %w", in.out, err)
	}
	var size int64
	for _, l := range d.Layers {
		size += l.Size
	}
	fmt.Fprintf(e.stderr, "oci-builder: done: %s streams %s (%s of tar, uncompressed) in %.2f s\n",
		in.out, plural(len(d.Layers), "layer"), humanBytes(uint64(size)), time.Since(start).Seconds())
	return nil
}
