// Package dockerarchive streams images as `docker load` archives
// (docker-archive: layer tars, the image configuration, manifest.json)
// without storing them: ociTools.streamLayeredImage (nix/oci-tools.nix)
// stores only a Description of the image, and running it writes the
// archive to stdout.
//
// A Description is made at build time from an image.Plan (Describe): the
// store paths and entries of each layer, the size and DiffID of each
// layer's uncompressed tar, computed by writing the tar to a hash (the
// closure is read once, and checked against its NAR hashes when the plan
// verifies), and the image configuration with its DiffIDs. Stream writes
// the same tars again, into the archive, and checks each against its
// recorded DiffID: a store path that changed since the build fails the
// stream before the configuration and manifest.json are written, so no
// loader accepts the archive.
//
// The layer tars are those of package layer, uncompressed, so an image
// streamed from a plan has the DiffIDs and the image configuration of the
// OCI image written from the same plan (image.Write).
package dockerarchive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/imageconfig"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/outside"
	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// Version is the version of the Description format this package writes and
// reads.
const Version = 2

// The kinds of layers.
const (
	// KindStore is a layer of store paths (layer.WriteTar).
	KindStore = "store"
	// KindEntries is a layer of entries made for the image, the /etc
	// layer (layer.WriteEntriesTar).
	KindEntries = "entries"
	// KindContents is the customisation layer, linking the trees of
	// store paths at / (image.Customisation), whose entries are computed
	// again when streamed rather than stored: a tree of thousands of
	// files would make a description of megabytes.
	KindContents = "contents"
	// KindBase is a layer of the base image (fromImage), whose blob is
	// copied unchanged from the base image's file.
	KindBase = "base"
	// KindTar is a layer whose tar is a file, LAYER/layer.tar, of its one
	// store path (image.Compat.ShellLayer), streamed as it is.
	KindTar = "tar"
)

// Description is what a streamed image stores: everything needed to write
// its archive from the store.
type Description struct {
	// Version is the format's version, Version.
	Version int `json:"version"`
	// StoreDir is the store directory the layers' paths are in.
	StoreDir string `json:"storeDir"`
	// RepoTag is the image's reference in manifest.json, "NAME:TAG".
	RepoTag string `json:"repoTag"`
	// Layers are the layers, base layer first.
	Layers []Layer `json:"layers"`
	// Config is the image configuration (Docker's keys too), its
	// RootFS.DiffIDs those of Layers.
	Config imageconfig.Image `json:"config"`
}

// Layer is one layer of a Description.
type Layer struct {
	// Kind is KindStore or KindEntries.
	Kind string `json:"kind"`
	// Paths are the store paths of a KindStore layer, or those whose
	// trees a KindContents layer links at /.
	Paths []string `json:"paths,omitempty"`
	// Entries are the entries of a KindEntries layer.
	Entries []layer.Entry `json:"entries,omitempty"`
	// Owner owns the entries of a KindStore layer (nil: root, mtime 1).
	Owner *layer.Ownership `json:"owner,omitempty"`
	// Custom is what a KindContents layer is made of.
	Custom *image.Customisation `json:"custom,omitempty"`
	// Size is the size of the uncompressed tar, DiffID its digest (for a
	// KindBase layer, Size is its blob's, maybe compressed).
	Size   int64         `json:"size"`
	DiffID digest.Digest `json:"diffID"`
	// Base is where a KindBase layer's blob is.
	Base *BaseRef `json:"base,omitempty"`
}

// BaseRef is a layer of a base image: the image's file (a store path or
// a file in one), what picks the image in it, the layer's index and its
// blob's digest.
type BaseRef struct {
	Path     string        `json:"path"`
	Name     string        `json:"name,omitempty"`
	Tag      string        `json:"tag,omitempty"`
	Platform v1.Platform   `json:"platform"`
	Index    int           `json:"index"`
	Digest   digest.Digest `json:"digest"`
}

// DescribeOptions tune Describe.
type DescribeOptions struct {
	// Workers is the number of layers hashed at once; 0 or less means one
	// per CPU. The description does not depend on it.
	Workers int
	// Verify checks each store path the plan gives a narHash against it
	// while its tar is hashed (image.WriteOptions.Verify).
	Verify bool
	// FromImage names the plan's base image (its Name and Tag pick it in
	// its file again when the image is streamed).
	FromImage image.FromImage
}

