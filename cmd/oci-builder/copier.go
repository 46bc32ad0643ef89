package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// copierName is the name under which oci-builder copies the image beside
// it: the copyTo attribute of buildImage's images (nix/oci-tools.nix) is a
// directory holding bin/oci-builder-copy, a symbolic link to oci-builder,
// and image, a symbolic link to the image. Run as
// DIR/bin/oci-builder-copy ARGS..., oci-builder runs
// `oci-builder copy DIR/image ARGS...`: no shell, no script, nothing but
// two links in the store.
const copierName = "oci-builder-copy"

// The names of the copiers to the image's own name (nix2container's
// copyToRegistry, copyToDockerDaemon and copyToPodman), which read it
// from the file copierNameFile beside bin/.
const (
	toRegistryName = "copy-to-registry"
	toDaemonName   = "copy-to-docker-daemon"
	toPodmanName   = "copy-to-podman"
	copierNameFile = "image-name"
)

// copierArgs turns the command line of oci-builder-copy (or of the named
// copiers) into one of oci-builder; ok is false when argv0 names another
// program.
func copierArgs(argv0 string, args []string, lookPath func(string) (string, error)) (_ []string, ok bool, err error) {
	prog := filepath.Base(argv0)
	switch prog {
	case copierName, toRegistryName, toDaemonName, toPodmanName:
	default:
		return nil, false, nil
	}
	self := argv0
	if !strings.Contains(self, "/") {
		if self, err = lookPath(argv0); err != nil {
			return nil, true, fmt.Errorf("find %s on PATH: %w", argv0, err)
		}
	}
	img := filepath.Join(filepath.Dir(self), "..", "image")
	if err := checkImage(img); err != nil {
		return nil, true, fmt.Errorf("%s runs beside the image it copies (../image, as the copyTo attribute of buildImage's images lays it out): %w", prog, err)
	}
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
		return []string{"copy", "--help"}, true, nil
	}
	if prog == copierName {
		return append([]string{"copy", img}, args...), true, nil
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", copierNameFile))
	if err != nil {
		return nil, true, fmt.Errorf("%s copies the image to its own name, in ../%s: %w", prog, copierNameFile, err)
	}
	ref := strings.TrimSpace(string(data))
	full := []string{"copy"}
	switch prog {
	case toRegistryName:
		args = append(args, img, "docker://"+ref)
	case toDaemonName:
		args = append(args, img, "docker-daemon:"+ref)
	case toPodmanName:
		full = append(full, "--podman")
		args = append(args, img, "docker-daemon:"+ref)
	}
	return append(full, args...), true, nil
}

// runAs runs the command line of the program argv0 names: oci-builder's,
// or oci-builder-copy's.
func runAs(ctx context.Context, argv0 string, args []string, e env) int {
	full, ok, err := copierArgs(argv0, args, exec.LookPath)
	if err != nil {
		fmt.Fprintf(e.stderr, "oci-builder: error: %s\n", oneLine(err.Error()))
		return exitError
	}
	if !ok {
		full = args
	}
	return run(ctx, full, e)
}

// runNixCopierBuilder writes the copiers of an image: links to
// oci-builder named for each, a link to the image, and, given NAME:TAG,
// the image's name for the copiers to its own name.
func runNixCopierBuilder(_ context.Context, e env, args []string) error {
	if len(args) != 2 && len(args) != 3 {
		return &usageError{"nix-copier-builder takes IMAGE, OCI-BUILDER and optionally NAME:TAG"}
	}
	out := e.getenv("out")
	if out == "" {
		return fmt.Errorf("$out is not set (nix-copier-builder runs as a derivation's builder)")
	}
	img, builder := args[0], args[1]
	if err := checkImage(img); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "bin"), 0o755); err != nil {
		return err
	}
	names := []string{copierName}
	if len(args) == 3 {
		names = append(names, toRegistryName, toDaemonName, toPodmanName)
		if err := os.WriteFile(filepath.Join(out, copierNameFile), []byte(args[2]+"\n"), 0o444); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := os.Symlink(builder, filepath.Join(out, "bin", n)); err != nil {
			return err
		}
	}
	return os.Symlink(img, filepath.Join(out, "image"))
}

// checkImage checks that img is an image oci-builder copy reads: an image
// layout directory, or an archive file (the dockerTools style's).
func checkImage(img string) error {
	fi, err := os.Stat(img)
	if err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		return nil
	}
	if _, err := os.Stat(filepath.Join(img, "index.json")); err != nil {
		return fmt.Errorf("%s is not an image layout or archive: %w", img, err)
	}
	return nil
}
