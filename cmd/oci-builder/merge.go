package main

import (
	"context"
	"fmt"

	"github.com/oci-builder/oci-builder/pkg/ociarchive"
)

// runNixMergeBuilder is the builder of mergeImages: the images of several
// archives in one.
func runNixMergeBuilder(_ context.Context, e env, args []string) error {
	if len(args) == 0 {
		return &usageError{"nix-merge-builder takes the ARCHIVEs to merge"}
	}
	out := e.getenv("out")
	if out == "" {
		return fmt.Errorf("$out is not set (nix-merge-builder runs as a derivation's builder)")
	}
	var archives ociarchive.Archives
	defer func() {
		for _, a := range archives {
			a.Close()
		}
	}()
	var images []ociarchive.Image
	seen := map[string]string{}
	for _, p := range args {
		a, err := ociarchive.Open(p)
		if err != nil {
			return err
		}
		archives = append(archives, a)
		imgs, err := a.Images()
		if err != nil {
			return fmt.Errorf("%s is not an image archive of buildImage or buildLayeredImage: %w", p, err)
		}
		for _, img := range imgs {
			// (bash:latest and docker.io/library/bash:latest are one
			// name to docker load)
			key := ociarchive.NormalName(img.RepoTag)
			if other, dup := seen[key]; dup {
				return fmt.Errorf("%s and %s both hold an image named %s: docker load would keep one", other, p, img.RepoTag)
			}
			seen[key] = p
		}
		images = append(images, imgs...)
	}
	if err := writeArchive(out, archives, images); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "oci-builder: merged %s of %s into %s\n", plural(len(images), "image"), plural(len(args), "archive"), out)
	return nil
}
