package image

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/imageconfig"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/outside"
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
	// Annotations are the manifest's annotations: the annotations option,
	// and org.opencontainers.image.created when the creation time is not
	// the default.
	Annotations map[string]string
	// Config is the image configuration, complete but for
	// RootFS.DiffIDs, which Write fills in as it writes the layers.
	Config imageconfig.Image
	// Verify says the closure is checked against the NAR hashes of the
	// graph as the layers are written (WriteOptions.Verify): as the verify
	// option asks, by default whenever the graph gives hashes, by the rules
	// of bundles (nar.PlanVerify).
	Verify bool
	// Warnings report options that were dropped or limited: those of the
	// container (container.New) and the image's own.
	Warnings []string
	// Closure is the image's closure, sorted by path: what its layers hold
	// (or its layer derivations', Plan.UseLayerSets) and its documents
	// describe.
	Closure []*store.PathInfo
	// SBOM, when not nil, makes Write attach the image's documents
	// (package sbom); NewPlan sets it, with no build information.
	SBOM *SBOMOptions
	// Base, when not nil, is the base image (Options.FromImage), whose
	// layers are the first of Layers.
	Base *outside.Image
	// FromImage is what named Base.
	FromImage *FromImage
	// MaxLayers is the maxLayers option (with its default), which
	// UseLayerSets checks again when a base image's layers count.
	MaxLayers int
	// Perms are the perms option (Options.Perms): the modes and owners
	// the closure's entries take in the layers the image writes.
	Perms []layer.Perm
}

