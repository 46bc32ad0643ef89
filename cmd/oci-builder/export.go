package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/oci-builder/oci-builder/pkg/image"
)

// exportAttrs are the "export" attribute of exportImage's derivations.
type exportAttrs struct {
	FromImage image.FromImage `json:"fromImage"`
}

const exportBuilderUsage = `Usage: oci-builder nix-export-builder

Runs as the builder of a derivation made by ociTools.exportImage. It reads
.attrs.json as nix-builder does, the image under "export" (fromImage:
path, and name and tag to pick one of several images), checks the image
whole (digests, DiffIDs, entries), applies its layers in order into one
file system as Docker does (whiteouts and opaque directories honoured,
names resolved within the root) and writes it to outputs.out as one tar:
entries "./NAME" sorted by name, numeric owners, the layers' modes and
times, hard links kept, no whiteouts.`

// runNixExportBuilder is the builder of exportImage's derivations.
func runNixExportBuilder(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		return &usageError{"nix-export-builder takes no arguments"}
	}
	var ea exportAttrs
	out, err := readSection(e, "export", "exportImage", &ea)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := exportImage(ctx, ea.FromImage, out); err != nil {
		return fmt.Errorf("exportImage: %w", err)
	}
	fi, _ := os.Stat(out)
	fmt.Fprintf(e.stderr, "oci-builder: done: the file system of %s, %s, in %.2f s\n",
		ea.FromImage.Path, humanBytes(uint64(fi.Size())), time.Since(start).Seconds())
	return nil
}

// exportImage writes the flattened file system of the image f names to
// the tar file out, which is not left behind on an error.
func exportImage(ctx context.Context, f image.FromImage, out string) error {
	tree, err := flattenImage(ctx, f)
	if err != nil {
		return err
	}
	defer tree.Close()
	file, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(file, 1<<20)
	err = tree.WriteTar(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
	}
	return err
}
