package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/oci-builder/oci-builder/pkg/index"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
	"github.com/oci-builder/oci-builder/pkg/outside"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
	"github.com/oci-builder/oci-builder/pkg/transport"
)

// readSection reads the structured attributes of a derivation whose
// builder takes no closure: the output path, and the attribute key
// decoded into v (unknown keys refused); fn names the library function
// that makes such derivations.
func readSection(e env, key, fn string, v any) (string, error) {
	attrsPath, err := nixbuild.FindAttrs(e.getenv)
	if err != nil {
		return "", err
	}
	attrs, err := nixbuild.ReadAttrs(attrsPath)
	if err != nil {
		return "", err
	}
	out, err := attrs.Output("out")
	if err != nil {
		return "", err
	}
	raw, ok := attrs.Raw(key)
	if !ok {
		return "", fmt.Errorf("%s has no %q attribute: use nix/oci-tools.nix's %s to make the derivation", nixbuild.AttrsFile, key, fn)
	}
	if err := strictjson.Unmarshal(raw, v); err != nil {
		return "", fmt.Errorf("%s attributes: %w", key, strictjson.DescribeOptionError(err))
	}
	return out, nil
}

// pullAttrs are the "pull" attribute of pullImage's derivations.
type pullAttrs struct {
	ImageName      string `json:"imageName"`
	ImageDigest    string `json:"imageDigest"`
	FinalImageName string `json:"finalImageName"`
	FinalImageTag  string `json:"finalImageTag"`
	OS             string `json:"os"`
	Arch           string `json:"arch"`
	Variant        string `json:"variant,omitempty"`
	TLSVerify      bool   `json:"tlsVerify"`
}

const pullBuilderUsage = `Usage: oci-builder nix-pull-builder

Runs as the builder of a derivation made by ociTools.pullImage, a
fixed-output derivation. It reads .attrs.json as nix-builder does, the
image under "pull" (imageName, imageDigest, finalImageName,
finalImageTag, os, arch, variant, tlsVerify), fetches imageName@imageDigest
from its registry (the platform's image when the digest is an index's;
credentials as oci-builder copy reads them) and writes to outputs.out a
docker-archive named finalImageName:finalImageTag, its layers as the
registry holds them. The archive is then read back and checked whole
(digests, DiffIDs, entries) before the build succeeds; Nix checks the
output's hash.`

// runNixPullBuilder is the builder of pullImage's derivations.
func runNixPullBuilder(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		return &usageError{"nix-pull-builder takes no arguments"}
	}
	var pa pullAttrs
	out, err := readSection(e, "pull", "pullImage", &pa)
	if err != nil {
		return err
	}
	platform, err := overridePlatform(v1.Platform{OS: pa.OS, Architecture: pa.Arch, Variant: pa.Variant})
	if err != nil {
		return err
	}
	final, err := name.NewTag(pa.FinalImageName + ":" + pa.FinalImageTag)
	if err != nil {
		return fmt.Errorf("finalImageName and finalImageTag: %w", err)
	}
	src := pa.ImageName + "@" + pa.ImageDigest
	if _, err := name.NewDigest(src); err != nil {
		return fmt.Errorf("imageName and imageDigest: %w", err)
	}
	start := time.Now()
	fmt.Fprintf(e.stderr, "oci-builder: pulling %s for %s\n", src, platform.String())
	img, err := transport.OpenRegistryImage(ctx, src,
		transport.Options{Insecure: !pa.TLSVerify, Getenv: e.getenv, Log: e.stderr, Platform: &platform, FlagPrefix: "src-"})
	if err != nil {
		return fmt.Errorf("pull %s: %w", src, err)
	}
	if err := writePulled(out, final, img); err != nil {
		os.Remove(out)
		return fmt.Errorf("pull %s: %w", src, err)
	}
	im, err := outside.Open(out, outside.Selector{})
	if err == nil {
		err = im.Verify(ctx)
		im.Close()
	}
	if err != nil {
		os.Remove(out)
		return fmt.Errorf("pull %s: %w", src, err)
	}
	fi, _ := os.Stat(out)
	fmt.Fprintf(e.stderr, "oci-builder: done: %s as %s, %s, %s, checked, in %.2f s\n",
		src, final, plural(len(im.Layers), "layer"), humanBytes(uint64(fi.Size())), time.Since(start).Seconds())
	return nil
}

// writePulled writes img as a docker-archive named final to out.
func writePulled(out string, final name.Tag, img v1.Image) error {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	err = tarball.Write(final, img, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// indexAttrs are the "index" attribute of buildImageIndex's derivations.
type indexAttrs struct {
	Tag    string   `json:"tag"`
	Images []string `json:"images"`
}

const indexBuilderUsage = `Usage: oci-builder nix-index-builder

Runs as the builder of a derivation made by ociTools.buildImageIndex. It
reads .attrs.json, the tag and the images under "index" (image layouts or
archives, each checked whole), and writes to outputs.out an OCI image
layout whose index.json names one image index, tagged, with one entry per
image and its platform (os, architecture, variant).`

// runNixIndexBuilder is the builder of buildImageIndex's derivations.
func runNixIndexBuilder(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		return &usageError{"nix-index-builder takes no arguments"}
	}
	var ia indexAttrs
	out, err := readSection(e, "index", "buildImageIndex", &ia)
	if err != nil {
		return err
	}
	var entries []index.Entry
	defer func() {
		for _, en := range entries {
			en.Image.Close()
		}
	}()
	for _, p := range ia.Images {
		im, err := outside.Open(p, outside.Selector{})
		if err != nil {
			return err
		}
		entries = append(entries, index.Entry{Image: im})
		if err := im.Verify(ctx); err != nil {
			return err
		}
	}
	res, err := index.Write(ctx, out, ia.Tag, entries)
	if err != nil {
		return err
	}
	for _, m := range res.Manifests {
		fmt.Fprintf(e.stderr, "oci-builder: %s: %s\n", m.Platform.OS+"/"+m.Platform.Architecture+variantSuffix(m.Platform.Variant), m.Digest)
	}
	fmt.Fprintf(e.stderr, "oci-builder: done: image index %s (tag %s) of %s\n", res.Index.Digest, ia.Tag, plural(len(res.Manifests), "image"))
	return nil
}

func variantSuffix(v string) string {
	if v == "" {
		return ""
	}
	return "/" + v
}
