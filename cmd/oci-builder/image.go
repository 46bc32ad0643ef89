package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
	"github.com/oci-builder/oci-builder/pkg/ociarchive"
	"github.com/oci-builder/oci-builder/pkg/sbom"
	"github.com/oci-builder/oci-builder/pkg/staging"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

const imageUsage = `Usage: oci-builder image --out DIR [OPTIONS] [--] PROGRAM [ARGS...]

Writes an OCI image layout (oci-layout, index.json, blobs/sha256/) to DIR:
the closure of every store path that PROGRAM, ARGS, --env values and
--workdir mention, one layer per store path (up to --max-layers), a layer
with /etc/passwd, /etc/group, the home and working directories and /tmp,
and Entrypoint PROGRAM, Cmd ARGS. The closure comes from the Nix daemon
(else nix path-info --json --recursive) or from --graph. DIR must not exist: the
image is written beside it and renamed into place when complete; on an
error or SIGINT/SIGTERM nothing is left behind. The manifest's digest is
printed on stdout.

Image options:
  --tag TAG                 reference name in index.json (default "latest")
  --max-layers N            at most N layers, 2 to 125 (default 100)
  --compression NAME        gzip (default) or zstd
  --created TIME            creation time, ISO 8601 (default 1970-01-01T00:00:01Z)
  --expose PORT[/PROTO]     exposed port, tcp (default), udp or sctp (repeatable)
  --label NAME=VALUE        label (repeatable)
  --volume PATH             volume mountpoint (repeatable)
  --from-image FILE         base image: its layers first, unchanged, its Env
                            under the image's (a docker-archive, compressed
                            or not, an OCI layout directory or an oci-archive)
  --from-image-name NAME, --from-image-tag TAG
                            pick the base among the images FILE holds

Container options an image carries (as for oci-builder bundle; the others
are decided by whoever runs the image):
  --options FILE            container options as JSON (flags override it)
  --env NAME=VALUE          environment variable (repeatable); PATH defaults
                            to the closure's bin directories
  --workdir DIR             working directory
  --user NAME|UID           process user (default root)
  --group NAME|GID          process group (default: the user's)
  --extra-user NAME=UID[:GID[:HOME]]     an /etc/passwd entry (repeatable)
  --extra-group NAME=GID[:MEMBER,...]    an /etc/group entry (repeatable)
  --no-tmp                  no /tmp
  --annotation KEY=VALUE    manifest annotation (repeatable)
  --os OS, --arch ARCH      platform (default linux and this machine's)
  --verify=BOOL             check every store path against the NAR hash of the
                            closure graph as its layer is written (default
                            true; a graph without hashes is written unchecked,
                            with a warning)

Other options:
  --out DIR                 the image layout to create (required)
  --graph FILE              closure graph: the JSON array of exportReferencesGraph
                            or nix path-info --json, or the text registration format
  --store-dir DIR           store directory (default: $NIX_STORE_DIR, $NIX_STORE, /nix/store)
  --jobs N                  layers written at once (default: one per CPU)

Examples:
  oci-builder image --out hello-image --tag 2.12 -- /nix/store/...-hello-2.12/bin/hello
  skopeo copy oci:hello-image:2.12 docker://registry.example.org/hello:2.12

Exit status: 0 on success, 1 on an error (interrupted included), 2 on a
usage error.`

// labelFlag is a repeatable NAME=VALUE flag.
type labelFlag map[string]string

func (l labelFlag) String() string { return "" }
func (l labelFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q is not NAME=VALUE", v)
	}
	l[name] = value
	return nil
}

// imageFlags are the command line of `oci-builder image`.
type imageFlags struct {
	out, graph, storeDir string
	jobs                 int
	container            container.Options
	image                image.Options
}