// NewPlan computes the image for the container options c and the image
// options o from the closure graph g: the container (container.New: the
// closure of every store path that the process mentions, which must all be
// in g; fsys tells which store paths have a bin directory, for the default
// PATH), its closure split into layers, a layer with /etc/passwd,
// /etc/group, the home and working directories and /tmp, and the image
// configuration. Unless verify is false, the narHashes of the graph must
// parse: the layers are checked against them as they are written.
func NewPlan(g *store.Graph, c container.Options, o Options, fsys container.StoreFS) (*Plan, error) {
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
	ct, err := container.New(g, c, fsys)
	if err != nil {
		return nil, err
	}
	if len(ct.Closure) == 0 && o.Compat == nil {
		return nil, errors.New("args mention no store path: the image would have an empty filesystem")
	}
	cfg := imageconfig.Config{ImageConfig: imageConfig(c, ct, s)}
	if o.Compat != nil && o.Compat.Config != nil {
		cfg = *o.Compat.Config
	}
	want := make([]nar.Expected, len(ct.Closure))
	for i, info := range ct.Closure {
		want[i] = nar.Expected{Path: info.Path, NarHash: info.NarHash, NarSize: info.NarSize}
	}
	verify, verifyWarning, err := nar.PlanVerify(c.Verify, true, want)
	if err != nil {
		return nil, err
	}
	warnings := ct.Warnings
	if verifyWarning != "" {
		warnings = append(warnings, verifyWarning)
	}
	inClosure := map[string]bool{}
	for _, info := range ct.Closure {
		inClosure[info.Path] = true
	}
	for _, p := range s.perms {
		if !inClosure[p.Path] {
			return nil, fmt.Errorf("perms: %s is not a store path of the image's closure", p.Path)
		}
	}
	baseLayers := 0
	if o.FromImage != nil {
		if o.Base == nil {
			return nil, errors.New("fromImage: the base image was not opened (image.OpenBase)")
		}
		baseLayers = len(o.Base.Layers)
		if s.maxLayers-baseLayers < 2 {
			return nil, fmt.Errorf("maxLayers %d leaves no layer for the closure: the base image has %d layers, and the image's own follow (give maxLayers %d or more)", s.maxLayers, baseLayers, baseLayers+2)
		}
		// The base's layers count in maxLayers, as dockerTools counts them.
		s.maxLayers -= baseLayers
	}
	// The image's closure and roots: the container's, less the derivation
	// that made the customisation layer from the shell arguments (its tar
	// is a layer; what it refers to stays, as dockerTools keeps the
	// customisation layer's references and not the layer).
	closure, roots := ct.Closure, c.Roots
	if o.Compat != nil && o.Compat.ShellLayer != "" {
		shell := o.Compat.ShellLayer
		if !inClosure[shell] {
			return nil, fmt.Errorf("shellLayer: %s is not a store path of the closure", shell)
		}
		closure, roots = nil, nil
		for _, info := range ct.Closure {
			if info.Path != shell {
				closure = append(closure, info)
			}
		}
		for _, r := range c.Roots {
			if r != shell {
				roots = append(roots, r)
			}
		}
	}
	var layers []LayerPlan
	if o.Compat != nil {
		var inBase func(string) bool
		if o.Base != nil {
			inBase = o.Base.Has
		}
		if layers, err = compatLayers(closure, ct.Closure, inClosure, roots, o.Compat, s, inBase, &warnings); err != nil {
			return nil, err
		}
	} else {
		etc, err := mergeEntries(rootfsEntries(ct), s.dirs)
		if err != nil {
			return nil, err
		}
		layers = append([]LayerPlan{{Entries: etc}}, GroupLayers(ct.Closure, s.maxLayers-1)...)
		if len(s.perms) > 0 {
			for i := range layers[1:] {
				layers[i+1].Owner = &layer.Ownership{Perms: s.perms}
			}
		}
	}
	created := s.created
	p := &Plan{
		StoreDir:    ct.StoreDir,
		Layers:      layers,
		Compression: s.compression,
		MaxLayers:   s.maxLayers + baseLayers,
		Perms:       s.perms,
		Tag:         s.tag,
		Verify:      verify,
		Warnings:    warnings,
		Closure:     closureOf(closure),
		SBOM:        &SBOMOptions{},
		Config: imageconfig.Image{
			Created:  &created,
			Platform: platform,
			Config:   cfg,
			RootFS:   v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{}},
		},
	}
	if len(ct.Annotations) > 0 {
		p.Annotations = map[string]string{}
		for k, v := range ct.Annotations {
			p.Annotations[k] = v
		}
	}
	if def, _ := time.Parse(time.RFC3339, DefaultCreated); !created.Equal(def) {
		// A creation time that was given is the image's: the manifest
		// says it too, as the image-spec's annotation (unless the
		// annotations say otherwise). The default is a placeholder
		// (dockerTools' too) that would show as a 1970 build date.
		if _, ok := p.Annotations[v1.AnnotationCreated]; !ok {
			if p.Annotations == nil {
				p.Annotations = map[string]string{}
			}
			// As the configuration's created is written (time.Time's
			// JSON): fractional seconds kept, in UTC.
			p.Annotations[v1.AnnotationCreated] = created.Format(time.RFC3339Nano)
		}
	}
	for _, l := range layers {
		p.Config.History = append(p.Config.History, v1.History{
			Created:   &created,
			CreatedBy: CreatedBy,
			Comment:   l.Describe(),
		})
	}
	if o.Base != nil {
		_, pathSet := c.Env["PATH"]
		if o.Compat != nil && o.Compat.Config != nil {
			pathSet = true // dockerTools' config: its PATH, if any, wins
		}
		p.UseBase(o.FromImage, o.Base, pathSet)
		p.Warnings = append(p.Warnings, o.Base.Warnings...)
	}
	return p, nil
}

