// Package transport copies images to the places skopeo names with its
// transport syntax: a registry (docker://HOST/REPO:TAG), another layout
// (oci:DIR[:TAG]), an OCI archive (oci-archive:FILE[:TAG]), a Docker
// archive (docker-archive:FILE[:NAME:TAG]) or a Docker daemon
// (docker-daemon:NAME:TAG, through the Docker API, which podman serves
// too). The images come from layouts oci-builder wrote (image indexes
// included), from archives (read and checked by package outside) or from
// a registry.
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
	"regexp"
	"strings"
)

// Transport names.
const (
	OCI           = "oci"
	OCIArchive    = "oci-archive"
	DockerArchive = "docker-archive"
	Docker        = "docker"
	DockerDaemon  = "docker-daemon"
)

// Ref is a parsed image reference in skopeo's syntax.
type Ref struct {
	// Transport is one of OCI, OCIArchive, DockerArchive or Docker.
	Transport string
	// Path is the layout directory (OCI) or the archive file.
	Path string
	// Tag is the layout's reference name (OCI, OCI archive), may be
	// empty.
	Tag string
	// Name is the image reference: HOST/REPO:TAG for Docker, NAME:TAG for
	// a Docker daemon, the optional NAME:TAG of a Docker archive.
	Name string
}

// String gives the reference back in skopeo's syntax.
func (r Ref) String() string {
	switch r.Transport {
	case Docker:
		return "docker://" + r.Name
	case OCI, OCIArchive:
		if r.Tag != "" {
			return r.Transport + ":" + r.Path + ":" + r.Tag
		}
		return r.Transport + ":" + r.Path
	case DockerDaemon:
		return "docker-daemon:" + r.Name
	case DockerArchive:
		if r.Name != "" {
			return "docker-archive:" + r.Path + ":" + r.Name
		}
		return "docker-archive:" + r.Path
	}
	return r.Transport + ":" + r.Path
}

// ParseSource parses the source of a copy: an image layout
// (oci:DIR[:TAG]), an archive (oci-archive:FILE[:TAG],
// docker-archive:FILE[:NAME:TAG]), a registry's image
// (docker://HOST/REPO:TAG or @DIGEST), or a plain path: a layout
// directory, else an archive file of either kind.
func ParseSource(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("empty source")
	}
	transport, _, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(transport, "/") {
		if isArchiveFile(s) {
			return Ref{Transport: OCIArchive, Path: s}, nil
		}
		return Ref{Transport: OCI, Path: s}, nil
	}
	r, err := parse(s, "source")
	if err == nil && r.Transport == DockerDaemon {
		return Ref{}, fmt.Errorf("source %q: images are not read from a Docker daemon (docker save, then docker-archive:FILE)", s)
	}
	return r, err
}

// ParseDestination parses the destination of a copy.
func ParseDestination(s string) (Ref, error) {
	if _, _, ok := strings.Cut(s, ":"); !ok {
		return Ref{}, fmt.Errorf("destination %q has no transport (docker://HOST/REPO:TAG, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker-daemon:NAME:TAG)", s)
	}
	r, err := parse(s, "destination")
	if err == nil && (r.Transport == OCI || r.Transport == OCIArchive) && r.Tag != "" && !refName.MatchString(r.Tag) {
		return Ref{}, fmt.Errorf("destination %q: the tag %q is not a reference name of an image layout (letters and digits, with one of . _ - : @ + or -- between them, and / between such parts)", s, r.Tag)
	}
	return r, err
}

// refName is image-spec's grammar of org.opencontainers.image.ref.name,
// the tag of an image in a layout's index.json.
var refName = regexp.MustCompile(`^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$`)

// parse parses TRANSPORT:REST as skopeo does; what names the source or
// destination in errors.
func parse(s, what string) (Ref, error) {
	transport, rest, _ := strings.Cut(s, ":")
	switch transport {
	case Docker:
		name, ok := strings.CutPrefix(rest, "//")
		if !ok || name == "" {
			return Ref{}, fmt.Errorf("%s %q: want docker://HOST/REPO[:TAG]", what, s)
		}
		// The registry is the first component, when one follows: an
		// empty one (docker:///REPO) or a port alone
		// (docker://:5000/REPO) names no host.
		if first, _, _ := strings.Cut(name, "/"); first == "" || strings.HasPrefix(first, ":") {
			return Ref{}, fmt.Errorf("%s %q: the registry host is missing (want docker://HOST/REPO[:TAG])", what, s)
		}
		return Ref{Transport: Docker, Name: name}, nil
	case OCI, OCIArchive:
		return parsePathTag(transport, rest, s)
	case DockerArchive:
		// skopeo's docker-archive:PATH[:NAME:TAG]: the path ends at the
		// first colon.
		file, ref, _ := strings.Cut(rest, ":")
		if file == "" {
			return Ref{}, fmt.Errorf("%s %q: want docker-archive:FILE[:NAME:TAG]", what, s)
		}
		return Ref{Transport: DockerArchive, Path: file, Name: ref}, nil
	case DockerDaemon:
		if rest == "" || strings.Contains(rest, "@") {
			return Ref{}, fmt.Errorf("%s %q: want docker-daemon:NAME:TAG", what, s)
		}
		return Ref{Transport: DockerDaemon, Name: rest}, nil
	}
	return Ref{}, fmt.Errorf("%s %q: unknown transport %q (docker, oci, oci-archive, docker-archive or docker-daemon)", what, s, transport)
}

// parsePathTag parses skopeo's PATH[:TAG] of oci: and oci-archive: (the
// tag follows the last colon, if no slash follows it).
func parsePathTag(transport, rest, whole string) (Ref, error) {
	dir, tag := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		dir, tag = rest[:i], rest[i+1:]
	}
	if dir == "" {
		return Ref{}, fmt.Errorf("%q: want %s:PATH[:TAG]", whole, transport)
	}
	return Ref{Transport: transport, Path: filepath.Clean(dir), Tag: tag}, nil
}
