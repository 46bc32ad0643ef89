package main

import (
	"context"
	"fmt"
	"os"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/image"
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
		return err
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
