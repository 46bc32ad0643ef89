package image

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/nar"
)

// WriteOptions tune Write.
type WriteOptions struct {
	// Workers is the number of layers written at once, and of goroutines
	// compressing their blocks (shared: one big layer uses them all); 0 or
	// less means one per CPU. The bytes written do not depend on it.
	Workers int
	// Progress, when set, is called about once a second while layers are
	// written, from a goroutine of its own.
	Progress func(Progress)
	// ProgressInterval overrides the one second between Progress calls.
	ProgressInterval time.Duration
	// Verify checks each store path that the plan gives a narHash
	// against it, hashing in NAR order the very bytes written into its
	// layer (each file is still read once). A difference fails Write with
	// a *nar.MismatchError, whose message is one line. Plan.Verify is what
	// NewPlan decided for it.
	Verify bool
}

// Progress tells how far Write is.
type Progress struct {
	// Layers is the number of layers, LayersDone how many are written.
	Layers, LayersDone int
	// Bytes is the size of the file contents read so far.
	Bytes int64
	// Elapsed is the time since Write started.
	Elapsed time.Duration
}

// Result describes a written image.
type Result struct {
	// Manifest, Config: the descriptors of the manifest and of the image
	// configuration.
	Manifest, Config v1.Descriptor
	// Layers describe the layer blobs, base layer first.
	Layers []layer.Layer
	// Referrers are the descriptors of the artifacts whose subject is the
	// manifest: the SBOMs and the provenance (Plan.SBOM).
	Referrers []v1.Descriptor
	// Elapsed is the time Write took.
	Elapsed time.Duration
}

// Write creates the OCI image layout directory out (which must not exist)
// as planned: oci-layout, the layer blobs (written in parallel), the image
// configuration and the manifest, the image's documents (unless Plan.SBOM
// is nil: CycloneDX, SPDX and SLSA provenance as OCI 1.1 artifacts whose
// subject is the manifest, listed in index.json after the image), and
// index.json last, so that a layout without it is visibly incomplete.
func Write(ctx context.Context, out string, plan *Plan, opts WriteOptions) (Result, error) {
	start := time.Now()
	if err := os.Mkdir(out, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return Result{}, fmt.Errorf("output directory %s already exists", out)
		}
		return Result{}, fmt.Errorf("create output directory: %w", err)
	}
	// The umask may have taken bits away; Nix rejects a group- or
	// world-writable output, and readers need 0755.
	if err := os.Chmod(out, 0o755); err != nil {
		return Result{}, fmt.Errorf("create output directory: %w", err)
	}
	blobs := filepath.Join(out, v1.ImageBlobsDir, string(digest.SHA256))
	for _, d := range []string{filepath.Dir(blobs), blobs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return Result{}, fmt.Errorf("create %s: %w", d, err)
		}
	}
	layout, err := json.Marshal(v1.ImageLayout{Version: v1.ImageLayoutVersion})
	if err != nil {
		return Result{}, fmt.Errorf("encode %s: %w", v1.ImageLayoutFile, err)
	}
	if err := writeFile(filepath.Join(out, v1.ImageLayoutFile), layout); err != nil {
		return Result{}, err
	}

	layers, err := writeLayers(ctx, blobs, plan, opts, start)
	if err != nil {
		return Result{}, err
	}
	res := Result{Layers: layers}

	img := plan.Config
	img.RootFS.DiffIDs = make([]digest.Digest, len(layers))
	manifest := v1.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   v1.MediaTypeImageManifest,
		Layers:      make([]v1.Descriptor, len(layers)),
		Annotations: plan.Annotations,
	}
	for i, l := range layers {
		img.RootFS.DiffIDs[i] = l.DiffID
		mediaType := plan.Compression.MediaType()
		if pb := plan.Layers[i].Prebuilt; pb != nil {
			mediaType = pb.Record.MediaType
		}
		if bl := plan.Layers[i].Base; bl != nil {
			mediaType = bl.Image.Layers[bl.Index].MediaType
		}
		manifest.Layers[i] = v1.Descriptor{MediaType: mediaType, Digest: l.Digest, Size: l.Size}
	}
	if res.Config, err = writeJSONBlob(blobs, v1.MediaTypeImageConfig, img); err != nil {
		return Result{}, fmt.Errorf("image configuration: %w", err)
	}
	manifest.Config = res.Config
	if res.Manifest, err = writeJSONBlob(blobs, v1.MediaTypeImageManifest, manifest); err != nil {
		return Result{}, fmt.Errorf("manifest: %w", err)
	}
	manifests := []v1.Descriptor{res.Manifest}
	// An image of no store path (dockerTools.buildImage with a config
	// only, includeStorePaths = false) has nothing for them to describe.
	if plan.SBOM != nil && len(plan.Closure) > 0 {
		if res.Referrers, err = writeReferrers(blobs, plan, res.Manifest); err != nil {
			return Result{}, fmt.Errorf("image documents: %w", err)
		}
		manifests = append(manifests, res.Referrers...)
	}
	platform := img.Platform
	manifests[0].Platform = &platform
	manifests[0].Annotations = map[string]string{v1.AnnotationRefName: plan.Tag}
	res.Manifest = manifests[0]
	index, err := json.Marshal(v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: manifests,
	})
	if err != nil {
		return Result{}, fmt.Errorf("encode %s: %w", v1.ImageIndexFile, err)
	}
	if err := writeFile(filepath.Join(out, v1.ImageIndexFile), index); err != nil {
		return Result{}, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// writeLayers writes the plan's layers into the blobs directory with
// opts.Workers goroutines, the biggest layers first so that a big one does
// not start last, and returns them in plan order.
func writeLayers(ctx context.Context, blobs string, plan *Plan, opts WriteOptions, start time.Time) ([]layer.Layer, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	order := make([]int, len(plan.Layers))
	sizes := make([]uint64, len(plan.Layers))
	for i, l := range plan.Layers {
		order[i] = i
		for _, p := range l.Paths {
			sizes[i] += p.NarSize
		}
		if l.Base != nil {
			sizes[i] = uint64(l.Base.Image.Layers[l.Base.Index].Size)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return sizes[order[a]] > sizes[order[b]] })

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var bytesRead atomic.Int64
	var done atomic.Int64
	stop := startProgress(opts, func() Progress {
		return Progress{Layers: len(plan.Layers), LayersDone: int(done.Load()), Bytes: bytesRead.Load(), Elapsed: time.Since(start)}
	})
	defer stop()

	pool := layer.NewPool(workers)
	jobs := make(chan int)
	layers := make([]layer.Layer, len(plan.Layers))
	var wg sync.WaitGroup
	for w := 0; w < workers && w < len(order); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				l, err := writeLayer(ctx, blobs, plan, i, opts.Verify, pool, func(n int64) { bytesRead.Add(n) })
				if err != nil {
					cancel(err)
					continue
				}
				layers[i] = l
				done.Add(1)
			}
		}()
	}
	for _, i := range order {
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
	return layers, nil
}

