package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
	"github.com/oci-builder/oci-builder/pkg/store"
)

const imageUsage = `Usage: oci-builder image --out DIR [OPTIONS] [--] PROGRAM [ARGS...]

Writes an OCI image layout (oci-layout, index.json, blobs/sha256/) to DIR:
the closure of every store path that PROGRAM and ARGS mention, one layer per
store path (up to --max-layers), with Entrypoint PROGRAM and Cmd ARGS. The
image is written beside DIR and renamed into place when complete; on an
error or an interrupt nothing is left behind. The manifest's digest is
printed on stdout.

Options:
  --out DIR              the image layout to create; it must not exist
  --graph FILE           the closure graph: the JSON array of
                         exportReferencesGraph or 'nix path-info --json', or
                         the text registration format; without it the local
                         store is asked ('nix path-info --json --recursive')
  --tag TAG              reference name in index.json (default "latest")
  --max-layers N         at most N layers, 1 to 125 (default 100)
  --compression NAME     gzip (default) or zstd
  --created TIME         creation time, RFC 3339 (default 1970-01-01T00:00:01Z)
  --expose PORT[/PROTO]  exposed port, tcp (default), udp or sctp; repeatable
  --label NAME=VALUE     label; repeatable
  --volume PATH          volume mountpoint; repeatable
  --os OS                operating system (default linux)
  --arch ARCH            GOARCH or Nix name (default: this machine's)
  --jobs N               layers written at once (default: the number of CPUs)

Examples:
  oci-builder image --out hello-image -- /nix/store/...-hello-2.12/bin/hello
  skopeo copy oci:hello-image:latest docker://registry.example/hello:latest`

// imageFlags are the command line of `oci-builder image`.
type imageFlags struct {
	out, graph string
	jobs       int
	container  bundle.Options
	image      image.Options
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

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

func parseImageFlags(args []string) (imageFlags, error) {
	var f imageFlags
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.out, "out", "", "")
	fs.StringVar(&f.graph, "graph", "", "")
	fs.StringVar(&f.image.Tag, "tag", "", "")
	fs.IntVar(&f.image.MaxLayers, "max-layers", image.DefaultMaxLayers, "")
	fs.StringVar(&f.image.Compression, "compression", "", "")
	fs.StringVar(&f.image.Created, "created", "", "")
	fs.Var((*stringList)(&f.image.ExposedPorts), "expose", "")
	labels := labelFlag{}
	fs.Var(labels, "label", "")
	fs.Var((*stringList)(&f.image.Volumes), "volume", "")
	fs.StringVar(&f.container.OS, "os", "", "")
	fs.StringVar(&f.container.Arch, "arch", "", "")
	fs.IntVar(&f.jobs, "jobs", 0, "")
	if err := fs.Parse(args); err != nil {
		return f, &usageError{"image: " + err.Error()}
	}
	if len(labels) > 0 {
		f.image.Labels = labels
	}
	f.container.Args = fs.Args()
	if f.out == "" {
		return f, &usageError{"image: --out DIR is required"}
	}
	if len(f.container.Args) == 0 {
		return f, &usageError{"image: no PROGRAM given (oci-builder image --out DIR -- PROGRAM [ARGS...])"}
	}
	if f.image.MaxLayers < 1 {
		return f, &usageError{"image: --max-layers must be at least 1"}
	}
	if f.jobs < 0 {
		return f, &usageError{"image: --jobs must not be negative"}
	}
	return f, nil
}

// runImage is `oci-builder image`.
func runImage(ctx context.Context, e env, args []string) error {
	f, err := parseImageFlags(args)
	if err != nil {
		return err
	}
	var g *store.Graph
	if f.graph != "" {
		data, err := os.ReadFile(f.graph)
		if err != nil {
			return fmt.Errorf("read closure graph: %w", err)
		}
		if g, err = store.Parse(data, ""); err != nil {
			return fmt.Errorf("%s: %w", f.graph, err)
		}
	} else {
		if g, err = localGraph(ctx, e, f.container.Args); err != nil {
			return err
		}
	}
	plan, err := image.NewPlan(g, f.container, f.image)
	if err != nil {
		return err
	}
	return writeImageAtomically(ctx, e, f.out, plan, f.jobs)
}

