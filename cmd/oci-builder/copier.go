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

// copierArgs turns the command line of oci-builder-copy into one of
// oci-builder; ok is false when argv0 names another program.
func copierArgs(argv0 string, args []string, lookPath func(string) (string, error)) (_ []string, ok bool, err error) {
	if filepath.Base(argv0) != copierName {
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
		return nil, true, fmt.Errorf("%s runs beside the image it copies (../image, as the copyTo attribute of buildImage's images lays it out): %w", copierName, err)
	}
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
		return []string{"copy", "--help"}, true, nil
	}
	return append([]string{"copy", img}, args...), true, nil
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

// runNixCopierBuilder writes the copier of an image: two links.
func runNixCopierBuilder(_ context.Context, e env, args []string) error {
	if len(args) != 2 {
		return &usageError{"nix-copier-builder takes IMAGE and OCI-BUILDER"}
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
	if err := os.Symlink(builder, filepath.Join(out, "bin", copierName)); err != nil {
		return err
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