func parseImageFlags(args []string) (imageFlags, error) {
	var f imageFlags
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.out, "out", "", "")
	fs.StringVar(&f.graph, "graph", "", "")
	fs.StringVar(&f.storeDir, "store-dir", "", "")
	fs.IntVar(&f.jobs, "jobs", 0, "")
	fs.StringVar(&f.image.Tag, "tag", "", "")
	fs.IntVar(&f.image.MaxLayers, "max-layers", image.DefaultMaxLayers, "")
	fs.StringVar(&f.image.Compression, "compression", "", "")
	fs.StringVar(&f.image.Created, "created", "", "")
	fs.Var((*listFlag)(&f.image.ExposedPorts), "expose", "")
	labels := labelFlag{}
	fs.Var(labels, "label", "")
	fs.Var((*listFlag)(&f.image.Volumes), "volume", "")
	var from image.FromImage
	fs.StringVar(&from.Path, "from-image", "", "")
	fs.StringVar(&from.Name, "from-image-name", "", "")
	fs.StringVar(&from.Tag, "from-image-tag", "", "")
	var optionsFile string
	fs.StringVar(&optionsFile, "options", "", "")
	// The container options an image carries.
	check := containerFlags(fs, &f.container, "env", "annotation", "extra-user", "extra-group", "workdir", "user", "group", "os", "arch", "no-tmp", "verify")
	if err := parseWithOptionsFile(fs, args, &optionsFile, &f.container); err != nil {
		return f, err
	}
	if err := check(); err != nil {
		return f, err
	}
	if f.out == "" {
		return f, &usageError{"image: --out DIR is required"}
	}
	if fs.NArg() == 0 {
		return f, &usageError{"image: no PROGRAM given (oci-builder image --out DIR -- PROGRAM [ARGS...])"}
	}
	if f.image.MaxLayers < image.MinMaxLayers {
		return f, &usageError{fmt.Sprintf("image: --max-layers must be at least %d", image.MinMaxLayers)}
	}
	if f.jobs < 0 {
		return f, &usageError{"image: --jobs must not be negative"}
	}
	if len(labels) > 0 {
		f.image.Labels = labels
	}
	if from.Path != "" {
		f.image.FromImage = &from
	} else if from.Name != "" || from.Tag != "" {
		return f, &usageError{"image: --from-image-name and --from-image-tag need --from-image FILE"}
	}
	return f, nil
}

// runImage is `oci-builder image`.
func runImage(ctx context.Context, e env, args []string) error {
	f, err := parseImageFlags(args)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(f.out); err == nil {
		return fmt.Errorf("output directory %s already exists", f.out)
	}
	if err := refuseInStore(f.out, f.storeDir, e.getenv); err != nil {
		return err
	}
	g, err := closureGraph(ctx, e.getenv, f.graph, f.storeDir, f.container)
	if err != nil {
		return err
	}
	if err := openBase(ctx, e.stderr, f.container, &f.image); err != nil {
		return err
	}
	if f.image.Base != nil {
		defer f.image.Base.Close()
	}
	plan, err := image.NewPlan(g, f.container, f.image, bundle.HostStore{})
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(e.stderr, "oci-builder: warning: %s\n", w)
	}
	if err := checkImageStarts(plan); err != nil {
		return err
	}
	out, err := filepath.Abs(f.out)
	if err != nil {
		return err
	}
	builder, _ := os.Executable()
	plan.SBOM = &image.SBOMOptions{Name: filepath.Base(out), Build: sbom.Build{Out: out, Command: "image", Builder: builder, Version: version}}
	if err := writeImageAtomically(ctx, e, f.out, plan, f.jobs); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; removed the partial image: %w", err)
		}
		return err
	}
	return nil
}