// Describe computes the description of the image planned by plan, whose
// reference in manifest.json is repoTag: it writes each layer's tar to a
// hash, to learn its size and DiffID.
func Describe(ctx context.Context, plan *image.Plan, repoTag string, opts DescribeOptions) (*Description, error) {
	d := &Description{Version: Version, StoreDir: plan.StoreDir, RepoTag: repoTag, Layers: make([]Layer, len(plan.Layers))}
	for i, lp := range plan.Layers {
		l := Layer{Kind: KindStore}
		switch {
		case lp.Base != nil:
			bl := lp.Base.Image.Layers[lp.Base.Index]
			l = Layer{Kind: KindBase, Size: bl.Size, DiffID: bl.DiffID, Base: &BaseRef{
				Path: lp.Base.Image.Path, Name: opts.FromImage.Name, Tag: opts.FromImage.Tag,
				Platform: plan.Config.Platform, Index: lp.Base.Index, Digest: bl.Digest}}
		case lp.Tar != "" && len(lp.Paths) > 0:
			return nil, fmt.Errorf("layer %d holds store paths and a tar: a streamed image cannot have it (dockerTools' buildImage style)", i+1)
		case lp.Tar != "":
			l.Kind, l.Paths = KindTar, []string{lp.Tar}
		case lp.Custom != nil && len(lp.Paths) == 0:
			l.Kind, l.Paths, l.Custom = KindContents, lp.Custom.Paths(), lp.Custom
		case lp.Entries != nil && len(lp.Paths) == 0:
			l.Kind, l.Entries = KindEntries, lp.Entries
		case lp.Entries != nil:
			return nil, fmt.Errorf("layer %d holds store paths and entries: a streamed image cannot have it (dockerTools' buildImage style)", i+1)
		default:
			for _, p := range lp.Paths {
				l.Paths = append(l.Paths, p.Path)
			}
			l.Owner = lp.Owner
		}
		d.Layers[i] = l
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers && w < len(plan.Layers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if d.Layers[i].Kind == KindBase {
					continue // verified when the base image was opened
				}
				var want []nar.Expected
				if opts.Verify {
					for _, p := range plan.Layers[i].Paths {
						if p.NarHash != "" {
							want = append(want, nar.Expected{Path: p.Path, NarHash: p.NarHash, NarSize: p.NarSize})
						}
					}
				}
				sum := &digester{h: sha256.New()}
				bw := bufio.NewWriterSize(sum, 256*1024)
				err := d.Layers[i].writeTar(ctx, bw, d.StoreDir, want)
				if err == nil {
					err = bw.Flush()
				}
				if err != nil {
					cancel(layerError(i, &d.Layers[i], err))
					continue
				}
				d.Layers[i].Size, d.Layers[i].DiffID = sum.n, digest.NewDigest(digest.SHA256, sum.h)
			}
		}()
	}
	for i := range plan.Layers {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	d.Config = plan.Config
	d.Config.RootFS.DiffIDs = make([]digest.Digest, len(d.Layers))
	for i, l := range d.Layers {
		d.Config.RootFS.DiffIDs[i] = l.DiffID
	}
	return d, nil
}

// layerError names layer i in err, unless err names a store path already.
func layerError(i int, l *Layer, err error) error {
	var mismatch *nar.MismatchError
	if errors.As(err, &mismatch) {
		return err
	}
	return fmt.Errorf("layer %d (%s): %w", i+1, l.name(), err)
}

// name says what the layer holds, for messages.
func (l *Layer) name() string {
	switch {
	case l.Kind == KindEntries:
		return fmt.Sprintf("%d entries made for the image", len(l.Entries))
	case l.Kind == KindContents:
		return fmt.Sprintf("the contents linked at /: %s", strings.Join(l.Paths, ", "))
	case l.Kind == KindBase:
		return fmt.Sprintf("layer %d of the base image %s", l.Base.Index+1, l.Base.Path)
	case len(l.Paths) == 1:
		return l.Paths[0]
	case len(l.Paths) > 1:
		return fmt.Sprintf("%s and %d more", l.Paths[0], len(l.Paths)-1)
	}
	return "empty"
}