// compatLayers are the layers of a dockerTools-style image (see Compat):
// the closure in at most maxLayers - 1 layers by auto-layer (or in
// those of its layeringPipeline) and the customisation layer, or, for
// Single, one layer of both. The pipeline's warnings are added to warnings.
// closure is the image's, graph the container's: with the derivation of
// the shell arguments' customisation layer too, which auto-layer and the
// pipeline take as dockerTools does (in the graph, never a store layer).
// inBase, when not nil, tells the store paths a base image already has:
// Single's layer leaves them out, as dockerTools.buildImage adds only the
// files its base lacks.
func compatLayers(closure, graph []*store.PathInfo, inClosure map[string]bool, roots []string, c *Compat, s settings, inBase func(string) bool, warnings *[]string) ([]LayerPlan, error) {
	for _, list := range []struct {
		name  string
		paths []string
	}{{"contents", c.Contents}, {"copyToRoot", c.CopyToRoot}} {
		for _, p := range list.paths {
			if !inClosure[p] {
				return nil, fmt.Errorf("%s: %s is not a store path of the closure", list.name, p)
			}
		}
	}
	mtime, err := c.mtime()
	if err != nil {
		return nil, err
	}
	var db []layer.Entry
	if c.IncludeNixDB {
		// The whole closure is valid (dockerTools registers the closure
		// of its contents only), with a root for each path the image was
		// built from.
		gcroots := append(append(append([]string(nil), c.Contents...), c.CopyToRoot...), roots...)
		if db, err = nixDBEntries(closure, gcroots, !c.Single, c.UID, c.GID, c.Uname, c.Gname); err != nil {
			return nil, err
		}
	}
	custom := &Customisation{Contents: c.Contents, Copy: c.CopyToRoot, KeepDirlinks: c.KeepContentsDirlinks,
		Extra: append([]layer.Entry(nil), s.dirs...), Perms: s.perms}
	if c.ShellLayer == "" {
		custom.Extra = append(custom.Extra, db...)
	}
	dbComment := fmt.Sprintf("Nix's database of %d store paths", len(closure))
	if c.ExcludeStorePaths {
		closure, graph = nil, nil
	}
	if c.Single {
		custom.UID, custom.GID, custom.Uname, custom.Gname = c.UID, c.GID, c.Uname, c.Gname
	}
	entries, err := custom.Entries()
	if err != nil {
		return nil, err
	}
	if entries == nil {
		entries = []layer.Entry{}
	}
	var more []string
	if db != nil && c.ShellLayer == "" {
		more = append(more, dbComment)
	}
	comment := customComment(c.Contents, c.CopyToRoot, s.dirs, more, len(entries))
	shellComment := "customisation layer made by the shell arguments from " + comment
	// The Nix database of an image whose customisation layer the shell
	// arguments made goes into a layer of its own, on top: a
	// customisation layer of the database alone (not an /etc layer, of
	// which a base image's files would be dropped).
	var dbLayer []LayerPlan
	if db != nil && c.ShellLayer != "" {
		dbLayer = []LayerPlan{{Entries: db, Custom: &Customisation{Extra: db}, Comment: dbComment}}
	}
	if c.Single {
		// One layer, as dockerTools.buildImage's: the closure less what
		// the base image has, then the tar the shell arguments made of
		// copyToRoot, or the customisation entries.
		var paths []*store.PathInfo
		for _, info := range closure {
			if inBase == nil || !inBase(info.Path) {
				paths = append(paths, info)
			}
		}
		sort.Slice(paths, func(i, j int) bool { return paths[i].Path < paths[j].Path })
		stored := fmt.Sprintf("%d store paths", len(paths))
		if n := len(closure) - len(paths); n > 0 {
			stored += fmt.Sprintf(" (%d more in the base image)", n)
		}
		owner := &layer.Ownership{MTime: mtime, Perms: s.perms}
		if c.ShellLayer != "" {
			return append([]LayerPlan{{Paths: paths, Tar: c.ShellLayer, Popularity: -1, Owner: owner,
				Comment: fmt.Sprintf("%s and the %s", stored, shellComment)}}, dbLayer...), nil
		}
		return []LayerPlan{{Paths: paths, Entries: entries, Custom: custom, Popularity: -1, Owner: owner,
			Comment: fmt.Sprintf("%s and %s", stored, comment)}}, nil
	}
	var layers []LayerPlan
	if c.Pipeline != nil && !c.ExcludeStorePaths {
		// dockerTools leaves its customisation layer's store path out of
		// the graph the pipeline splits.
		var w []string
		if layers, w, err = PipelineLayers(graph, c.Pipeline, c.ShellLayer); err != nil {
			return nil, err
		}
		*warnings = append(*warnings, w...)
		if room := s.maxLayers - 1 - len(dbLayer); len(layers) > room {
			return nil, fmt.Errorf("layeringPipeline makes %d layers of store paths and the image has room for %d (125 layers, less the customisation layer and a base image's): end it with [ \"limit_layers\" %d ]", len(layers), room, room)
		}
	} else {
		// dockerTools' default: auto-layer, in what maxLayers leaves
		// besides the customisation layer (s.maxLayers is already less a
		// base image's layers) and the database's own layer, if any.
		if layers, err = AutoLayers(graph, max(1, s.maxLayers-1-len(dbLayer)), c.ShellLayer); err != nil {
			return nil, err
		}
	}
	owner := &layer.Ownership{UID: c.UID, GID: c.GID, Uname: c.Uname, Gname: c.Gname, MTime: mtime, Perms: s.perms}
	for i := range layers {
		layers[i].Owner = owner
	}
	if c.ShellLayer != "" {
		return append(append(layers, LayerPlan{Tar: c.ShellLayer, Comment: shellComment}), dbLayer...), nil
	}
	return append(layers, LayerPlan{Entries: entries, Custom: custom, Contents: c.Contents, Comment: comment}), nil
}

