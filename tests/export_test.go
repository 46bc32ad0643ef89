package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// whiteoutImage is an image whose runAsRoot, over a layered base image,
// removes a file of the base (its layer has a whiteout) and adds one.
const whiteoutImage = `pkgs.ociTools.buildImage {
    name = "runasroot-whiteout";
    tag = "latest";
    fromImage = plain.bashLayeredWithUser;
    runAsRoot = "rm /etc/gshadow; echo new > /etc/motd";
  }`

// linkBaseImage is an image whose runAsRoot and extraCommands run over a
// base image with a link leading out of the root (up -> ..): what they
// write through it stays in the image's root, as in dockerTools' VM.
const linkBaseImage = `pkgs.ociTools.buildImage {
    name = "runasroot-link-base";
    tag = "latest";
    fromImage = pkgs.ociTools.buildLayeredImage {
      name = "link-base";
      tag = "latest";
      extraCommands = "ln -s .. up";
    };
    runAsRoot = "echo root > up/by-run-as-root";
    extraCommands = "echo extra > up/by-extra-commands";
  }`

// dtExports are the calls TestDockerToolsExamples builds in its
// nix-build besides the examples (names in its expression: plain,
// withNixpkgs, pkgs): examples.nix's exportBash; the export of
// layersOrder, three images each on the previous one (fromImage), whose
// layers overwrite each other's files; whiteoutImage and its export;
// linkBaseImage.
var dtExports = map[string]string{
	"exportBash":              "plain.exportBash",
	"exportLayersOrder":       "pkgs.ociTools.exportImage { fromImage = withNixpkgs.layersOrder; diskSize = 2048; }",
	"runAsRootWhiteout":       whiteoutImage,
	"exportRunAsRootWhiteout": "pkgs.ociTools.exportImage { fromImage = " + whiteoutImage + "; }",
	"runAsRootLinkBase":       linkBaseImage,
}

// exportedEntry is an entry of an exported file system.
type exportedEntry struct {
	hdr  *tar.Header
	data []byte
}

// readExport reads the tar an exportImage wrote, checking what every
// export holds: the root "./" first, every name "./...", no whiteouts.
func readExport(t *testing.T, file string) (map[string]exportedEntry, []string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string]exportedEntry{}
	var names []string
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", file, hdr.Name, err)
		}
		if !strings.HasPrefix(hdr.Name, "./") || strings.Contains(hdr.Name, ".wh.") {
			t.Errorf("%s: entry %q: want ./NAME and no whiteout", file, hdr.Name)
		}
		if hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: entry %q has owner names %q:%q, want numeric owners only", file, hdr.Name, hdr.Uname, hdr.Gname)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		entries[name] = exportedEntry{hdr, data}
		names = append(names, name)
	}
	if len(names) == 0 || names[0] != "." {
		t.Fatalf("%s: first entries %v, want the root ./ first", file, names[:min(3, len(names))])
	}
	return entries, names
}