// writeImageAtomically writes the image into a temporary directory beside
// out and renames it to out when it is complete; on failure it removes what
// it wrote.
func writeImageAtomically(ctx context.Context, e env, out string, plan *image.Plan, jobs int) (err error) {
	if err := removeStale(e, out); err != nil {
		return err
	}
	dir, err := staging.New(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dir.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	res, err := writeImage(ctx, e.stderr, dir.Path, plan, jobs)
	if err != nil {
		return err
	}
	if err := dir.Commit(); err != nil {
		return err
	}
	return printResult(e.stdout, res.Manifest.Digest.String(), "the image "+out+" is written")
}

// removeStale removes what killed runs for out left and says so.
func removeStale(e env, out string) error {
	removed, err := staging.RemoveStale(out)
	for _, p := range removed {
		fmt.Fprintf(e.stderr, "oci-builder: removed %s, left by a run that was killed\n", p)
	}
	return err
}

// runNixImageBuilder is the builder of buildImage's derivations:
// .attrs.json in, image layout out.
func runNixImageBuilder(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		return &usageError{"nix-image-builder takes no arguments"}
	}
	in, plan, err := readImagePlan(ctx, e)
	if err != nil {
		return err
	}
	defer plan.Close()
	if err := useLayerDerivations(e.stderr, in.attrs, plan); err != nil {
		return err
	}
	if plan.SBOM, err = builderSBOM(in, "nix-image-builder"); err != nil {
		return err
	}
	raw, ok := in.attrs.Raw("archive")
	if !ok {
		_, err = writeImage(ctx, e.stderr, in.out, plan, in.workers)
		return err
	}
	// The dockerTools style: one archive file (pkg/ociarchive).
	var aa archiveAttrs
	if err := strictjson.Unmarshal(raw, &aa); err != nil {
		return fmt.Errorf("archive attributes: %w", strictjson.DescribeOptionError(err))
	}
	// The documents name the image, not the file (NAME.tar).
	plan.SBOM.Name = path.Base(aa.Repository)
	repoTag := aa.Repository + ":" + plan.Tag
	if _, err := name.NewTag(repoTag); err != nil {
		return fmt.Errorf("the image reference %q (name and tag) is not valid for docker load: %w", repoTag, err)
	}
	if plan.Compression == layer.Zstd {
		fmt.Fprintf(e.stderr, "oci-builder: warning: the layers are zstd-compressed: Docker before 23 (docker load) cannot read them; podman, containerd and skopeo can\n")
	}
	tmp, err := os.MkdirTemp("", "oci-builder-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	layout := filepath.Join(tmp, "layout")
	res, err := writeImage(ctx, e.stderr, layout, plan, in.workers)
	if err != nil {
		return err
	}
	return writeArchive(in.out, ociarchive.Layout(layout), []ociarchive.Image{{Manifest: res.Manifest, RepoTag: repoTag, Referrers: res.Referrers}})
}

// archiveAttrs are what the dockerTools-style functions pass under
// "archive": the image's name in the archive.
type archiveAttrs struct {
	// Repository is the image's name (lowercased, a registry allowed).
	Repository string `json:"repository"`
}

// writeArchive writes the archive of images to out, a new file, mode 0444;
// on an error it removes what it wrote.
func writeArchive(out string, blobs ociarchive.Blobs, images []ociarchive.Image) error {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create the output: %w", err)
	}
	err = ociarchive.Write(f, blobs, images)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// builderSBOM is what an image derivation's documents say of its build:
// the derivation's name, system and builder, the closure's roots and the
// licences the Nix library passed under "sbom". Not the output path (see
// sbom.Build.Out).
func builderSBOM(in builderInput, command string) (*image.SBOMOptions, error) {
	o := &image.SBOMOptions{Build: sbom.Build{Command: command, Version: version, Roots: in.container.Roots}}
	var err error
	for _, f := range []struct {
		name string
		to   *string
	}{{"name", &o.Build.Derivation}, {"system", &o.Build.System}, {"builder", &o.Build.Builder}} {
		if *f.to, err = in.attrs.String(f.name); err != nil {
			return nil, err
		}
	}
	o.Name = o.Build.Derivation
	if raw, ok := in.attrs.Raw("sbom"); ok {
		var meta struct {
			Licenses []sbom.PathLicenses `json:"licenses"`
		}
		if err := strictjson.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("%s attribute \"sbom\": %w", nixbuild.AttrsFile, err)
		}
		o.Licenses = meta.Licenses
	}
	return o, nil
}

// readImagePlan reads the builder input of an image derivation (buildImage,
// buildLayeredImage, streamLayeredImage) and plans the image, reporting the
// plan's warnings.
func readImagePlan(ctx context.Context, e env) (builderInput, *image.Plan, error) {
	in, err := readBuilderInput(e)
	if err != nil {
		return in, nil, err
	}
	var iopts image.Options
	if raw, ok := in.attrs.Raw("image"); ok {
		if iopts, err = image.DecodeOptions(raw); err != nil {
			return in, nil, err
		}
	}
	if raw, ok := in.attrs.Raw("dockerCompat"); ok {
		// ociTools.buildLayeredImage, the dockerTools front end.
		if iopts.Compat, err = image.DecodeCompat(raw); err != nil {
			return in, nil, err
		}
		if err := iopts.Compat.LoadPipeline(); err != nil {
			return in, nil, err
		}
		if iopts.Compat.TagFromOutput {
			iopts.Tag = image.TagOfOutput(in.out)
		}
	}
	if err := openBase(ctx, e.stderr, in.container, &iopts); err != nil {
		return in, nil, err
	}
	plan, err := image.NewPlan(in.graph, in.container, iopts, bundle.HostStore{})
	if err != nil {
		if iopts.Base != nil {
			iopts.Base.Close()
		}
		return in, nil, err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(e.stderr, "oci-builder: warning: %s\n", w)
	}
	if iopts.Compat == nil {
		// buildImage's own style is `oci-builder image`'s, and refuses an
		// image that could not start as it does. dockerTools' style is not
		// judged: its program may come from contents, copyToRoot or the
		// commands of the customisation layer, as in dockerTools.
		if err := checkImageStarts(plan); err != nil {
			if iopts.Base != nil {
				iopts.Base.Close()
			}
			return in, nil, err
		}
	}
	if iopts.Compat != nil && iopts.Compat.Debug {
		// dockerTools' debug: how the closure was split.
		for i, l := range plan.Layers {
			fmt.Fprintf(e.stderr, "oci-builder: layer %d: %s\n", i+1, l.Describe())
			for _, p := range l.Paths {
				fmt.Fprintf(e.stderr, "oci-builder:   %s\n", p.Path)
			}
		}
	}
	return in, plan, nil
}

