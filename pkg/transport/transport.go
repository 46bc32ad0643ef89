// Package transport copies images that oci-builder wrote (OCI image
// layouts) to the places skopeo names with its transport syntax: a
// registry (docker://HOST/REPO:TAG), another layout (oci:DIR[:TAG]), an
// OCI archive (oci-archive:FILE) or a Docker archive
// (docker-archive:FILE[:REF]).
//
// The registry client is go-containerregistry's remote package: it uploads
// only the blobs the registry lacks, retries transient failures and speaks
// the registries' authentication schemes. Copy counts the layers the
// registry already had itself, by asking for each before the upload, so
// that its summary is true.
package transport

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Transport names.
const (
	OCI           = "oci"
	OCIArchive    = "oci-archive"
	DockerArchive = "docker-archive"
	Docker        = "docker"
)

// Ref is a parsed image reference in skopeo's syntax.
type Ref struct {
	// Transport is one of OCI, OCIArchive, DockerArchive or Docker.
	Transport string
	// Path is the layout directory (OCI) or the archive file.
	Path string
	// Tag is the layout's reference name (OCI), may be empty.
	Tag string
	// Name is the image reference: HOST/REPO:TAG for Docker, the optional
	// REF of a Docker archive.
	Name string
}

// String gives the reference back in skopeo's syntax.
func (r Ref) String() string {
	switch r.Transport {
	case Docker:
		return "docker://" + r.Name
	case OCI:
		if r.Tag != "" {
			return "oci:" + r.Path + ":" + r.Tag
		}
		return "oci:" + r.Path
	case DockerArchive:
		if r.Name != "" {
			return "docker-archive:" + r.Path + ":" + r.Name
		}
		return "docker-archive:" + r.Path
	case OCIArchive:
		if r.Tag != "" {
			return "oci-archive:" + r.Path + ":" + r.Tag
		}
	}
	return r.Transport + ":" + r.Path
}

// ParseSource parses the source of a copy: an image layout, as
// oci:DIR[:TAG] or a plain directory name, or an archive file, as
// oci-archive:FILE[:TAG], docker-archive:FILE[:REF] or a plain file name
// (the dockerTools style's archives).
func ParseSource(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("empty source")
	}
	transport, rest, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(transport, "/") {
		if isArchiveFile(s) {
			return Ref{Transport: OCIArchive, Path: s}, nil
		}
		return Ref{Transport: OCI, Path: s}, nil
	}
	switch transport {
	case OCI:
		return parseOCI(rest, s)
	case OCIArchive:
		r, err := parseOCI(rest, s)
		r.Transport = OCIArchive
		return r, err
	case DockerArchive:
		file, ref, _ := strings.Cut(rest, ":")
		if file == "" {
			return Ref{}, fmt.Errorf("source %q: want docker-archive:FILE[:REF]", s)
		}
		return Ref{Transport: DockerArchive, Path: file, Name: ref}, nil
	}
	return Ref{}, fmt.Errorf("source %q: only image layouts and archives can be copied (oci:DIR[:TAG], DIR, oci-archive:FILE[:TAG], docker-archive:FILE[:REF] or FILE)", s)
}

// ParseDestination parses the destination of a copy.
func ParseDestination(s string) (Ref, error) {
	transport, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Ref{}, fmt.Errorf("destination %q has no transport (docker://HOST/REPO:TAG, oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE[:REF])", s)
	}
	switch transport {
	case Docker:
		name, ok := strings.CutPrefix(rest, "//")
		if !ok || name == "" {
			return Ref{}, fmt.Errorf("destination %q: want docker://HOST/REPO[:TAG]", s)
		}
		return Ref{Transport: Docker, Name: name}, nil
	case OCI:
		return parseOCI(rest, s)
	case OCIArchive:
		if rest == "" {
			return Ref{}, fmt.Errorf("destination %q: want oci-archive:FILE", s)
		}
		return Ref{Transport: OCIArchive, Path: rest}, nil
	case DockerArchive:
		file, ref, _ := strings.Cut(rest, ":")
		if file == "" {
			return Ref{}, fmt.Errorf("destination %q: want docker-archive:FILE[:REF]", s)
		}
		return Ref{Transport: DockerArchive, Path: file, Name: ref}, nil
	}
	return Ref{}, fmt.Errorf("destination %q: unknown transport %q (docker, oci, oci-archive or docker-archive)", s, transport)
}

// parseOCI parses DIR[:TAG]: the tag follows the last colon, if no slash
// follows it.
func parseOCI(rest, whole string) (Ref, error) {
	dir, tag := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		dir, tag = rest[:i], rest[i+1:]
	}
	if dir == "" {
		return Ref{}, fmt.Errorf("%q: want oci:DIR[:TAG]", whole)
	}
	return Ref{Transport: OCI, Path: filepath.Clean(dir), Tag: tag}, nil
}
