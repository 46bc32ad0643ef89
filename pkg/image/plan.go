package image

import (
	"errors"
	"fmt"
	"sort"
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
	// Layers are the layers to write, base layer first: the /etc layer,
	// then the closure's.
	Layers []LayerPlan
	// Compression is the layers' compression.
	Compression layer.Compression
	// Tag is the image's reference name in index.json.
	Tag string
	// Annotations are the manifest's annotations (the annotations option).
	Annotations map[string]string
	// Config is the image configuration, complete but for
	// RootFS.DiffIDs, which Write fills in as it writes the layers.
	Config v1.Image
	// Verify says the closure is to be checked against the NAR hashes of
	// the graph as the layers are written (WriteOptions.Verify): as the
	// verify option asks, by default whenever the graph gives hashes,
	// with the rules of bundles (see verifyWarning).
	Verify bool
	// Warnings report options that were dropped.
	Warnings []string
}

// NewPlan computes the image for the container options c and the image
// options o from the closure graph g: the closure of every store path that
// the process mentions (arguments, environment, working directory), which
// must all be in g, split into layers, a layer with /etc/passwd, /etc/group,
// the home and working directories and /tmp, and the image configuration.
// fsys tells which store paths have a bin directory, for the default PATH.
func NewPlan(g *store.Graph, c bundle.Options, o Options, fsys bundle.StoreFS) (*Plan, error) {
	s, err := o.check()
	if err != nil {
		return nil, err
	}
	if err := refuseRuntimeOnly(c); err != nil {
		return nil, err
	}
	platform, err := Platform(c)
	if err != nil {
		return nil, err
	}
	bp, err := bundle.NewPlan(g, c, fsys)
	if err != nil {
		return nil, err
	}
	if len(bp.Closure) == 0 {
		return nil, errors.New("args mention no store path: the image would have an empty filesystem")
	}
	cfg, err := imageConfig(c, bp, s)
	if err != nil {
		return nil, err
	}
	entries, warnings := rootfsEntries(c, bp)
	if w := verifyWarning(c.Verify, bp.Closure); w != "" {
		warnings = append(warnings, w)
	}
	layers := append([]LayerPlan{{Entries: entries}}, GroupLayers(bp.Closure, s.maxLayers-1)...)
	created := s.created
	p := &Plan{
		StoreDir:    g.StoreDir(),
		Layers:      layers,
		Compression: s.compression,
		Tag:         s.tag,
		Verify:      bp.Verify,
		Warnings:    warnings,
		Config: v1.Image{
			Created:  &created,
			Platform: platform,
			Config:   cfg,
			RootFS:   v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{}},
		},
	}
	if len(c.Annotations) > 0 {
		p.Annotations = map[string]string{}
		for k, v := range c.Annotations {
			p.Annotations[k] = v
		}
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

// rootfsEntries is the /etc layer: what package bundle puts in a bundle's
// rootfs besides the closure (/etc/passwd, /etc/group, /etc/nsswitch.conf,
// the home and working directories), owned by root except the process
// user's home, which is the user's, and /tmp with mode 1777 unless the tmp
// option is false. Unlike a bundle, an image can carry owners and modes.
func rootfsEntries(c bundle.Options, bp *bundle.Plan) ([]layer.Entry, []string) {
	var warnings []string
	var entries []layer.Entry
	for _, f := range bp.Files {
		entries = append(entries, layer.Entry{Path: f.Path, Data: f.Data, Mode: 0o444})
	}
	proc := bp.Spec.Process
	home := ""
	for _, e := range proc.Env {
		if v, ok := strings.CutPrefix(e, "HOME="); ok {
			home = v
		}
	}
	// A bundle reaches the home through a symlink to a tmpfs; an image's
	// root filesystem is writable and has it as a directory.
	dirs := bp.Dirs
	for _, l := range bp.Symlinks {
		if l.Path == home && l.Target == bundle.HomeDir {
			dirs = append(append([]string(nil), dirs...), home)
			sort.Strings(dirs)
		}
	}
	for _, d := range dirs {
		e := layer.Entry{Path: d, Dir: true, Mode: 0o755}
		if d == home && proc.User.UID != 0 {
			e.UID, e.GID = int(proc.User.UID), int(proc.User.GID)
		}
		entries = append(entries, e)
	}
	if c.Tmp == nil || *c.Tmp {
		if bp.StoreDir == "/tmp" || strings.HasPrefix(bp.StoreDir, "/tmp/") {
			// The store's layers hold /tmp too, mode 0755, and come later.
			warnings = append(warnings, fmt.Sprintf("no writable /tmp: the store directory %s is inside it", bp.StoreDir))
		} else {
			entries = append(entries, layer.Entry{Path: "/tmp", Dir: true, Mode: 0o1777})
		}
	}
	return entries, warnings
}

// describe says what the layer holds, naming its store paths without their
// hashes (so that the image configuration refers to no store path through
// its history).
func (l LayerPlan) describe() string {
	if l.Entries != nil {
		names := make([]string, 0, len(l.Entries))
		for _, e := range l.Entries {
			names = append(names, e.Path)
		}
		return "created for the image: " + strings.Join(names, ", ")
	}
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
