package image

import (
	"errors"
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// CreatedBy is the history's created_by of every layer.
const CreatedBy = "oci-builder"

// maxNamesInComment bounds how many store path names a layer's history
// comment lists.
const maxNamesInComment = 8

// Plan is everything needed to write an image, computed without touching
// the filesystem.
type Plan struct {
	// StoreDir is the store directory, recreated inside every layer.
	StoreDir string
	// Layers are the layers to write, base layer first.
	Layers []LayerPlan
	// Compression is the layers' compression.
	Compression layer.Compression
	// Tag is the image's reference name in index.json.
	Tag string
	// Config is the image configuration, complete but for
	// RootFS.DiffIDs, which Write fills in as it writes the layers.
	Config v1.Image
}

// NewPlan computes the image for the container options c and the image
// options o from the closure graph g: the closure of every store path that
// args mention, which must all be in g, split into layers, and the image
// configuration.
func NewPlan(g *store.Graph, c bundle.Options, o Options) (*Plan, error) {
	s, err := o.check()
	if err != nil {
		return nil, err
	}
	cfg, err := imageConfig(c, s)
	if err != nil {
		return nil, err
	}
	platform, err := Platform(c)
	if err != nil {
		return nil, err
	}
	var roots []string
	for i, arg := range c.Args {
		refs, err := g.FindReferences(arg)
		if err != nil {
			return nil, fmt.Errorf("args[%d]: %w", i, err)
		}
		roots = append(roots, refs...)
	}
	closure, err := g.Closure(roots)
	if err != nil {
		return nil, err
	}
	if len(closure) == 0 {
		return nil, errors.New("args mention no store path: the image would have an empty filesystem")
	}
	layers := GroupLayers(closure, s.maxLayers)
	created := s.created
	p := &Plan{
		StoreDir:    g.StoreDir(),
		Layers:      layers,
		Compression: s.compression,
		Tag:         s.tag,
		Config: v1.Image{
			Created:  &created,
			Platform: platform,
			Config:   cfg,
			RootFS:   v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{}},
		},
	}
	for _, l := range layers {
		p.Config.History = append(p.Config.History, v1.History{
			Created:   &created,
			CreatedBy: CreatedBy,
			Comment:   l.describe(),
		})
	}
	return p, nil
}

// describe says what the layer holds, naming its store paths without their
// hashes (so that the image configuration refers to no store path through
// its history).
func (l LayerPlan) describe() string {
	if len(l.Paths) == 1 {
		return fmt.Sprintf("store path %s, used by %d other paths", l.Paths[0].Name(), l.Popularity)
	}
	names := make([]string, 0, maxNamesInComment)
	for i, p := range l.Paths {
		if i == maxNamesInComment {
			names = append(names, fmt.Sprintf("and %d more", len(l.Paths)-i))
			break
		}
		names = append(names, p.Name())
	}
	return fmt.Sprintf("%d store paths: %s", len(l.Paths), strings.Join(names, ", "))
}
