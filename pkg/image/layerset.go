package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// LayerSetFile is the file of a layer derivation's output (ociTools.buildLayer)
// that describes its layers; their blobs are in blobs/sha256/ beside it.
const LayerSetFile = "layers.json"

// LayerSet is what LayerSetFile holds: the layers of a layer derivation,
// base layer first.
type LayerSet struct {
	Layers []LayerRecord `json:"layers"`
}

// LayerRecord describes one layer blob of a layer derivation.
type LayerRecord struct {
	// MediaType is the layer's media type (gzip or zstd tar).
	MediaType string `json:"mediaType"`
	// Digest and Size are those of the compressed blob.
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	// DiffID is the digest of the uncompressed tar.
	DiffID digest.Digest `json:"diffID"`
	// PathDigests are PathDigest of every store path the layer holds: the
	// paths themselves would be references of the output for Nix, which
	// would keep the uncompressed closure alive with it.
	PathDigests []string `json:"pathDigests"`
	// Names are the store paths' names, without their hashes, for people.
	Names []string `json:"names"`
}

// PathDigest identifies a store path in a LayerSet without naming it:
// "sha256:" and the hexadecimal SHA-256 of the path.
func PathDigest(p string) string {
	sum := sha256.Sum256([]byte(p))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// LoadedLayerSet is a layer derivation's output and its LayerSet.
type LoadedLayerSet struct {
	// Dir is the output path.
	Dir string
	LayerSet
}

// ReadLayerSet reads the LayerSet of the layer derivation output dir and
// checks that every blob it records is there with the recorded size.
func ReadLayerSet(dir string) (*LoadedLayerSet, error) {
	data, err := readlimit.File(filepath.Join(dir, LayerSetFile), "a layer set", readlimit.Options)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a layer derivation's output (ociTools.buildLayer): it has no %s", dir, LayerSetFile)
		}
		return nil, fmt.Errorf("layer derivation %s: %w", dir, err)
	}
	s := &LoadedLayerSet{Dir: dir}
	if err := strictjson.Unmarshal(data, &s.LayerSet); err != nil {
		return nil, fmt.Errorf("layer derivation %s: %s: %w", dir, LayerSetFile, err)
	}
	for i, l := range s.Layers {
		if err := checkRecord(l); err != nil {
			return nil, fmt.Errorf("layer derivation %s: %s: layer %d: %w", dir, LayerSetFile, i, err)
		}
		fi, err := os.Stat(s.blob(l))
		if err != nil {
			return nil, fmt.Errorf("layer derivation %s: blob of layer %s: %w", dir, l.Digest, err)
		}
		if fi.Size() != l.Size {
			return nil, fmt.Errorf("layer derivation %s: blob %s is %d bytes, %s says %d", dir, l.Digest.Encoded(), fi.Size(), LayerSetFile, l.Size)
		}
	}
	return s, nil
}

// checkRecord checks the fields of a LayerRecord: sha256 digests, a known
// media type, a positive size and as many names as path digests.
func checkRecord(l LayerRecord) error {
	for _, f := range []struct {
		name string
		d    digest.Digest
	}{{"digest", l.Digest}, {"diffID", l.DiffID}} {
		if l := f.d.String(); !strings.HasPrefix(l, "sha256:") || !isLowerHex64(l[len("sha256:"):]) {
			return fmt.Errorf("%s %q is not sha256: and 64 lowercase hexadecimal digits", f.name, f.d)
		}
	}
	if l.MediaType != layer.Gzip.MediaType() && l.MediaType != layer.Zstd.MediaType() {
		return fmt.Errorf("unknown media type %q", l.MediaType)
	}
	if l.Size <= 0 {
		return fmt.Errorf("size %d of %s is not positive", l.Size, l.Digest)
	}
	if len(l.PathDigests) != len(l.Names) {
		return fmt.Errorf("%s has %d pathDigests and %d names", l.Digest, len(l.PathDigests), len(l.Names))
	}
	return nil
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *LoadedLayerSet) blob(l LayerRecord) string {
	return filepath.Join(s.Dir, v1.ImageBlobsDir, string(l.Digest.Algorithm()), l.Digest.Encoded())
}

// name is the output's name without its hash (a directory outside the
// store keeps its whole name).
func (s *LoadedLayerSet) name() string {
	base := filepath.Base(s.Dir)
	if len(base) > 33 && base[32] == '-' {
		return base[33:]
	}
	return base
}

// LayerSetOptions are a layer derivation's settings: what the Nix library
// passes to the builder as JSON under "layer".
type LayerSetOptions struct {
	// Compression of the layers: "gzip" (default) or "zstd".
	Compression string `json:"compression,omitempty"`
	// MaxLayers caps the number of layers (default 1).
	MaxLayers int `json:"maxLayers,omitempty"`
	// Layers are the outputs of other layer derivations: the store paths
	// they hold are left out.
	Layers []string `json:"layers,omitempty"`
	// Verify checks the store paths against the NAR hashes of the graph
	// (default: when the graph has them).
	Verify *bool `json:"verify,omitempty"`
}

