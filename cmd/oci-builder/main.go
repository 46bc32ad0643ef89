// Command oci-builder builds OCI runtime bundles and OCI images from Nix
// store closures.
//
// As the builder of a derivation made by nix/oci-tools.nix it reads the
// structured attributes Nix provides and writes the bundle or the image
// layout to $out:
//
//	oci-builder nix-builder
//	oci-builder nix-image-builder
//
// On the command line it writes the image of a program's closure:
//
//	oci-builder image --out DIR -- /nix/store/...-hello/bin/hello
//
// Run `oci-builder help` for every command.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/oci-builder/oci-builder/pkg/guard"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
	"github.com/oci-builder/oci-builder/pkg/staging"
	"github.com/oci-builder/oci-builder/pkg/store/local"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

// usageError marks errors in how the command was called.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// env is what a command may use of its process: arguments aside, the
// environment and the standard streams.
type env struct {
	getenv func(string) string
	// stdin is nil where a command has none to read.
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// goos is the system the command runs on: runtime.GOOS when empty
	// (tests set another).
	goos string
}

type command struct {
	name    string
	summary string
	usage   string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{
			name:    "nix-builder",
			summary: "build the bundle of a derivation made by nix/oci-tools.nix (the derivation's builder)",
			usage: `Usage: oci-builder nix-builder

Runs as the builder of a derivation with __structuredAttrs = true, as written
by nix/oci-tools.nix. It reads .attrs.json ($NIX_ATTRS_JSON_FILE, else
$NIX_BUILD_TOP/.attrs.json, else ./.attrs.json), the closure graph under the
keys of exportReferencesGraph and the container options under "container",
and writes the bundle (config.json and rootfs/) to outputs.out.
NIX_BUILD_CORES sets the number of copy workers (0: every CPU).`,
			run: runNixBuilder,
		},
		{
			name:    "bundle",
			summary: "build a bundle from store paths outside a Nix build",
			usage:   bundleUsage,
			run:     runBundle,
		},
		{
			name:    "rootless",
			summary: "write a variant of a bundle that an unprivileged user can run",
			usage:   rootlessUsage,
			run:     runRootless,
		},
		{
			name:    "writable",
			summary: "copy a bundle outside the store with a writable root filesystem",
			usage:   writableUsage,
			run:     runWritable,
		},
		{
			name:    "validate",
			summary: "check a bundle as a runtime would, reporting every problem",
			usage:   validateUsage,
			run:     runValidate,
		},
		{
			name:    guard.CheckCommand,
			summary: "check mount sources when a container starts (the createRuntime hook of a bundle)",
			usage:   checkMountsUsage,
			run:     runCheckMounts,
		},
		{
			name:    "image",
			summary: "write an OCI image layout of the closure of a program",
			usage:   imageUsage,
			run:     runImage,
		},
		{
			name:    "copy",
			summary: "copy an image (layout, archive or registry's) to a registry, a layout, an archive or a Docker daemon",
			usage:   copyUsage,
			run:     runCopy,
		},
		{
			name:    "sbom",
			summary: "print an image's SBOM (CycloneDX, SPDX) or provenance, from a layout, an archive or a registry",
			usage:   sbomUsage,
			run:     runSBOM,
		},
		{
			name:    "nix-copier-builder",
			summary: "build the copyTo attributes of an image made by nix/oci-tools.nix (the derivation's builder)",
			usage: `Usage: oci-builder nix-copier-builder IMAGE OCI-BUILDER [NAME:TAG]

Runs as the builder of the copyTo attribute of images: writes to $out the
links bin/oci-builder-copy -> OCI-BUILDER and image -> IMAGE. Run as
oci-builder-copy, oci-builder copies the image beside it:
$out/bin/oci-builder-copy DEST is oci-builder copy $out/image DEST. Given
NAME:TAG, it also writes $out/image-name and the links
bin/copy-to-registry (oci-builder copy IMAGE docker://NAME:TAG),
bin/copy-to-docker-daemon (docker-daemon:NAME:TAG) and bin/copy-to-podman
(the same with --podman); their arguments are copy's options.`,
			run: runNixCopierBuilder,
		},
		{
			name:    "nix-image-builder",
			summary: "build the image of a derivation made by buildImage in nix/oci-tools.nix (the derivation's builder)",
			usage: `Usage: oci-builder nix-image-builder

Runs as the builder of a derivation made by ociTools.buildImage. It reads
.attrs.json as nix-builder does, the container options under "container"
and the image options under "image", and writes an OCI image layout
(oci-layout, index.json, blobs/sha256/) to outputs.out. With an "archive"
attribute (the dockerTools style: buildLayeredImage, buildImage with
dockerTools' arguments), outputs.out is one archive file instead: the
layout with Docker's manifest.json beside index.json, as docker save
writes since Docker 25, which docker load, podman load, skopeo and ctr
images import read. NIX_BUILD_CORES sets the number of layers written at
once (0: every CPU).`,
			run: runNixImageBuilder,
		},
		{
			name:    "nix-export-builder",
			summary: "build the file system tar of exportImage in nix/oci-tools.nix (the derivation's builder)",
			usage:   exportBuilderUsage,
			run:     runNixExportBuilder,
		},
		{
			name:    "nix-merge-builder",
			summary: "build the archive of mergeImages in nix/oci-tools.nix (the derivation's builder)",
			usage: `Usage: oci-builder nix-merge-builder ARCHIVE...

Runs as the builder of ociTools.mergeImages: writes to $out one archive
holding the images of the ARCHIVEs (results of buildImage and
buildLayeredImage in the dockerTools style), each blob once, so that one
docker load, podman load or ctr images import loads them all.`,
			run: runNixMergeBuilder,
		},
		{
			name:    streamCommand,
			summary: "write the image a streamLayeredImage file describes to stdout as a docker-archive",
			usage:   streamImageUsage,
			run:     runStreamImage,
		},
		{
			name:    "nix-stream-builder",
			summary: "build the description of an image made by streamLayeredImage in nix/oci-tools.nix (the derivation's builder)",
			usage: `Usage: oci-builder nix-stream-builder

Runs as the builder of a derivation made by ociTools.streamLayeredImage. It
reads .attrs.json as nix-image-builder does, plans the image as
buildLayeredImage would, hashes each layer's uncompressed tar (reading the
closure once, verifying NAR hashes) and writes to outputs.out an executable
file: the line "#!INTERPRETER stream-image" and the image's description as
JSON (store paths, layer sizes and DiffIDs, image configuration), from
which oci-builder stream-image writes the docker-archive. NIX_BUILD_CORES
sets the number of layers hashed at once (0: every CPU).`,
			run: runNixStreamBuilder,
		},
		{
			name:    "customisation-tree",
			summary: "write the customisation layer's tree that dockerTools' shell arguments run on (in the derivation nix/oci-tools.nix makes for them)",
			usage:   customisationTreeUsage,
			run:     runCustomisationTree,
		},
		{
			name:    "base-tree",
			summary: "write a base image's files beneath a customisation tree, for runAsRoot (in the derivation nix/oci-tools.nix makes for it)",
			usage:   baseTreeUsage,
			run:     runBaseTree,
		},
		{
			name:    "layer-diff",
			summary: "write the layer of what changed over a base image, from a tar of the whole tree (after runAsRoot)",
			usage:   layerDiffUsage,
			run:     runLayerDiff,
		},
		{
			name:    "nix-layer-builder",
			summary: "build the layers of a derivation made by buildLayer in nix/oci-tools.nix (the derivation's builder)",
			usage:   layerBuilderUsage,
			run:     runNixLayerBuilder,
		},
		{
			name:    "nix-graph-builder",
			summary: "write the closure graph of a derivation that verifies nothing (the builder of its helper derivation)",
			usage:   graphBuilderUsage,
			run:     runNixGraphBuilder,
		},
		{
			name:    "nix-pull-builder",
			summary: "fetch the image of a derivation made by pullImage in nix/oci-tools.nix (the derivation's builder)",
			usage:   pullBuilderUsage,
			run:     runNixPullBuilder,
		},
		{
			name:    "nix-index-builder",
			summary: "build the image index of a derivation made by buildImageIndex in nix/oci-tools.nix (the derivation's builder)",
			usage:   indexBuilderUsage,
			run:     runNixIndexBuilder,
		},
		{
			name:    "version",
			summary: "print the version",
			usage:   "Usage: oci-builder version",
			run: func(_ context.Context, e env, args []string) error {
				if len(args) > 0 {
					return &usageError{"version takes no arguments"}
				}
				return printResult(e.stdout, "oci-builder "+version, "")
			},
		},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: oci-builder COMMAND [OPTIONS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Builds OCI runtime bundles (config.json + rootfs/) and OCI images from Nix store closures.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-18s %s\n", "help", "show help for a command")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit status: 0 on success, 1 on error, 2 on a usage error.")
}

