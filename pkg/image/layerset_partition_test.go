package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// TestUseLayerSetsPartition plans images of the shapes the Nix library
// makes with declared layers (buildImage; buildLayeredImage with contents,
// with the shell arguments' customisation layer and Nix's database; over
// a base image), with the rest of the closure's layers budgeted as
// nix/oci-tools/layers.nix budgets them (maxLayers less the image's own
// layers and the declared layers' maxLayers), and checks the plan: every
// store path of the closure in exactly one layer (a declared one or one
// the image writes), no path a declared layer holds written again, no
// more layers than maxLayers, and the layers in order (base, declared,
// the rest, the image's own). A budget that leaves the image's own layers
// no room is refused in one line, not written over maxLayers.
func TestUseLayerSetsPartition(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	g0, app := diskStore(t, dir, 12, 'x', "#!/bin/sh\necho v1\n")
	// The shell arguments' customisation layer: a derivation in the
	// closure whose layer.tar is a layer.
	shell := filepath.Join(dir, strings.Repeat("s", 32)+"-customisation-layer")
	if err := os.MkdirAll(shell, 0o755); err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755})
	tw.Close()
	if err := os.WriteFile(filepath.Join(shell, "layer.tar"), tb.Bytes(), 0o444); err != nil {
		t.Fatal(err)
	}
	// NAR hashes for Nix's database (never checked: nothing is
	// verified).
	const hash = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
	var infos []store.PathInfo
	var libs []string
	for _, p := range g0.Paths() {
		info, _ := g0.Lookup(p)
		i := *info
		i.NarHash, i.NarSize = hash, 1
		infos = append(infos, i)
		if p != app {
			libs = append(libs, p)
		}
	}
	infos = append(infos, store.PathInfo{Path: shell, NarHash: hash, NarSize: 1, References: []string{}})
	g, err := store.NewGraph(infos, dir)
	if err != nil {
		t.Fatal(err)
	}
	noVerify := false
	// lib0 <- lib1 <- ... <- lib11 <- app: deps holds lib0 to lib4 in 2
	// layers, so the image writes lib5 to lib11 and app.
	var lib4 string
	for _, p := range libs {
		if strings.HasSuffix(p, "-lib4") {
			lib4 = p
		}
	}
	plan, err := image.NewLayerSetPlan(g, []string{lib4}, image.LayerSetOptions{MaxLayers: 2, Verify: &noVerify}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deps := writeSet(t, filepath.Join(out, "deps"), plan)
	// all holds the whole closure but the application: with a rest
	// budget, the image writes only app.
	plan, err = image.NewLayerSetPlan(g, libs, image.LayerSetOptions{MaxLayers: 3, Verify: &noVerify}, []*image.LoadedLayerSet{deps})
	if err != nil {
		t.Fatal(err)
	}
	rest := writeSet(t, filepath.Join(out, "rest"), plan)
	base := baseArchive(t, runtime.GOARCH, nil)

	layered := func(c image.Compat) *image.Compat { return &c }
	tests := []struct {
		name string
		c    container.Options
		opts image.Options
		sets []*image.LoadedLayerSet
		// used is what the declared layers count in the budget (their
		// maxLayers), own the image's own layers as the library counts
		// them.
		used, own int
		err       string
	}{
		{"buildImage", container.Options{Args: []string{app + "/bin/app"}}, image.Options{MaxLayers: 6}, []*image.LoadedLayerSet{deps}, 2, 1, ""},
		{"buildImage, one layer left", container.Options{Args: []string{app + "/bin/app"}}, image.Options{MaxLayers: 4}, []*image.LoadedLayerSet{deps}, 2, 1, ""},
		{"buildImage, two declared", container.Options{Args: []string{app + "/bin/app"}}, image.Options{MaxLayers: 9}, []*image.LoadedLayerSet{deps, rest}, 5, 1, ""},
		{"buildImage over a base image", container.Options{Args: []string{app + "/bin/app"}}, image.Options{MaxLayers: 9, FromImage: &image.FromImage{Path: base}}, []*image.LoadedLayerSet{deps}, 2, 1,
			"with the base image's 2 layers the image would have 11 layers, more than maxLayers 9: give a larger maxLayers, or its layer derivations a smaller one"},
		{"buildLayeredImage", container.Options{Args: []string{"/bin/sh"}, Roots: []string{app}},
			image.Options{MaxLayers: 7, Compat: layered(image.Compat{Contents: []string{app}, UID: 1000, GID: 100})}, []*image.LoadedLayerSet{deps}, 2, 1, ""},
		{"buildLayeredImage with the Nix database", container.Options{Args: []string{"/bin/sh"}, Roots: []string{app}},
			image.Options{MaxLayers: 7, Compat: layered(image.Compat{Contents: []string{app}, IncludeNixDB: true})}, []*image.LoadedLayerSet{deps}, 2, 1, ""},
		{"buildLayeredImage, shell layer and Nix database", container.Options{Args: []string{"/bin/sh"}, Roots: []string{app, shell}},
			image.Options{MaxLayers: 7, Compat: layered(image.Compat{Contents: []string{app}, ShellLayer: shell, IncludeNixDB: true})}, []*image.LoadedLayerSet{deps}, 2, 2, ""},
		{"shell layer and Nix database, budgeted for one own layer", container.Options{Args: []string{"/bin/sh"}, Roots: []string{app, shell}},
			image.Options{MaxLayers: 7, Compat: layered(image.Compat{Contents: []string{app}, ShellLayer: shell, IncludeNixDB: true})}, []*image.LoadedLayerSet{deps}, 2, 1,
			"the image would have 8 layers, more than maxLayers 7: give a larger maxLayers, or its layer derivations a smaller one"},
		{"buildLayeredImage over a base image", container.Options{Args: []string{"/bin/sh"}, Roots: []string{app}},
			image.Options{MaxLayers: 9, FromImage: &image.FromImage{Path: base}, Compat: layered(image.Compat{Contents: []string{app}})}, []*image.LoadedLayerSet{deps}, 2, 1,
			"with the base image's 2 layers the image would have 11 layers, more than maxLayers 9: give a larger maxLayers, or its layer derivations a smaller one"},
		{"buildLayeredImage over a base image, room left", container.Options{Args: []string{"/bin/sh"}, Roots: []string{app}},
			image.Options{MaxLayers: 11, FromImage: &image.FromImage{Path: base}, Compat: layered(image.Compat{Contents: []string{app}})}, []*image.LoadedLayerSet{deps}, 4, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.FromImage != nil {
				p, _ := image.Platform(tc.c)
				b, err := image.OpenBase(context.Background(), tc.opts.FromImage, p)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				tc.opts.Base = b
			}
			ip := planWithSets(t, g, tc.c, tc.opts, tc.sets, tc.opts.MaxLayers-tc.own-tc.used, tc.err)
			if ip == nil {
				return
			}
			if len(ip.Layers) > tc.opts.MaxLayers {
				t.Fatalf("%d layers, more than maxLayers %d", len(ip.Layers), tc.opts.MaxLayers)
			}
			if len(ip.Config.History) != len(ip.Layers) {
				t.Fatalf("%d history entries for %d layers", len(ip.Config.History), len(ip.Layers))
			}
			// Where each store path of the closure is: in which declared
			// layers, in which written ones.
			declared := map[string]int{}
			for _, s := range tc.sets {
				for _, l := range s.Layers {
					for _, d := range l.PathDigests {
						declared[d]++
					}
				}
			}
			written := map[string]int{}
			// The order: base, declared, the rest, the image's own.
			const (
				inBase = iota
				inDeclared
				inRest
				inOwn
			)
			stage := inBase
			for i, l := range ip.Layers {
				s := inOwn
				switch {
				case l.Base != nil:
					s = inBase
				case l.Prebuilt != nil:
					s = inDeclared
				case l.Entries == nil && l.Tar == "":
					s = inRest
				}
				if s < stage {
					t.Fatalf("layer %d (%s) after a layer of a later kind", i, l.Describe())
				}
				stage = s
				for _, p := range l.Paths {
					written[p.Path]++
				}
			}
			for _, info := range ip.Closure {
				d, w := declared[image.PathDigest(info.Path)], written[info.Path]
				if d+w == 0 {
					t.Errorf("%s is in no layer", info.Path)
				}
				if w > 1 || (w == 1 && d > 0) {
					t.Errorf("%s is written %d times and held by %d declared layers", info.Path, w, d)
				}
			}
			if len(written) == 0 {
				t.Fatal("the image writes no store path")
			}
		})
	}
}

// planWithSets plans the image of g and c with opts, then makes its closure
// come from sets, with rest layers for what they lack (Plan.UseLayerSets).
// With wantErr, UseLayerSets must fail with exactly that message, and the
// plan returned is nil.
func planWithSets(t *testing.T, g *store.Graph, c container.Options, opts image.Options, sets []*image.LoadedLayerSet, rest int, wantErr string) *image.Plan {
	t.Helper()
	ip, err := image.NewPlan(g, c, opts, bundle.HostStore{})
	if err != nil {
		t.Fatal(err)
	}
	err = ip.UseLayerSets(sets, rest)
	if wantErr != "" {
		if err == nil || err.Error() != wantErr {
			t.Fatalf("error %v, want %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return ip
}