// DecodeLayerSetOptions reads LayerSetOptions from JSON, unknown keys
// refused.
func DecodeLayerSetOptions(data []byte) (LayerSetOptions, error) {
	var o LayerSetOptions
	if err := strictjson.Unmarshal(data, &o); err != nil {
		return o, fmt.Errorf("layer options: %w", strictjson.DescribeOptionError(err))
	}
	return o, nil
}

// NewLayerSetPlan plans a layer derivation: the closure of roots in g, less
// the store paths the layer sets held hold, grouped into at most
// o.MaxLayers layers as images group their closure (GroupLayers). Only
// Layers, StoreDir, Compression, Verify and Warnings of the plan are set.
func NewLayerSetPlan(g *store.Graph, roots []string, o LayerSetOptions, held []*LoadedLayerSet) (*Plan, error) {
	c, err := layer.ParseCompression(o.Compression)
	if err != nil {
		return nil, err
	}
	maxLayers := o.MaxLayers
	if maxLayers == 0 {
		maxLayers = 1
	}
	if maxLayers < 1 || maxLayers > MaxMaxLayers {
		return nil, fmt.Errorf("layer options: maxLayers must be 1 to %d, got %d", MaxMaxLayers, maxLayers)
	}
	closure, err := g.Closure(roots)
	if err != nil {
		return nil, err
	}
	skip := map[string]bool{}
	for _, s := range held {
		for _, l := range s.Layers {
			for _, d := range l.PathDigests {
				skip[d] = true
			}
		}
	}
	var rest []*store.PathInfo
	var want []nar.Expected
	for _, p := range closure {
		if skip[PathDigest(p.Path)] {
			continue
		}
		rest = append(rest, p)
		want = append(want, nar.Expected{Path: p.Path, NarHash: p.NarHash, NarSize: p.NarSize})
	}
	verify, warning, err := nar.PlanVerify(o.Verify, true, want)
	if err != nil {
		return nil, err
	}
	p := &Plan{StoreDir: g.StoreDir(), Layers: GroupLayers(rest, maxLayers), Compression: c, Verify: verify}
	if warning != "" {
		p.Warnings = append(p.Warnings, warning)
	}
	return p, nil
}

// WriteLayerSet creates out (which must not exist) with the plan's layers
// in blobs/sha256/ and their LayerSet in LayerSetFile, and returns it.
func WriteLayerSet(ctx context.Context, out string, plan *Plan, opts WriteOptions) (LayerSet, error) {
	start := time.Now()
	if err := os.Mkdir(out, 0o755); err != nil {
		return LayerSet{}, fmt.Errorf("create output directory: %w", err)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		return LayerSet{}, fmt.Errorf("create output directory: %w", err)
	}
	blobs := filepath.Join(out, v1.ImageBlobsDir, string(digest.SHA256))
	for _, d := range []string{filepath.Dir(blobs), blobs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return LayerSet{}, fmt.Errorf("create %s: %w", d, err)
		}
	}
	layers, err := writeLayers(ctx, blobs, plan, opts, start)
	if err != nil {
		return LayerSet{}, err
	}
	set := LayerSet{Layers: make([]LayerRecord, len(layers))}
	for i, l := range layers {
		r := LayerRecord{
			MediaType:   plan.Compression.MediaType(),
			Digest:      l.Digest,
			Size:        l.Size,
			DiffID:      l.DiffID,
			PathDigests: []string{},
			Names:       []string{},
		}
		for _, p := range plan.Layers[i].Paths {
			r.PathDigests = append(r.PathDigests, PathDigest(p.Path))
			r.Names = append(r.Names, p.Name())
		}
		set.Layers[i] = r
	}
	data, err := json.MarshalIndent(set, "", " ")
	if err != nil {
		return LayerSet{}, fmt.Errorf("encode %s: %w", LayerSetFile, err)
	}
	if err := writeFile(filepath.Join(out, LayerSetFile), append(data, '\n')); err != nil {
		return LayerSet{}, err
	}
	return set, nil
}

// Prebuilt is a layer that a layer derivation wrote: the image links its
// blob instead of writing one.
type Prebuilt struct {
	// Blob is the blob's path in the layer derivation's output.
	Blob   string
	Record LayerRecord
}

