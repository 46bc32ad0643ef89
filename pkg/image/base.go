package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/outside"
)

// FromImage names a base image (dockerTools' fromImage, fromImageName and
// fromImageTag): its layers come first, unchanged, and its configuration's
// environment is kept under the image's own.
type FromImage struct {
	// Path is a docker-archive (dockerTools' results, pullImage's,
	// `docker save`; gzip- or zstd-compressed or not), an OCI image layout
	// directory or an oci-archive.
	Path string `json:"path"`
	// Name and Tag pick one of several images in Path (see
	// outside.Selector).
	Name string `json:"name,omitempty"`
	Tag  string `json:"tag,omitempty"`
}

// BaseLayer is a layer of the base image, copied unchanged.
type BaseLayer struct {
	// Image is the base image, Index the layer's.
	Image *outside.Image
	Index int
}

// OpenBase opens the base image f names for the platform p and verifies
// it (outside.Image.Verify): its platform must be p's. The caller closes
// it once the image is written.
func OpenBase(ctx context.Context, f *FromImage, p v1.Platform) (*outside.Image, error) {
	if f.Path == "" {
		return nil, fmt.Errorf("fromImage: no path given")
	}
	im, err := outside.Open(f.Path, outside.Selector{Name: f.Name, Tag: f.Tag, Platform: &p})
	if err != nil {
		return nil, fmt.Errorf("fromImage: %w", err)
	}
	have := im.Config.Platform
	if have.OS != "" && have.Architecture != "" && !outside.PlatformMatches(p, have) {
		im.Close()
		return nil, fmt.Errorf("fromImage: %s is an image for %s, not for %s, the image's platform", f.Path, outside.PlatformString(have), outside.PlatformString(p))
	}
	if err := im.Verify(ctx); err != nil {
		im.Close()
		return nil, fmt.Errorf("fromImage: %w", err)
	}
	return im, nil
}

// Close closes the plan's base image, if any.
func (p *Plan) Close() error {
	if p.Base == nil {
		return nil
	}
	return p.Base.Close()
}

// mergeEnv is the base image's environment with env over it, as
// dockerTools merges them: one entry per name, in the order names first
// appear, the last value winning.
func mergeEnv(base, env []string) []string {
	var order []string
	values := map[string]string{}
	for _, e := range append(append([]string(nil), base...), env...) {
		name, _, _ := strings.Cut(e, "=")
		if _, seen := values[name]; !seen {
			order = append(order, name)
		}
		values[name] = e
	}
	if len(order) == 0 {
		return nil
	}
	out := make([]string, len(order))
	for i, n := range order {
		out[i] = values[n]
	}
	return out
}

// envValue is the value of name in env, and whether it is there.
func envValue(env []string, name string) (string, bool) {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// baseHistory is the history of the base image's layers: the base's own
// when it describes each layer, else one entry per layer.
func baseHistory(im *outside.Image) []v1.History {
	nonEmpty := 0
	for _, h := range im.Config.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty == len(im.Layers) {
		return append([]v1.History(nil), im.Config.History...)
	}
	name := im.RepoTag
	if name == "" {
		name = filepath.Base(im.Path)
	}
	h := make([]v1.History, len(im.Layers))
	for i := range h {
		h[i] = v1.History{Created: im.Config.Created, Comment: fmt.Sprintf("layer %d of the base image %s", i+1, name)}
	}
	return h
}

// UseBase puts the base image's layers under the plan's and merges its
// configuration: the base's environment is kept under the image's (PATH,
// when the options did not set it, is the closure's bin directories then
// the base's PATH), the history of its layers comes first, and /etc files
// the base has are not replaced. NewPlan calls it for Options.Base.
func (p *Plan) UseBase(from *FromImage, im *outside.Image, pathSet bool) {
	p.FromImage = from
	env := append([]string(nil), p.Config.Config.Env...)
	ours, ok := envValue(env, "PATH")
	theirs, theirsOK := envValue(im.Config.Config.Env, "PATH")
	if !pathSet && ok && theirsOK && theirs != "" {
		for i, e := range env {
			if strings.HasPrefix(e, "PATH=") {
				env[i] = "PATH=" + ours + ":" + theirs
			}
		}
	}
	p.Config.Config.Env = mergeEnv(im.Config.Config.Env, env)
	layers := make([]LayerPlan, 0, len(im.Layers)+len(p.Layers))
	for i := range im.Layers {
		layers = append(layers, LayerPlan{Base: &BaseLayer{Image: im, Index: i}})
	}
	for _, l := range p.Layers {
		if l.Entries != nil && l.Contents == nil && l.Custom == nil && len(l.Paths) == 0 {
			// The /etc layer: the base's /etc/passwd and /etc/group stay.
			var kept []layer.Entry
			for _, e := range l.Entries {
				if !e.Dir && e.Link == "" && im.Has(e.Path) {
					continue
				}
				kept = append(kept, e)
			}
			l.Entries = kept
		}
		layers = append(layers, l)
	}
	p.Layers = layers
	p.Config.History = append(baseHistory(im), p.Config.History...)
	p.Base = im
}

// copyBaseLayer copies the base layer's blob into blobs as a temporary
// file renamed to its digest once its bytes are checked.
func copyBaseLayer(blobs string, i int, bl *BaseLayer) (layer.Layer, error) {
	l := bl.Image.Layers[bl.Index]
	tmp := filepath.Join(blobs, fmt.Sprintf(".layer-%d.tmp", i))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return layer.Layer{}, err
	}
	err = bl.Image.CopyLayer(bl.Index, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(blobs, l.Digest.Encoded()))
	}
	if err != nil {
		os.Remove(tmp)
		return layer.Layer{}, fmt.Errorf("base layer %d: %w", bl.Index+1, err)
	}
	return layer.Layer{Digest: l.Digest, Size: l.Size, DiffID: l.DiffID}, nil
}