func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	if name == "help" || name == "--help" || name == "-h" {
		if len(rest) == 0 || rest[0] == "--help" || rest[0] == "-h" || rest[0] == "help" {
			var text strings.Builder
			usage(&text)
			return helpShown(e, printResult(e.stdout, strings.TrimSuffix(text.String(), "\n"), ""))
		}
		name, rest = rest[0], []string{"--help"}
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		if len(rest) == 1 && (rest[0] == "--help" || rest[0] == "-h") {
			return helpShown(e, printResult(e.stdout, c.usage, ""))
		}
		err := linuxOnlyError(c.name, e.system())
		if err == nil {
			err = runRecovering(ctx, c, e, rest)
		}
		if err == nil {
			return exitOK
		}
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(e.stderr, "oci-builder: error: %s\n", oneLine(plainFlagError(err.Error())))
			return exitUsage
		}
		fmt.Fprintf(e.stderr, "oci-builder: error: %s\n", oneLine(err.Error()))
		return exitError
	}
	fmt.Fprintf(e.stderr, "oci-builder: error: unknown command %q (see oci-builder help)\n", name)
	return exitUsage
}

// strconvErrors are the flag package's words for a value it could not
// parse (strconv's errors, or "parse error"), and what users are told.
var strconvErrors = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`strconv\.ParseBool: parsing "[^"]*": invalid syntax`), "want true or false"},
	{regexp.MustCompile(`strconv\.Parse\w+: parsing "[^"]*": invalid syntax`), "not a number"},
	{regexp.MustCompile(`strconv\.Parse\w+: parsing "[^"]*": value out of range`), "out of range"},
	{regexp.MustCompile(`: parse error$`), ": not a number in range"},
}