// writeTar writes the layer's uncompressed tar to w, verifying the store
// paths of want.
func (l *Layer) writeTar(ctx context.Context, w io.Writer, storeDir string, want []nar.Expected) error {
	var err error
	switch l.Kind {
	case KindEntries:
		_, err = layer.WriteEntriesTar(ctx, w, l.Entries)
	case KindContents:
		var entries []layer.Entry
		if entries, err = l.Custom.Entries(); err == nil {
			_, err = layer.WriteEntriesTar(ctx, w, entries)
		}
	case KindTar:
		_, err = layer.CopyTarFile(ctx, w, path.Join(l.Paths[0], "layer.tar"))
	default:
		_, err = layer.WriteTar(ctx, w, storeDir, l.Paths, layer.Options{Verify: want, Owner: l.Owner})
	}
	return err
}

// digester hashes and counts what is written to it.
type digester struct {
	h hash.Hash
	n int64
}

func (d *digester) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

// Encode writes the description to w as the file a streamed image is: the
// line "#!INTERPRETER" (an absolute path and, after one space, at most one
// argument, as the kernel passes it), then the description as JSON. The
// line must fit in 127 bytes, the limit of Linux before 5.1.
func Encode(w io.Writer, interpreter string, d *Description) error {
	if err := CheckInterpreter(interpreter); err != nil {
		return err
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode the image description: %w", err)
	}
	if _, err := fmt.Fprintf(w, "#!%s\n%s\n", interpreter, data); err != nil {
		return fmt.Errorf("write the image description: %w", err)
	}
	return nil
}

// MaxShebang is the longest "#!" line, newline included, that every Linux
// kernel reads whole (BINPRM_BUF_SIZE was 128 before Linux 5.1).
const MaxShebang = 127

// CheckInterpreter checks what Encode puts after "#!": an absolute path
// and at most one argument, in a line of at most MaxShebang bytes.
func CheckInterpreter(interpreter string) error {
	prog, arg, _ := bytes.Cut([]byte(interpreter), []byte(" "))
	switch {
	case !path.IsAbs(string(prog)):
		return fmt.Errorf("interpreter %q is not an absolute path", interpreter)
	case bytes.ContainsAny([]byte(interpreter), "\n\t\x00") || bytes.Contains(arg, []byte(" ")):
		return fmt.Errorf("interpreter %q must be a path and at most one argument, without tabs, newlines or a second space", interpreter)
	case len("#!")+len(interpreter)+1 > MaxShebang:
		return fmt.Errorf("the line #!%s is %d bytes with its newline, more than the %d that Linux before 5.1 reads: use a shorter store directory", interpreter, len(interpreter)+3, MaxShebang)
	}
	return nil
}

// Decode reads a file written by Encode: it skips the "#!" line and reads
// the description, refusing unknown keys and other versions. storeDir is
// the local store directory: the description must name it, and every path
// it names must be a store path directly in it (Check), so that a crafted
// description cannot make Stream read other files.
func Decode(data []byte, storeDir string) (*Description, error) {
	if !bytes.HasPrefix(data, []byte("#!")) {
		return nil, errors.New("not a streamed image: no #! line")
	}
	_, body, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return nil, errors.New("not a streamed image: nothing after the #! line")
	}
	var d Description
	if err := strictjson.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("not a streamed image description: %w", err)
	}
	if d.Version != Version {
		return nil, fmt.Errorf("streamed image description version %d, this oci-builder reads version %d", d.Version, Version)
	}
	if len(d.Layers) == 0 || len(d.Config.RootFS.DiffIDs) != len(d.Layers) {
		return nil, fmt.Errorf("streamed image description has %d layers and %d DiffIDs", len(d.Layers), len(d.Config.RootFS.DiffIDs))
	}
	for i, l := range d.Layers {
		if err := l.DiffID.Validate(); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		if l.DiffID != d.Config.RootFS.DiffIDs[i] {
			return nil, fmt.Errorf("layer %d: DiffID %s, the configuration says %s", i+1, l.DiffID, d.Config.RootFS.DiffIDs[i])
		}
		if (l.Kind != KindStore && l.Kind != KindEntries && l.Kind != KindContents && l.Kind != KindTar && l.Kind != KindBase) || l.Size < 0 {
			return nil, fmt.Errorf("layer %d: kind %q, size %d", i+1, l.Kind, l.Size)
		}
	}
	if err := CheckRepoTag(d.RepoTag); err != nil {
		return nil, fmt.Errorf("streamed image description: %w", err)
	}
	if d.StoreDir != storeDir {
		return nil, fmt.Errorf("streamed image description names the store directory %q, not this machine's %s (set NIX_STORE_DIR to the store it was built in)", d.StoreDir, storeDir)
	}
	if err := d.Check(); err != nil {
		return nil, err
	}
	return &d, nil
}