// customComment says what a customisation layer of n entries holds:
// contents linked, copies, declared directories and more.
func customComment(contents, copies []string, dirs []layer.Entry, more []string, n int) string {
	var parts []string
	if len(contents) > 0 {
		parts = append(parts, "contents linked at /: "+contentsNames(contents))
	}
	if len(copies) > 0 {
		parts = append(parts, "copied at /: "+contentsNames(copies))
	}
	var names []string
	for _, e := range dirs {
		if e.Dir {
			names = append(names, e.Path)
		}
	}
	if len(names) > 0 {
		parts = append(parts, "directories "+strings.Join(names, ", "))
	}
	parts = append(parts, more...)
	if len(parts) == 0 {
		return "customisation layer: empty"
	}
	return fmt.Sprintf("customisation layer, %d entries: %s", n, strings.Join(parts, "; "))
}

// rootfsEntries is the /etc layer: what a bundle's rootfs holds besides the
// closure (/etc/passwd, /etc/group, /etc/nsswitch.conf, the home and working
// directories), owned by root except the process user's home, which is the
// user's, and /tmp with mode 1777 when the container has a writable /tmp
// (not when the tmp option is false or the store directory is inside /tmp,
// which container.New warns about). Unlike a bundle, an image can carry
// owners and modes.
func rootfsEntries(c *container.Container) []layer.Entry {
	var entries []layer.Entry
	for _, f := range c.Files {
		entries = append(entries, layer.Entry{Path: f.Path, Data: f.Data, Mode: 0o444})
	}
	user := c.Process.User
	home := ""
	for _, e := range c.Process.Env {
		if v, ok := strings.CutPrefix(e, "HOME="); ok {
			home = v
		}
	}
	// A bundle reaches the home and /tmp through symlinks to tmpfs mounts;
	// an image's root filesystem is writable and has them as directories.
	dirs := c.RootfsDirs(c.Mounts)
	tmp := false
	for _, l := range c.Symlinks {
		switch {
		case l.Path == home && l.Target == container.HomeDir:
			dirs = append(dirs, home)
			sort.Strings(dirs)
		case l.Path == "/tmp":
			tmp = true
		}
	}
	for _, d := range dirs {
		e := layer.Entry{Path: d, Dir: true, Mode: 0o755}
		if d == home && user.UID != 0 {
			e.UID, e.GID = int(user.UID), int(user.GID)
		}
		entries = append(entries, e)
	}
	if tmp {
		entries = append(entries, layer.Entry{Path: "/tmp", Dir: true, Mode: 0o1777})
	}
	return entries
}

// Describe says what the layer holds, naming its store paths without their
// hashes (so that the image configuration refers to no store path through
// its history).
func (l LayerPlan) Describe() string {
	if l.Comment != "" {
		return l.Comment
	}
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

// contentsNames names store paths without their hashes.
func contentsNames(paths []string) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = (&store.PathInfo{Path: p}).Name()
	}
	return strings.Join(names, ", ")
}