// plainFlagError rewrites, in a usage error, the flag package's Go words
// for a value it could not parse.
func plainFlagError(msg string) string {
	for _, r := range strconvErrors {
		msg = r.re.ReplaceAllString(msg, r.with)
	}
	return msg
}

// printResult writes a command's result, one line, to its standard
// output. Failing to (a full disk, a closed pipe with SIGPIPE ignored) is
// an error: whoever reads the result would get nothing, or half of it.
// done, when not empty, says what was done nonetheless.
func printResult(w io.Writer, line, done string) error {
	if _, err := io.WriteString(w, line+"\n"); err != nil {
		if done != "" {
			return fmt.Errorf("%s, but writing %q to standard output failed: %w", done, line, err)
		}
		return fmt.Errorf("write to standard output: %w", err)
	}
	return nil
}

// helpShown is the exit status of showing help: 0, or 1 with the error
// line when it could not be written.
func helpShown(e env, err error) int {
	if err != nil {
		fmt.Fprintf(e.stderr, "oci-builder: error: %s\n", oneLine(err.Error()))
		return exitError
	}
	return exitOK
}

// runRecovering runs c, turning a panic in it into an error: whatever the
// input, the user gets one error line and exit status 1, never a stack
// trace (a panic is a bug, and the line says so).
func runRecovering(ctx context.Context, c command, e env, args []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error (a bug in oci-builder %s, please report it with the command): %v", version, r)
		}
	}()
	return c.run(ctx, e, args)
}

// oneLine keeps an error message on one line whatever names it quotes.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go stopOnSignals(sigs, cancel, os.Stderr, os.Exit)
	code := runAs(ctx, os.Args[0], os.Args[1:], env{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}

// stopOnSignals cancels the command at the first SIGINT or SIGTERM (it
// stops cleanly: what it was writing is removed, the destination left as
// it was) and exits at once, with status 130, at the second: for a command
// blocked where no cancellation reaches it (a system call on a named pipe
// or a stalled file system). Temporary files beside the destination may
// then be left; the destination itself never shows a partial result,
// since it is only ever renamed into place.
func stopOnSignals(sigs <-chan os.Signal, cancel context.CancelFunc, stderr io.Writer, exit func(int)) {
	<-sigs
	cancel()
	s := <-sigs
	fmt.Fprintf(stderr, "oci-builder: error: %v again: stopped at once (temporary files beside the destination may be left)\n", s)
	exit(130)
}

// refuseInStore refuses an output (out, or the directories above it that
// it would create) in the Nix store storeDir, the default store when
// empty, as copy refuses a destination there: Nix alone adds to it. In a
// Nix build (NIX_BUILD_TOP set) the build's own outputs, and what is
// below them, are the builder's to write: a derivation whose builder is
// `oci-builder validate --report $out` or `oci-builder bundle --out $out`.
func refuseInStore(out, storeDir string, getenv func(string) string) error {
	if storeDir == "" {
		storeDir = local.StoreDir(getenv)
	}
	if abs, err := filepath.Abs(out); err == nil && getenv("NIX_BUILD_TOP") != "" {
		for _, o := range buildOutputs(getenv) {
			if abs == o || strings.HasPrefix(abs, o+"/") {
				return nil
			}
		}
	}
	return staging.CheckOutsideStore(out, storeDir)
}

// buildOutputs are the output paths of the Nix build this process is the
// builder of: from the environment ($outputs names them, "out" by
// default), and, under structured attributes, which put no output in the
// environment, from .attrs.json's "outputs".
func buildOutputs(getenv func(string) string) []string {
	var paths []string
	names := strings.Fields(getenv("outputs"))
	if len(names) == 0 {
		names = []string{"out"}
	}
	for _, name := range names {
		if p := getenv(name); filepath.IsAbs(p) {
			paths = append(paths, filepath.Clean(p))
		}
	}
	if f, err := nixbuild.FindAttrs(getenv); err == nil {
		if attrs, err := nixbuild.ReadAttrs(f); err == nil {
			outputs, _ := attrs.Outputs()
			for _, p := range outputs {
				if filepath.IsAbs(p) {
					paths = append(paths, filepath.Clean(p))
				}
			}
		}
	}
	return paths
}