// repoTagRe is the grammar of "NAME:TAG" in a docker-archive's
// manifest.json, as Docker's reference package states it: an optional
// registry host (with a port), then path components of lower-case letters
// and digits joined by '.', '_', '__' or dashes, then the tag.
var repoTagRe = func() *regexp.Regexp {
	const (
		hostPart  = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		host      = hostPart + `(?:\.` + hostPart + `)*(?::[0-9]+)?`
		component = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
		tag       = `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
	)
	return regexp.MustCompile(`^(?:` + host + `/)?` + component + `(?:/` + component + `)*:` + tag + `$`)
}()

// CheckRepoTag checks ref, an image's "NAME:TAG" in manifest.json, against
// the reference grammar of docker load (and of at most 255 bytes of NAME).
func CheckRepoTag(ref string) error {
	name, _ := splitRepoTag(ref)
	if !repoTagRe.MatchString(ref) || len(name) > 255 {
		return fmt.Errorf("the image reference %q is not NAME:TAG as docker load reads it (NAME: lower-case letters, digits and '.', '_', '-' between them, in components separated by '/', after an optional registry host; TAG: letters, digits, '_', '.' and '-', at most 128)", ref)
	}
	return nil
}

// Check checks that the description reads nothing but store paths: its
// store directory is a clean absolute path other than /, each path of a
// layer is a store path directly in it ("STOREDIR/HASH-NAME", a valid store
// path name), and a layer has paths or entries as its kind says, not both.
func (d *Description) Check() error {
	if !path.IsAbs(d.StoreDir) || path.Clean(d.StoreDir) != d.StoreDir || d.StoreDir == "/" || strings.ContainsAny(d.StoreDir, "\x00\n") {
		return fmt.Errorf("streamed image description: store directory %q is not a clean absolute path other than /", d.StoreDir)
	}
	for i, l := range d.Layers {
		if l.Kind == KindEntries && len(l.Paths) > 0 {
			return fmt.Errorf("layer %d: a layer of kind %q has paths (%s)", i+1, l.Kind, l.Paths[0])
		}
		if l.Kind != KindEntries && len(l.Entries) > 0 {
			return fmt.Errorf("layer %d: a layer of kind %q has entries (%s)", i+1, l.Kind, l.Entries[0].Path)
		}
		for _, p := range l.Paths {
			if err := checkStorePath(d.StoreDir, p); err != nil {
				return fmt.Errorf("layer %d: %w", i+1, err)
			}
		}
		if (l.Kind == KindBase) != (l.Base != nil) {
			return fmt.Errorf("layer %d: a layer of kind %q must have a base image reference exactly when it is of kind %q", i+1, l.Kind, KindBase)
		}
		if l.Base != nil {
			if len(l.Paths) > 0 {
				return fmt.Errorf("layer %d: a layer of kind %q has paths (%s)", i+1, l.Kind, l.Paths[0])
			}
			if err := checkInStore(d.StoreDir, l.Base.Path); err != nil {
				return fmt.Errorf("layer %d: base image: %w", i+1, err)
			}
			if err := l.Base.Digest.Validate(); err != nil || l.Base.Index < 0 {
				return fmt.Errorf("layer %d: base image layer %d, digest %q", i+1, l.Base.Index, l.Base.Digest)
			}
		}
		if (l.Kind == KindContents) != (l.Custom != nil) || (l.Kind != KindStore && l.Owner != nil) || (l.Kind == KindTar && len(l.Paths) != 1) {
			return fmt.Errorf("layer %d: a layer of kind %q with the wrong description", i+1, l.Kind)
		}
		if l.Custom != nil {
			if !slices.Equal(l.Paths, l.Custom.Paths()) {
				return fmt.Errorf("layer %d: its paths are not those of its contents", i+1)
			}
			if len(l.Custom.Copy) > 0 {
				// Only buildImage copies, and it is never streamed.
				return fmt.Errorf("layer %d: a streamed layer copies nothing (%s)", i+1, l.Custom.Copy[0])
			}
			for _, e := range l.Custom.Extra {
				if e.Copies() {
					return fmt.Errorf("layer %d: entry %s copies %s: made entries copy nothing", i+1, e.Path, e.Src)
				}
			}
			for _, p := range l.Custom.Perms {
				if err := checkStorePath(d.StoreDir, p.Path); err != nil {
					return fmt.Errorf("layer %d: perms: %w", i+1, err)
				}
			}
		}
		for _, e := range l.Entries {
			if e.Copies() {
				return fmt.Errorf("layer %d: entry %s copies %s: made entries copy nothing", i+1, e.Path, e.Src)
			}
		}
	}
	return nil
}

// key names the image of the file a BaseRef picks.
func (b *BaseRef) key() string {
	return strings.Join([]string{b.Path, b.Name, b.Tag, outside.PlatformString(b.Platform)}, "\x00")
}

// checkInStore checks that p is a store path directly in storeDir or a
// file inside one.
func checkInStore(storeDir, p string) error {
	rest, ok := strings.CutPrefix(p, storeDir+"/")
	if !ok || path.Clean(p) != p {
		return fmt.Errorf("%q is not in the store %s", p, storeDir)
	}
	top, _, _ := strings.Cut(rest, "/")
	return checkStorePath(storeDir, storeDir+"/"+top)
}

// checkStorePath checks that p is a store path directly in storeDir.
func checkStorePath(storeDir, p string) error {
	dir, base := path.Split(p)
	if path.Clean(p) != p || dir != storeDir+"/" {
		return fmt.Errorf("%q is not a store path in %s", p, storeDir)
	}
	if err := store.ValidateBaseName(base); err != nil {
		return fmt.Errorf("%q is not a store path: %w", p, err)
	}
	return nil
}

// modTime is the modification time of the archive's entries, as of the
// layers' (Nix's).
var modTime = time.Unix(1, 0)

// archive manifest.json's entry, as docker save writes it.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Stream writes the docker-archive of d to w: each layer's tar as
// DIFFID/layer.tar (uncompressed), then DIGEST.json (the image
// configuration), manifest.json and repositories. The description is
// checked (Check) and every store path checked to exist before anything is
// written; each layer's tar must have the size and DiffID that d records,
// or Stream fails (the store path changed) without writing the
// configuration and manifest.json. The same description always gives the
// same bytes.
func Stream(ctx context.Context, w io.Writer, d *Description) error {
	if err := d.Check(); err != nil {
		return err
	}
	bases := map[string]*outside.Image{}
	defer func() {
		for _, im := range bases {
			im.Close()
		}
	}()
	for _, l := range d.Layers {
		for _, p := range l.Paths {
			if _, err := os.Lstat(p); err != nil {
				return fmt.Errorf("store path %s of the image is missing (was it garbage-collected? nix-store --realise it or build the image again): %w", p, err)
			}
		}
		if l.Base != nil {
			key := l.Base.key()
			if bases[key] == nil {
				p := l.Base.Platform
				im, err := outside.Open(l.Base.Path, outside.Selector{Name: l.Base.Name, Tag: l.Base.Tag, Platform: &p})
				if err != nil {
					return fmt.Errorf("base image: %w", err)
				}
				bases[key] = im
			}
		}
	}
	config, err := json.Marshal(d.Config)
	if err != nil {
		return fmt.Errorf("encode the image configuration: %w", err)
	}
	bw := &errWriter{w: w}
	out := bufio.NewWriterSize(bw, 1<<20)
	tw := tar.NewWriter(out)
	m := manifestEntry{Config: digest.FromBytes(config).Encoded() + ".json", RepoTags: []string{d.RepoTag}}
	var written []digest.Digest
	for i := range d.Layers {
		l := &d.Layers[i]
		name := l.DiffID.Encoded() + "/layer.tar"
		m.Layers = append(m.Layers, name)
		if slices.Contains(written, l.DiffID) {
			continue // the same tar twice: written once
		}
		written = append(written, l.DiffID)
		var err error
		if l.Base != nil {
			err = streamBaseLayer(tw, bases[l.Base.key()], l, name)
		} else {
			err = streamLayer(ctx, tw, d.StoreDir, l, name)
		}
		if err != nil {
			if bw.err != nil {
				return bw.err
			}
			return layerError(i, l, err)
		}
	}
	manifest, err := json.Marshal([]manifestEntry{m})
	if err != nil {
		return fmt.Errorf("encode manifest.json: %w", err)
	}
	repo, tag := splitRepoTag(d.RepoTag)
	repositories, err := json.Marshal(map[string]map[string]string{repo: {tag: d.Layers[len(d.Layers)-1].DiffID.Encoded()}})
	if err != nil {
		return fmt.Errorf("encode repositories: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{m.Config, config}, {"manifest.json", manifest}, {"repositories", repositories}} {
		if err := writeEntry(tw, f.name, int64(len(f.data))); err != nil {
			return bw.or(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return bw.or(fmt.Errorf("write %s: %w", f.name, err))
		}
	}
	if err := tw.Close(); err != nil {
		return bw.or(fmt.Errorf("finish the archive: %w", err))
	}
	if err := out.Flush(); err != nil {
		return bw.or(err)
	}
	return nil
}

// streamLayer writes the layer's tar into tw as name, checking its size and
// DiffID.
func streamLayer(ctx context.Context, tw *tar.Writer, storeDir string, l *Layer, name string) error {
	if err := writeEntry(tw, name, l.Size); err != nil {
		return err
	}
	sum := sha256.New()
	counted := &digester{h: sum}
	buf := bufio.NewWriterSize(io.MultiWriter(tw, counted), 256*1024)
	err := l.writeTar(ctx, buf, storeDir, nil)
	if err == nil {
		err = buf.Flush()
	}
	if errors.Is(err, tar.ErrWriteTooLong) || (err == nil && counted.n != l.Size) {
		return fmt.Errorf("its tar is no longer the %d bytes the build recorded: a store path changed since the image was built", l.Size)
	}
	if err != nil {
		return err
	}
	if got := digest.NewDigest(digest.SHA256, sum); got != l.DiffID {
		return fmt.Errorf("its tar has digest %s, not the DiffID %s the build recorded: a store path changed since the image was built", got, l.DiffID)
	}
	return nil
}

// streamBaseLayer writes the blob of a base image's layer into tw as
// name, checking its digest and size.
func streamBaseLayer(tw *tar.Writer, im *outside.Image, l *Layer, name string) error {
	if err := writeEntry(tw, name, l.Size); err != nil {
		return err
	}
	rc, err := im.OpenBlob(l.Base.Index, l.Base.Digest, l.Size)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(tw, rc); err != nil {
		if errors.Is(err, tar.ErrWriteTooLong) {
			return fmt.Errorf("its blob is no longer the %d bytes the build recorded", l.Size)
		}
		return err
	}
	return nil
}

func writeEntry(tw *tar.Writer, name string, size int64) error {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o444, ModTime: modTime}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// splitRepoTag splits "NAME:TAG" at its last colon after the last slash.
func splitRepoTag(ref string) (repo, tag string) {
	slash := bytes.LastIndexByte([]byte(ref), '/')
	colon := bytes.LastIndexByte([]byte(ref), ':')
	if colon <= slash {
		return ref, "latest"
	}
	return ref[:colon], ref[colon+1:]
}

// errWriter remembers the first error of w, so that a failure to write the
// output (a closed pipe) is reported as such, not as a layer's.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = fmt.Errorf("write the archive: %w", err)
	}
	return n, e.err
}

// or is the output's error if there was one, else err.
func (e *errWriter) or(err error) error {
	if e.err != nil {
		return e.err
	}
	return err
}
