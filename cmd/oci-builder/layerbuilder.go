package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
)

const layerBuilderUsage = `Usage: oci-builder nix-layer-builder

Runs as the builder of a derivation made by ociTools.buildLayer. It reads
.attrs.json as nix-builder does: the closure graph under the keys of
exportReferencesGraph and the layer options under "layer" (compression,
maxLayers, and the outputs of other layer derivations whose store paths are
left out). It writes to outputs.out the layer blobs (blobs/sha256/) and
layers.json describing them (media type, digest, size, diffID and the
store paths each holds, by the SHA-256 of their path). NIX_BUILD_CORES
sets the number of layers written at once (0: every CPU).`

// runNixLayerBuilder is the builder of buildLayer's derivations:
// .attrs.json in, layer blobs and layers.json out.
func runNixLayerBuilder(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		return &usageError{"nix-layer-builder takes no arguments"}
	}
	attrsPath, err := nixbuild.FindAttrs(e.getenv)
	if err != nil {
		return err
	}
	attrs, err := nixbuild.ReadAttrs(attrsPath)
	if err != nil {
		return err
	}
	out, err := attrs.Output("out")
	if err != nil {
		return err
	}
	raw, ok := attrs.Raw("layer")
	if !ok {
		return fmt.Errorf("%s has no \"layer\" attribute: use ociTools.buildLayer to make the derivation", nixbuild.AttrsFile)
	}
	opts, err := image.DecodeLayerSetOptions(raw)
	if err != nil {
		return err
	}
	storeDir, err := attrs.String("storeDir")
	if err != nil {
		return err
	}
	if storeDir == "" {
		storeDir = e.getenv("NIX_STORE")
	}
	g, err := attrs.Graph(storeDir)
	if err != nil {
		return err
	}
	roots, err := attrs.GraphRoots(g.StoreDir())
	if err != nil {
		return err
	}
	workers, err := nixbuild.Cores(e.getenv)
	if err != nil {
		return err
	}
	held, err := readLayerSets(opts.Layers)
	if err != nil {
		return err
	}
	plan, err := image.NewLayerSetPlan(g, roots, opts, held)
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(e.stderr, "oci-builder: warning: %s\n", w)
	}
	workers = workerCount(workers, e.stderr)
	paths, total, verifying := describeLayers(plan.Layers, plan.Verify)
	fmt.Fprintf(e.stderr, "oci-builder: writing %s (%s) as %s compressed with %s, leaving out those of %s%s\n",
		plural(paths, "store path"), sizeOrUnknown(total), plural(len(plan.Layers), "layer"), plan.Compression, plural(len(held), "layer derivation"), verifying)
	set, err := image.WriteLayerSet(ctx, out, plan, image.WriteOptions{Workers: workers, Verify: plan.Verify})
	if err != nil {
		return err
	}
	var size int64
	for _, l := range set.Layers {
		size += l.Size
	}
	fmt.Fprintf(e.stderr, "oci-builder: done: %s, %s compressed\n", plural(len(set.Layers), "layer"), humanBytes(uint64(size)))
	return nil
}

// readLayerSets reads the layers.json of layer derivation outputs.
func readLayerSets(dirs []string) ([]*image.LoadedLayerSet, error) {
	sets := make([]*image.LoadedLayerSet, 0, len(dirs))
	for _, d := range dirs {
		s, err := image.ReadLayerSet(d)
		if err != nil {
			return nil, err
		}
		sets = append(sets, s)
	}
	return sets, nil
}

// useLayerDerivations makes the image's closure layers those of the layer
// derivations listed under "layerDerivations" in .attrs.json, if any, and
// the store paths none of them holds the image's own, in at most
// "closureMaxLayers" layers; it says so on log. The store paths of the
// layer derivations were verified when they were built: the image
// verifies only those it writes.
func useLayerDerivations(log io.Writer, attrs *nixbuild.Attrs, plan *image.Plan) error {
	raw, ok := attrs.Raw("layerDerivations")
	if !ok {
		return nil
	}
	var dirs []string
	if err := json.Unmarshal(raw, &dirs); err != nil {
		return fmt.Errorf("%s: layerDerivations is not a list of store paths: %w", nixbuild.AttrsFile, err)
	}
	rest := 0
	if raw, ok := attrs.Raw("closureMaxLayers"); ok {
		if err := json.Unmarshal(raw, &rest); err != nil {
			return fmt.Errorf("%s: closureMaxLayers is not an integer: %w", nixbuild.AttrsFile, err)
		}
	}
	sets, err := readLayerSets(dirs)
	if err != nil {
		return err
	}
	if err := plan.UseLayerSets(sets, rest); err != nil {
		return err
	}
	linked, written, paths := 0, 0, 0
	for _, l := range plan.Layers {
		switch {
		case l.Prebuilt != nil:
			linked++
		case l.Base == nil && l.Entries == nil && l.Tar == "":
			written++
			paths += len(l.Paths)
		}
	}
	fmt.Fprintf(log, "oci-builder: linking %s of %s (checked against their sizes; their store paths were verified when they were built); the rest of the closure, %s, in %s of the image's own\n",
		plural(linked, "layer"), plural(len(sets), "layer derivation"), plural(paths, "store path"), plural(written, "layer"))
	return nil
}
