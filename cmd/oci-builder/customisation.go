package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/flatten"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/outside"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

const customisationTreeUsage = `Usage: oci-builder customisation-tree SPEC DIR OWNERS

Writes into DIR (created, or empty) the customisation layer a
dockerTools-style image would have without its shell arguments: the
contents linked at / as symlinkJoin does, copyToRoot copied as rsync -a
does, the declared directories (dirs) and perms, as described by the JSON
file SPEC. Owners and setuid or setgid bits, which need root, go into the
shell script OWNERS (chown -h UID:GID -- PATH..., chmod MODE -- PATH), to
run in DIR under fakeroot. It runs in the derivation that
nix/oci-tools/docker.nix makes for extraCommands, fakeRootCommands,
enableFakechroot and runAsRoot, before them.`

// runCustomisationTree writes a customisation layer's tree and its owners
// script.
func runCustomisationTree(_ context.Context, e env, args []string) error {
	if len(args) != 3 || len(args[0]) > 0 && args[0][0] == '-' {
		return &usageError{"customisation-tree takes SPEC DIR OWNERS"}
	}
	data, err := readlimit.File(args[0], "customisation tree spec", readlimit.Options)
	if err != nil {
		return err
	}
	spec, err := image.DecodeTreeSpec(data)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	c, err := spec.Customisation()
	if err != nil {
		return err
	}
	script, err := image.WriteTree(c, args[1])
	if err != nil {
		return err
	}
	if err := os.WriteFile(args[2], script, 0o644); err != nil {
		return fmt.Errorf("owners script: %w", err)
	}
	return nil
}

const baseTreeUsage = `Usage: oci-builder base-tree BASE DIR OWNERS

Writes into DIR, beneath what DIR holds (as overlayfs shows a lower
layer: DIR's names win), the file system of the base image that the JSON
file BASE names (fromImage: path, and name and tag to pick one of several
images), its layers applied in order as Docker applies them. Owners,
devices and the modes the build user cannot set go into the shell script
OWNERS, to run in DIR under fakeroot. It runs in the derivation that
nix/oci-tools/shell.nix makes for buildImage's runAsRoot on a fromImage,
after customisation-tree, so that runAsRoot sees the base image's files
as dockerTools' does; layer-diff then keeps only what changed.`

const layerDiffUsage = `Usage: oci-builder layer-diff BASE TAR OUT

Writes to OUT the layer that turns the file system of the base image
that the JSON file BASE names into the one the tar file TAR holds
(written from a directory, hard links dereferenced, under fakeroot for
its owners): TAR's entries the base does not have, or has with another
type, mode, owner, data or link target (times are not compared), their
directories, and a whiteout .wh.NAME for each file of the base that TAR
no longer holds.`

// openBaseTree opens, verifies and flattens the base image the JSON file
// spec names.
func openBaseTree(ctx context.Context, spec string) (*flatten.Tree, error) {
	data, err := readlimit.File(spec, "base image spec", readlimit.Options)
	if err != nil {
		return nil, err
	}
	var f image.FromImage
	if err := strictjson.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("base image spec %s: %w", spec, err)
	}
	if f.Path == "" {
		return nil, fmt.Errorf("base image spec %s: no path given", spec)
	}
	return flattenImage(ctx, f)
}

// flattenImage opens and verifies the image f names and applies its
// layers into a tree (its data spooled in the temporary directory).
func flattenImage(ctx context.Context, f image.FromImage) (*flatten.Tree, error) {
	if f.Path == "" {
		return nil, fmt.Errorf("fromImage: no path given")
	}
	im, err := outside.Open(f.Path, outside.Selector{Name: f.Name, Tag: f.Tag})
	if err != nil {
		return nil, fmt.Errorf("fromImage: %w", err)
	}
	defer im.Close()
	if err := im.Verify(ctx); err != nil {
		return nil, fmt.Errorf("fromImage: %w", err)
	}
	t, err := flatten.Image(im, os.TempDir(), flatten.DefaultLimits)
	if err != nil {
		return nil, fmt.Errorf("fromImage: %w", err)
	}
	return t, nil
}

// runBaseTree writes a base image's files under a customisation tree.
func runBaseTree(ctx context.Context, e env, args []string) error {
	if len(args) != 3 || len(args[0]) > 0 && args[0][0] == '-' {
		return &usageError{"base-tree takes BASE DIR OWNERS"}
	}
	t, err := openBaseTree(ctx, args[0])
	if err != nil {
		return err
	}
	defer t.Close()
	script, err := image.WriteBase(t, args[1])
	if err != nil {
		return err
	}
	if err := os.WriteFile(args[2], script, 0o644); err != nil {
		return fmt.Errorf("owners script: %w", err)
	}
	return nil
}

// runLayerDiff writes the layer of what changed over a base image.
func runLayerDiff(ctx context.Context, e env, args []string) error {
	if len(args) != 3 || len(args[0]) > 0 && args[0][0] == '-' {
		return &usageError{"layer-diff takes BASE TAR OUT"}
	}
	t, err := openBaseTree(ctx, args[0])
	if err != nil {
		return err
	}
	defer t.Close()
	f, err := os.OpenFile(args[2], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	st, err := t.Diff(args[1], w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(args[2])
		return fmt.Errorf("layer-diff: %w", err)
	}
	fi, _ := os.Stat(args[2])
	fmt.Fprintf(e.stderr, "oci-builder: layer over the base image: %d entries new or changed, %d directories holding them, %d whiteouts, %d entries of the base left out; %s\n",
		st.Changed, st.Parents, st.Whiteouts, st.Unchanged, humanBytes(uint64(fi.Size())))
	return nil
}