// openBase opens and verifies the base image iopts.FromImage names, if
// any, into iopts.Base.
func openBase(ctx context.Context, log io.Writer, c container.Options, iopts *image.Options) error {
	if iopts.FromImage == nil {
		return nil
	}
	platform, err := image.Platform(c)
	if err != nil {
		return err
	}
	start := time.Now()
	im, err := image.OpenBase(ctx, iopts.FromImage, platform)
	if err != nil {
		return err
	}
	var size int64
	for _, l := range im.Layers {
		size += l.Size
	}
	name := im.RepoTag
	if name == "" {
		name = "its image"
	}
	fmt.Fprintf(log, "oci-builder: base image %s (%s, %s): %s, %s, verified in %.2f s\n",
		iopts.FromImage.Path, im.Format, name, plural(len(im.Layers), "layer"), humanBytes(uint64(size)), time.Since(start).Seconds())
	iopts.Base = im
	return nil
}

// writeImage writes the plan to out, reporting progress on log.
func writeImage(ctx context.Context, log io.Writer, out string, plan *image.Plan, workers int) (image.Result, error) {
	workers = workerCount(workers, log)
	paths, total, verifying := describeLayers(plan.Layers, plan.Verify)
	fmt.Fprintf(log, "oci-builder: writing %s (%s) as %s compressed with %s, %s at once%s\n",
		plural(paths, "store path"), sizeOrUnknown(total), plural(len(plan.Layers), "layer"), plan.Compression, plural(workers, "layer"), verifying)
	res, err := image.Write(ctx, out, plan, image.WriteOptions{
		Workers: workers,
		Verify:  plan.Verify,
		Progress: func(p image.Progress) {
			rate := 0.0
			if secs := p.Elapsed.Seconds(); secs > 0 {
				rate = float64(p.Bytes) / secs
			}
			fmt.Fprintf(log, "oci-builder: %d/%d layers, %s of %s read, %s/s\n",
				p.LayersDone, p.Layers, humanBytes(uint64(p.Bytes)), sizeOrUnknown(total), humanBytes(uint64(rate)))
		},
	})
	if err != nil {
		return res, err
	}
	var tarSize, size, verified int64
	for _, l := range res.Layers {
		tarSize += l.TarSize
		size += l.Size
		verified += l.Verified
	}
	verifiedNote := "; not verified"
	if plan.Verify {
		verifiedNote = fmt.Sprintf("; verified %d of %d store paths against their NAR hashes", verified, paths)
	}
	fmt.Fprintf(log, "oci-builder: done: image %s (tag %s), %s, %s of tar compressed to %s (%s) in %.2f s%s\n",
		res.Manifest.Digest, plan.Tag, plural(len(res.Layers), "layer"), humanBytes(uint64(tarSize)), humanBytes(uint64(size)),
		plan.Compression, res.Elapsed.Seconds(), verifiedNote)
	return res, nil
}

// describeLayers counts the store paths of layers and their NAR size, and
// says whether they are verified, for the builders' first line.
func describeLayers(layers []image.LayerPlan, verify bool) (paths int, total uint64, verifying string) {
	for _, l := range layers {
		for _, p := range l.Paths {
			total += p.NarSize
			paths++
		}
	}
	if verify {
		verifying = ", verifying their NAR hashes"
	}
	return paths, total, verifying
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
