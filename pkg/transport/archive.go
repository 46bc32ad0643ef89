package transport

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/ociarchive"
)

// Archive sources: the one-file images of the dockerTools style
// (pkg/ociarchive: an OCI layout and Docker's manifest.json in one tar)
// and other OCI archives are unpacked (index.json, oci-layout and the
// blobs) into a temporary directory, then read as a layout is, every blob
// checked as it is read (source.go). An archive without index.json
// (docker save before Docker 25, a streamed image) is refused.

// isArchiveFile tells whether p is a regular file (an archive, not a
// layout directory).
func isArchiveFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// unpackArchive unpacks the layout of the archive file into a new
// temporary directory and returns it; the caller removes it.
func unpackArchive(file string) (string, error) {
	a, err := ociarchive.Open(file)
	if err != nil {
		return "", err
	}
	defer a.Close()
	if !a.Has("index.json") {
		return "", fmt.Errorf("%s has no index.json: a docker-archive alone is not read (convert it: skopeo copy docker-archive:%s oci:DIR)", file, file)
	}
	dir, err := os.MkdirTemp("", "oci-builder-archive-")
	if err != nil {
		return "", err
	}
	for _, name := range a.Names() {
		// (Docker's manifest.json names the images: docker-archive:FILE:NAME:TAG)
		if name != "index.json" && name != "oci-layout" && name != "manifest.json" && !strings.HasPrefix(name, "blobs/") {
			continue
		}
		if err := unpackFile(a, dir, name); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("%s: %w", file, err)
		}
	}
	return dir, nil
}

// unpackFile writes the archive's regular file name under dir.
func unpackFile(a *ociarchive.Archive, dir, name string) error {
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return fmt.Errorf("entry %q is outside the archive", name)
	}
	p := filepath.Join(dir, clean)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	r, err := a.OpenFile(name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