// writeLayer writes layer i to a temporary file in blobs and renames it to
// its digest, verifying its store paths when verify is set.
func writeLayer(ctx context.Context, blobs string, plan *Plan, i int, verify bool, pool *layer.Pool, progress func(int64)) (layer.Layer, error) {
	lp := plan.Layers[i]
	if lp.Prebuilt != nil {
		return linkPrebuilt(blobs, lp.Prebuilt)
	}
	if lp.Base != nil {
		return copyBaseLayer(blobs, i, lp.Base)
	}
	paths := make([]string, len(lp.Paths))
	var want []nar.Expected
	for k, p := range lp.Paths {
		paths[k] = p.Path
		if verify && p.NarHash != "" {
			want = append(want, nar.Expected{Path: p.Path, NarHash: p.NarHash, NarSize: p.NarSize})
		}
	}
	name := "the /etc layer"
	if lp.Custom != nil || lp.Tar != "" {
		name = "the customisation layer"
	}
	switch {
	case len(paths) == 1:
		name = paths[0]
	case len(paths) > 1:
		name = fmt.Sprintf("%s and %d more", paths[0], len(paths)-1)
	}
	tmp := filepath.Join(blobs, fmt.Sprintf(".layer-%d.tmp", i))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return layer.Layer{}, fmt.Errorf("layer %d (%s): %w", i+1, name, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	var l layer.Layer
	switch {
	case lp.Tar != "" && len(paths) == 0:
		l, err = layer.WriteTarFile(ctx, bw, filepath.Join(lp.Tar, "layer.tar"), plan.Compression)
	case lp.Entries != nil && len(paths) == 0:
		l, err = layer.WriteEntries(ctx, bw, lp.Entries, plan.Compression)
	default:
		opts := layer.Options{Progress: progress, Verify: want, Pool: pool, Owner: lp.Owner, Entries: lp.Entries}
		if lp.Tar != "" {
			opts.Tar = filepath.Join(lp.Tar, "layer.tar")
		}
		l, err = layer.Write(ctx, bw, plan.StoreDir, paths, plan.Compression, opts)
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(blobs, l.Digest.Encoded()))
	}
	if err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return layer.Layer{}, context.Cause(ctx)
		}
		var mismatch *nar.MismatchError
		if errors.As(err, &mismatch) {
			// It names the store path already: one line, as bundles give it.
			return layer.Layer{}, err
		}
		return layer.Layer{}, fmt.Errorf("layer %d (%s): %w", i+1, name, err)
	}
	return l, nil
}

// startProgress calls opts.Progress with get() about once a second until the
// returned function is called.
func startProgress(opts WriteOptions, get func() Progress) func() {
	if opts.Progress == nil {
		return func() {}
	}
	interval := opts.ProgressInterval
	if interval <= 0 {
		interval = time.Second
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				opts.Progress(get())
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// writeJSONBlob encodes v and stores it as a blob of the given media type.
func writeJSONBlob(blobs, mediaType string, v any) (v1.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("encode: %w", err)
	}
	return writeBlob(blobs, mediaType, data)
}

// writeBlob stores data as a blob of the given media type (once: a blob
// that exists already is its own bytes).
func writeBlob(blobs, mediaType string, data []byte) (v1.Descriptor, error) {
	d := digest.FromBytes(data)
	p := filepath.Join(blobs, d.Encoded())
	if err := writeFile(p, data); err != nil && !errors.Is(err, os.ErrExist) {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, nil
}

// writeFile creates p, which must not exist, with data.
func writeFile(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(p), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(p), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(p), err)
	}
	return nil
}