// localGraph asks the local Nix store for the closure of the store paths
// that args mention.
func localGraph(ctx context.Context, e env, args []string) (*store.Graph, error) {
	storeDir := e.getenv("NIX_STORE_DIR")
	if storeDir == "" {
		storeDir = "/nix/store"
	}
	var roots []string
	for _, a := range args {
		roots = append(roots, store.Mentions(a, storeDir)...)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("the arguments mention no store path in %s: the image would have an empty filesystem", storeDir)
	}
	cmdArgs := append([]string{"--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive", "--"}, roots...)
	cmd := exec.CommandContext(ctx, "nix", cmdArgs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("nix path-info: %s", msg)
	}
	g, err := store.ParsePathInfo(stdout.Bytes(), storeDir)
	if err != nil {
		return nil, fmt.Errorf("nix path-info: %w", err)
	}
	return g, nil
}

// writeImageAtomically writes the image into a temporary directory beside
// out and renames it to out when it is complete; on failure it removes what
// it wrote.
func writeImageAtomically(ctx context.Context, e env, out string, plan *image.Plan, jobs int) error {
	out = filepath.Clean(out)
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("output %s already exists", out)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return fmt.Errorf("create temporary directory beside %s: %w", out, err)
	}
	defer os.RemoveAll(tmp)
	staged := filepath.Join(tmp, "image")
	res, err := writeImage(ctx, e.stderr, staged, plan, jobs)
	if err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, staged, unix.AT_FDCWD, out, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("output %s already exists", out)
		}
		return fmt.Errorf("move the image to %s: %w", out, err)
	}
	fmt.Fprintln(e.stdout, res.Manifest.Digest)
	return nil
}

// runNixImageBuilder is the builder of buildImage's derivations:
// .attrs.json in, image layout out.
func runNixImageBuilder(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		return &usageError{"nix-image-builder takes no arguments"}
	}
	attrs, out, storeDir, err := readBuilderAttrs(e)
	if err != nil {
		return err
	}
	rawContainer, ok := attrs.Raw("container")
	if !ok {
		return fmt.Errorf("%s has no \"container\" attribute: use nix/oci-tools.nix to make the derivation", nixbuild.AttrsFile)
	}
	copts, err := bundle.DecodeOptions(rawContainer)
	if err != nil {
		return err
	}
	var iopts image.Options
	if raw, ok := attrs.Raw("image"); ok {
		if iopts, err = image.DecodeOptions(raw); err != nil {
			return err
		}
	}
	graph, err := attrs.Graph(storeDir)
	if err != nil {
		return err
	}
	workers, err := nixbuild.Cores(e.getenv)
	if err != nil {
		return err
	}
	plan, err := image.NewPlan(graph, copts, iopts)
	if err != nil {
		return err
	}
	_, err = writeImage(ctx, e.stderr, out, plan, workers)
	return err
}

// readBuilderAttrs finds and reads .attrs.json, and returns it with the
// output path and the store directory.
func readBuilderAttrs(e env) (*nixbuild.Attrs, string, string, error) {
	attrsPath, err := nixbuild.FindAttrs(e.getenv)
	if err != nil {
		return nil, "", "", err
	}
	attrs, err := nixbuild.ReadAttrs(attrsPath)
	if err != nil {
		return nil, "", "", err
	}
	out, err := attrs.Output("out")
	if err != nil {
		return nil, "", "", err
	}
	storeDir, err := attrs.String("storeDir")
	if err != nil {
		return nil, "", "", err
	}
	if storeDir == "" {
		storeDir = e.getenv("NIX_STORE")
	}
	return attrs, out, storeDir, nil
}

// writeImage writes the plan to out, reporting progress on log.
func writeImage(ctx context.Context, log io.Writer, out string, plan *image.Plan, workers int) (image.Result, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var total uint64
	paths := 0
	for _, l := range plan.Layers {
		for _, p := range l.Paths {
			total += p.NarSize
			paths++
		}
	}
	fmt.Fprintf(log, "oci-builder: writing %s (%s) as %s compressed with %s, %s at once\n",
		plural(paths, "store path"), sizeOrUnknown(total), plural(len(plan.Layers), "layer"), plan.Compression, plural(workers, "layer"))
	res, err := image.Write(ctx, out, plan, image.WriteOptions{
		Workers: workers,
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
	var tarSize, size int64
	for _, l := range res.Layers {
		tarSize += l.TarSize
		size += l.Size
	}
	fmt.Fprintf(log, "oci-builder: done: image %s (tag %s), %s, %s of tar compressed to %s (%s) in %.2f s\n",
		res.Manifest.Digest, plan.Tag, plural(len(res.Layers), "layer"), humanBytes(uint64(tarSize)), humanBytes(uint64(size)),
		plan.Compression, res.Elapsed.Seconds())
	return res, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