// UseLayerSets makes the image's closure come from the layers of layer
// derivations: the layers of sets, in order, replace the closure's layers
// and come first; the store paths of the closure that no set holds follow
// in at most rest layers of the image's own (grouped as GroupLayers
// groups, written and verified as the image's layers are); the layers
// made for the image (/etc, contents) come last. With rest 0, every store
// path of the closure must be held by one of the sets. Write then links
// the sets' blobs into the image (symbolic links) instead of writing them.
func (p *Plan) UseLayerSets(sets []*LoadedLayerSet, rest int) error {
	if rest < 0 || rest > MaxMaxLayers {
		return fmt.Errorf("the layers for the rest of the closure must be 0 to %d, got %d", MaxMaxLayers, rest)
	}
	held := map[string]string{}
	for _, s := range sets {
		for _, l := range s.Layers {
			for _, d := range l.PathDigests {
				if _, ok := held[d]; !ok {
					held[d] = s.name()
				}
			}
		}
	}
	var own, base []LayerPlan
	var owner *layer.Ownership
	inLayers := map[string]bool{}
	var unheld []*store.PathInfo
	for _, l := range p.Layers {
		if l.Base != nil {
			base = append(base, l)
			continue
		}
		if l.Entries != nil || l.Tar != "" {
			own = append(own, l)
			continue
		}
		if l.Owner != nil {
			owner = l.Owner
		}
		for _, path := range l.Paths {
			if _, ok := held[PathDigest(path.Path)]; ok || inLayers[path.Path] {
				continue
			}
			if rest == 0 {
				return fmt.Errorf("store path %s of the image's closure is in none of its layer derivations", path.Path)
			}
			inLayers[path.Path] = true
			unheld = append(unheld, path)
		}
	}
	if owner != nil {
		for _, perm := range owner.Perms {
			if name, ok := held[PathDigest(perm.Path)]; ok {
				return fmt.Errorf("perms: %s is in layer derivation %s, whose layers are written without perms: give perms only for store paths the image writes", perm.Path, name)
			}
		}
	}
	rested := GroupLayers(unheld, rest)
	for i := range rested {
		rested[i].Owner = owner
	}
	layers := base
	for _, s := range sets {
		for _, l := range s.Layers {
			count := fmt.Sprintf("%d store paths", len(l.Names))
			if len(l.Names) == 1 {
				count = "1 store path"
			}
			comment := fmt.Sprintf("layer derivation %s: %s: %s", s.name(), count, strings.Join(l.Names, ", "))
			if len(l.Names) > maxNamesInComment {
				comment = fmt.Sprintf("layer derivation %s: %s: %s, and %d more", s.name(), count,
					strings.Join(l.Names[:maxNamesInComment], ", "), len(l.Names)-maxNamesInComment)
			}
			layers = append(layers, LayerPlan{Prebuilt: &Prebuilt{Blob: s.blob(l), Record: l}, Comment: comment})
		}
	}
	layers = append(layers, rested...)
	layers = append(layers, own...)
	if p.MaxLayers > 0 && len(layers) > p.MaxLayers {
		// The library budgets the layer derivations without knowing the
		// base image's layers; and rest, given by the library too, must
		// leave room for the image's own.
		if len(base) > 0 {
			return fmt.Errorf("with the base image's %d layers the image would have %d layers, more than maxLayers %d: give a larger maxLayers, or its layer derivations a smaller one", len(base), len(layers), p.MaxLayers)
		}
		return fmt.Errorf("the image would have %d layers, more than maxLayers %d: give a larger maxLayers, or its layer derivations a smaller one", len(layers), p.MaxLayers)
	}
	if len(layers) > MaxMaxLayers {
		return fmt.Errorf("the image would have %d layers, more than %d (Docker's limit): give its layer derivations a smaller maxLayers", len(layers), MaxMaxLayers)
	}
	history := make([]v1.History, len(layers)-len(base))
	for i, l := range layers[len(base):] {
		h := v1.History{CreatedBy: CreatedBy, Comment: l.Describe()}
		if len(p.Config.History) > 0 {
			h.Created = p.Config.History[len(p.Config.History)-1].Created
		} else {
			h.Created = p.Config.Created
		}
		history[i] = h
	}
	if p.Base != nil {
		history = append(baseHistory(p.Base), history...)
	}
	p.Layers = layers
	p.Config.History = history
	return nil
}

// linkPrebuilt links a prebuilt layer's blob into blobs.
func linkPrebuilt(blobs string, pb *Prebuilt) (layer.Layer, error) {
	l := layer.Layer{Digest: pb.Record.Digest, Size: pb.Record.Size, DiffID: pb.Record.DiffID}
	err := os.Symlink(pb.Blob, filepath.Join(blobs, pb.Record.Digest.Encoded()))
	if err != nil && !errors.Is(err, os.ErrExist) {
		return l, fmt.Errorf("link layer %s: %w", pb.Record.Digest, err)
	}
	return l, nil
}