// checkExports checks the exported file systems: what
// nixos/tests/docker-tools.nix asserts of exportBash (`tar -tf` lists
// ./bin/bash), bash's program with its content and mode, the result's
// name (fromImage's, as dockerTools'), the layers of a stack of base
// images applied in order, buildImage's layer without its base's store
// paths, and a rebuild giving the same bytes.
func checkExports(t *testing.T, built map[string]dtBuilt) {
	t.Helper()
	out := built["exportBash"].Out
	entries, names := readExport(t, out)
	bash, ok := entries["./bin/bash"]
	if !ok {
		t.Fatalf("exportBash: no ./bin/bash among %d entries (docker-tools.nix: tar -tf | grep './bin/bash')", len(names))
	}
	// ./bin/bash links into the store, whose file is the store's own.
	if bash.hdr.Typeflag != tar.TypeSymlink || !strings.HasPrefix(bash.hdr.Linkname, "/nix/store/") {
		t.Fatalf("exportBash: ./bin/bash is %q -> %q, want a symbolic link into the store", bash.hdr.Typeflag, bash.hdr.Linkname)
	}
	target, ok := entries["."+bash.hdr.Linkname]
	if !ok {
		t.Fatalf("exportBash: ./bin/bash's target .%s is not in the export", bash.hdr.Linkname)
	}
	host, err := os.ReadFile(bash.hdr.Linkname)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(bash.hdr.Linkname)
	if err != nil {
		t.Fatal(err)
	}
	if target.hdr.Typeflag != tar.TypeReg || !bytes.Equal(target.data, host) || target.hdr.Mode != int64(fi.Mode().Perm()) || target.hdr.Uid != 0 {
		t.Errorf("exportBash: .%s is type %q, mode %o, uid %d, %d bytes; want the store's file: mode %o, uid 0, %d bytes",
			bash.hdr.Linkname, target.hdr.Typeflag, target.hdr.Mode, target.hdr.Uid, len(target.data), fi.Mode().Perm(), len(host))
	}
	if got, want := filepath.Base(out)[33:], filepath.Base(built["bash"].Out)[33:]; got != want {
		t.Errorf("exportBash is named %q, want fromImage's name %q (dockerTools')", got, want)
	}

	// layersOrder: l1 writes layer1 into /tmp/layer1..3, l2 layer2 into
	// layer2 and layer3, l3 layer3 into layer3.
	entries, _ = readExport(t, built["exportLayersOrder"].Out)
	for _, n := range []string{"1", "2", "3"} {
		e, ok := entries["./tmp/layer"+n]
		if !ok || string(e.data) != "layer"+n+"\n" {
			t.Errorf("exportLayersOrder: ./tmp/layer%s holds %q, want %q", n, e.data, "layer"+n+"\n")
		}
	}

	// runAsRoot's rm over the layered base: a whiteout in the layer, the
	// file gone in the export and in Docker; the base's other files kept.
	img := built["runAsRootWhiteout"].Out
	if names := lastLayerNames(t, img); !slices.Contains(names, "./etc/.wh.gshadow") || !slices.Contains(names, "./etc/motd") || slices.Contains(names, "./etc/shadow") {
		t.Errorf("runAsRootWhiteout: its layer has %v, want ./etc/.wh.gshadow and ./etc/motd, not the base's ./etc/shadow", names)
	}
	entries, _ = readExport(t, built["exportRunAsRootWhiteout"].Out)
	_, gshadow := entries["./etc/gshadow"]
	_, shadow := entries["./etc/shadow"]
	if motd := entries["./etc/motd"]; gshadow || !shadow || string(motd.data) != "new\n" {
		t.Errorf("exportRunAsRootWhiteout: ./etc/gshadow there: %v, ./etc/shadow there: %v, ./etc/motd %q; want gone, there, \"new\\n\"", gshadow, shadow, motd.data)
	}
	d := dockerDaemon(t)
	d.docker(t, img, "load")
	if got := d.docker(t, "", "run", "--rm", "--network", "none", "runasroot-whiteout:latest", "bash", "-c", "[ -e /etc/gshadow ] || echo gone; cat /etc/motd /etc/shadow"); !strings.Contains(got, "gone\nnew\nroot:") {
		t.Errorf("runAsRootWhiteout in Docker printed %q, want gshadow gone, motd and shadow there", got)
	}

	// A base's link out of the root (up -> ..) leads to the image's root
	// for runAsRoot and extraCommands alike: their files are in the layer.
	if names := lastLayerNames(t, built["runAsRootLinkBase"].Out); !slices.Contains(names, "./by-run-as-root") || !slices.Contains(names, "./by-extra-commands") {
		t.Errorf("runAsRootLinkBase: its layer has %v, want ./by-run-as-root and ./by-extra-commands (written through the base's up -> ..)", names)
	}

	// buildImage over a base leaves out the store paths the base has, as
	// dockerTools adds only the files its base lacks: layersUnpackOrder's
	// c (copyToRoot coreutils, as b's) repeats none of b's.
	var stored []string
	for _, n := range lastLayerNames(t, built["layersUnpackOrder"].Out) {
		if rest, ok := strings.CutPrefix(strings.TrimPrefix(strings.TrimPrefix(n, "./"), "/"), "nix/store/"); ok && rest != "" {
			stored = append(stored, n)
		}
	}
	if len(stored) > 0 {
		t.Errorf("layersUnpackOrder: its layer repeats its base's store paths: %v", stored[:min(3, len(stored))])
	}

	drv := runNixOK(t, "nix-store", "--query", "--deriver", out)
	if r := runNix(t, "nix-store", "--realise", "--check", "--option", "substituters", "", drv); r.err != nil {
		t.Errorf("exportBash is not reproducible: %v", r)
	}
}

