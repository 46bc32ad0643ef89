package image

import (
	"fmt"
	"sort"

	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/layering"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// LayerPlan is one layer to write: the store paths it holds, or entries
// made for the image.
type LayerPlan struct {
	// Paths are sorted by path.
	Paths []*store.PathInfo
	// Entries, when not nil, are the layer's contents instead of Paths.
	Entries []layer.Entry
	// Contents, when not nil, are the store paths whose trees Entries
	// link at /.
	Contents []string
	// Popularity is the number of closure paths that depend on the layer's
	// only path, or -1 for a layer grouping several paths.
	Popularity int
	// Comment, when set, is the layer's history comment.
	Comment string
	// Prebuilt, when not nil, is a layer a layer derivation wrote, which
	// the image links (see Plan.UseLayerSets).
	Prebuilt *Prebuilt
	// Base, when not nil, is a layer of the base image, copied unchanged.
	Base *BaseLayer
	// Owner, when not nil, owns the entries of Paths (see
	// layer.Ownership); nil is uid and gid 0, mtime 1.
	Owner *layer.Ownership
	// Tar, when set, is a store path holding layer.tar, the layer's
	// uncompressed tar, taken as it is (Compat.ShellLayer).
	Tar string
	// Custom, when not nil, is what Entries were made from (a
	// customisation layer, see Customisation), so that they can be made
	// again from the store. With Paths, the layer holds both (Entries
	// after the store paths).
	Custom *Customisation
}

// GroupLayers splits the closure into at most maxLayers layers, base layer
// first.
//
// Paths are ranked by popularity (see store.Popularity), most popular
// first, then by name and path so that the ranking does not depend on
// hashes. When the closure has at most maxLayers paths, each gets its own
// layer. Otherwise the roots (the paths nothing else in the closure depends
// on: the application and whatever else args name) share the top layer, the
// most popular other paths get a layer each, and the remaining, least
// popular dependencies share one layer. So a change to the application
// changes only the top layer, and a dependency that keeps its rank keeps its
// layer.
func GroupLayers(closure []*store.PathInfo, maxLayers int) []LayerPlan {
	if len(closure) == 0 {
		return nil
	}
	pop := store.Popularity(closure)
	ranked := append([]*store.PathInfo(nil), closure...)
	sort.SliceStable(ranked, func(i, j int) bool {
		a, b := ranked[i], ranked[j]
		if pop[a.Path] != pop[b.Path] {
			return pop[a.Path] > pop[b.Path]
		}
		if a.Name() != b.Name() {
			return a.Name() < b.Name()
		}
		return a.Path < b.Path
	})
	single := func(p *store.PathInfo) LayerPlan {
		return LayerPlan{Paths: []*store.PathInfo{p}, Popularity: pop[p.Path]}
	}
	var layers []LayerPlan
	if len(ranked) <= maxLayers {
		for _, p := range ranked {
			layers = append(layers, single(p))
		}
		return layers
	}
	if maxLayers <= 1 {
		return []LayerPlan{group(ranked, pop)}
	}
	var deps, roots []*store.PathInfo
	for _, p := range ranked {
		if pop[p.Path] == 0 {
			roots = append(roots, p)
		} else {
			deps = append(deps, p)
		}
	}
	// One layer is the roots' (a graph with cycles may have none); the
	// others are the dependencies'.
	budget := maxLayers
	if len(roots) > 0 {
		budget--
	}
	if len(deps) <= budget {
		for _, p := range deps {
			layers = append(layers, single(p))
		}
	} else {
		for _, p := range deps[:budget-1] {
			layers = append(layers, single(p))
		}
		layers = append(layers, group(deps[budget-1:], pop))
	}
	if len(roots) > 0 {
		layers = append(layers, group(roots, pop))
	}
	return layers
}

// PipelineLayers groups the closure into the layers dockerTools'
// layeringPipeline p makes of it (package layering), in the pipeline's
// order, leaving out of the pipeline's graph (and of the layers) the store
// paths of exclude, as dockerTools leaves out its customisation layer. It
// also returns the pipeline's warnings.
func PipelineLayers(closure []*store.PathInfo, p *layering.Pipeline, exclude ...string) ([]LayerPlan, []string, error) {
	skip := map[string]bool{}
	for _, e := range exclude {
		skip[e] = true
	}
	byPath := make(map[string]*store.PathInfo, len(closure))
	var in []*store.PathInfo
	for _, info := range closure {
		if !skip[info.Path] {
			in = append(in, info)
			byPath[info.Path] = info
		}
	}
	res, err := p.Run(in)
	if err != nil {
		return nil, nil, fmt.Errorf("layeringPipeline: %w", err)
	}
	pop := store.Popularity(in)
	layers := make([]LayerPlan, len(res.Layers))
	for i, paths := range res.Layers {
		infos := make([]*store.PathInfo, len(paths))
		for j, path := range paths {
			infos[j] = byPath[path]
		}
		layers[i] = group(infos, pop)
	}
	return layers, res.Warnings, nil
}

// AutoLayers groups the closure into at most limit layers as dockerTools
// does by default (nixpkgs' auto-layer, package layering): the largest
// store paths each in a layer with the dependencies only they use, the
// dependencies they share in layers of their own, ordered by the size of
// their closure. The store paths of ignore take part in the split but are
// left out of the layers, as dockerTools leaves out its customisation
// layer's derivation.
//
// dockerTools' graph also holds its image configuration's and
// customisation layer's derivations, above the closure; the builder makes
// neither as a store path (but the customisation layer that the shell
// arguments make, which is passed in ignore), so where the iteration
// reaches them the layers can differ from dockerTools' (only when
// maxLayers leaves room for nearly every store path of the closure).
func AutoLayers(closure []*store.PathInfo, limit int, ignore ...string) ([]LayerPlan, error) {
	skip := map[string]bool{}
	for _, p := range ignore {
		skip[p] = true
	}
	res, err := layering.AutoLayers(closure, skip, limit)
	if err != nil {
		return nil, err
	}
	byPath := make(map[string]*store.PathInfo, len(closure))
	var kept []*store.PathInfo
	for _, info := range closure {
		byPath[info.Path] = info
		if !skip[info.Path] {
			kept = append(kept, info)
		}
	}
	pop := store.Popularity(kept)
	layers := make([]LayerPlan, len(res))
	for i, l := range res {
		infos := make([]*store.PathInfo, len(l.Paths))
		for j, path := range l.Paths {
			infos[j] = byPath[path]
		}
		layers[i] = group(infos, pop)
	}
	return layers, nil
}

// group makes one layer of paths, sorted by path.
func group(paths []*store.PathInfo, pop map[string]int) LayerPlan {
	sorted := append([]*store.PathInfo(nil), paths...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	if len(sorted) == 1 {
		return LayerPlan{Paths: sorted, Popularity: pop[sorted[0].Path]}
	}
	return LayerPlan{Paths: sorted, Popularity: -1}
}