// lastLayerNames are the entry names of the last layer of an archive
// (manifest.json's last layer, gzip-compressed or not).
func lastLayerNames(t *testing.T, archive string) []string {
	t.Helper()
	blob := func(name string) []byte {
		f, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tr := tar.NewReader(f)
		for {
			hdr, err := tr.Next()
			if err != nil {
				t.Fatalf("%s: %s: %v", archive, name, err)
			}
			if hdr.Name == name {
				data, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				return data
			}
		}
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(blob("manifest.json"), &manifest); err != nil || len(manifest) != 1 || len(manifest[0].Layers) == 0 {
		t.Fatalf("%s: manifest.json: %v %v", archive, manifest, err)
	}
	data := blob(manifest[0].Layers[len(manifest[0].Layers)-1])
	var r io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	var names []string
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("%s: last layer: %v", archive, err)
		}
		names = append(names, hdr.Name)
	}
}

// TestExportImageRefused: exportImage's bad calls, and a name that is
// not a string in the image functions, fail at evaluation in one line
// naming the argument (not Nix's "cannot coerce"); a path as fromImage
// gives the export the file's name.
func TestExportImageRefused(t *testing.T) {
	need(t)
	t.Parallel()
	base := filepath.Join(t.TempDir(), "base.tar")
	if err := os.WriteFile(base, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	img := `ociTools.buildLayeredImage { name = "base"; }`
	for _, c := range []struct{ call, want string }{
		{`ociTools.exportImage { fromImage = 1; }`, "ociTools.exportImage: 'fromImage' must be an image (a derivation or a path: a docker-archive, an OCI layout or an oci-archive), got an int"},
		{`ociTools.exportImage { fromImage = { }; }`, "ociTools.exportImage: 'fromImage' must be an image"},
		{`ociTools.exportImage (` + img + `)`, "ociTools.exportImage: 'arguments' must be an attribute set ({ fromImage = image; }), not the image itself, got a derivation"},
		{`ociTools.exportImage { }`, "ociTools.exportImage: 'fromImage' is required"},
		{`ociTools.exportImage { fromImage = ` + img + `; diskSize = "1"; }`, "ociTools.exportImage: 'diskSize' must be an integer"},
		{`ociTools.exportImage { fromImage = ` + img + `; fromImageName = 1; }`, "ociTools.exportImage: 'fromImageName' must be a string, got an int"},
		{`ociTools.buildLayeredImage { name = 3; }`, "ociTools.buildLayeredImage: 'name' must be a string, got an int"},
		{`ociTools.streamLayeredImage { name = [ ]; }`, "ociTools.streamLayeredImage: 'name' must be a string, got a list"},
		{`ociTools.buildImage { name = null; copyToRoot = busybox; }`, "ociTools.buildImage: 'name' must be a string, got null"},
	} {
		r := runNix(t, "nix-instantiate", writeExpr(t, "("+c.call+").drvPath"))
		if r.err == nil || strings.Count(r.log, c.want) != 1 || len(nixErrorMessage.FindAllString(r.log, -1)) != 1 {
			t.Errorf("%s: want one error containing %q, got %v\n%s", c.call, c.want, r.err, r.log)
		}
	}
	r := runNix(t, "nix-instantiate", "--eval", writeExpr(t, fmt.Sprintf(`(ociTools.exportImage { fromImage = %s; }).name`, base)))
	if r.err != nil || r.out != `"base.tar"` {
		t.Errorf("exportImage of the path %s is named %s, want \"base.tar\": %v", base, r.out, r)
	}
}
