// Package image turns a closure graph, container options and image options
// into an OCI image layout (image-spec v1.1): oci-layout, index.json and
// content-addressed blobs holding the manifest, the image configuration and
// one compressed layer per store path (or group of store paths).
//
// As in package bundle the work is split in two: NewPlan is pure (graph and
// options in, the layers and the image configuration out) and Write performs
// the plan on disk, writing layers in parallel.
package image

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/outside"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// Defaults of the image options.
const (
	// DefaultTag names the image in index.json when no tag is given.
	DefaultTag = "latest"
	// DefaultMaxLayers is dockerTools' default for buildLayeredImage.
	DefaultMaxLayers = 100
	// MinMaxLayers is the fewest layers an image may have: the /etc layer
	// and one for the closure.
	MinMaxLayers = 2
	// MaxMaxLayers is the most layers an image may have: Docker refuses
	// images deeper than 125 layers ("max depth exceeded").
	MaxMaxLayers = 125
	// DefaultCreated is the image's creation time when none is given: one
	// second into the epoch, the mtime of every file in the store and in
	// the layers.
	DefaultCreated = "1970-01-01T00:00:01Z"
)

// Options are the settings an image has beyond the container options
// (container.Options). They are what the Nix library passes to the builder (as
// JSON, under "image") and what the command line collects. The zero value
// means every default.
type Options struct {
	// Tag is the image's reference name in index.json
	// (org.opencontainers.image.ref.name); default "latest".
	Tag string `json:"tag,omitempty"`
	// MaxLayers caps the number of layers, the /etc layer included; default
	// 100 (dockerTools').
	MaxLayers int `json:"maxLayers,omitempty"`
	// Compression of the layers: "gzip" (default) or "zstd".
	Compression string `json:"compression,omitempty"`
	// Created is the image's creation time, as ParseTime reads it; default
	// 1970-01-01T00:00:01Z, so that the image is reproducible.
	Created string `json:"created,omitempty"`
	// ExposedPorts are "PORT" or "PORT/PROTOCOL" (tcp, udp or sctp; PORT
	// alone means tcp).
	ExposedPorts []string `json:"exposedPorts,omitempty"`
	// Labels are the image configuration's labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Volumes are absolute paths where the container is expected to keep
	// data; runtimes mount volumes there.
	Volumes []string `json:"volumes,omitempty"`
	// Perms change the mode or owner of the entries of some store paths
	// (nix2container's perms): in the store paths' layers and where the
	// contents put them at /.
	Perms []layer.Perm `json:"perms,omitempty"`
	// Dirs are directories the image has, with their owner and mode.
	Dirs []Dir `json:"dirs,omitempty"`
	// FromImage, when not nil, names the base image.
	FromImage *FromImage `json:"fromImage,omitempty"`
	// Compat, when not nil, holds the settings of the dockerTools
	// front end (not buildImage options).
	Compat *Compat `json:"-"`
	// Base is the base image FromImage names, opened and verified
	// (OpenBase), which NewPlan needs when FromImage is set.
	Base *outside.Image `json:"-"`
}

// DecodeOptions reads Options from JSON, with exact key matching and
// unknown keys refused, as container.DecodeOptions does.
func DecodeOptions(data []byte) (Options, error) {
	var opts Options
	if err := strictjson.Unmarshal(data, &opts); err != nil {
		return Options{}, fmt.Errorf("image options: %w", strictjson.DescribeOptionError(err))
	}
	return opts, nil
}

// settings are Options checked and with defaults applied.
type settings struct {
	tag         string
	maxLayers   int
	compression layer.Compression
	created     time.Time
	ports       map[string]struct{}
	labels      map[string]string
	volumes     map[string]struct{}
	perms       []layer.Perm
	dirs        []layer.Entry
}

// tagRe is the grammar of a tag in a Docker or OCI distribution reference,
// which is what tools make of the reference name when they copy the image.
var tagRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func (o Options) check() (settings, error) {
	s := settings{tag: o.Tag, maxLayers: o.MaxLayers}
	if s.tag == "" {
		s.tag = DefaultTag
	}
	if !tagRe.MatchString(s.tag) {
		return s, fmt.Errorf("tag %q is not a valid tag (letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-')", o.Tag)
	}
	switch {
	case s.maxLayers == 0:
		s.maxLayers = DefaultMaxLayers
	case s.maxLayers < MinMaxLayers || s.maxLayers > MaxMaxLayers:
		return s, fmt.Errorf("maxLayers %d is out of range (%d to %d: the /etc layer and at least one for the closure)", s.maxLayers, MinMaxLayers, MaxMaxLayers)
	}
	c, err := layer.ParseCompression(o.Compression)
	if err != nil {
		return s, err
	}
	s.compression = c
	created := o.Created
	if created == "" {
		created = DefaultCreated
	}
	if created == "now" {
		// dockerTools' "now": the time of the build, which makes the
		// image not reproducible.
		created = time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	t, err := ParseTime(created)
	if err != nil {
		return s, fmt.Errorf("created: %w", err)
	}
	s.created = t.UTC()
	for _, p := range o.ExposedPorts {
		port, err := parsePort(p)
		if err != nil {
			return s, err
		}
		if s.ports == nil {
			s.ports = map[string]struct{}{}
		}
		s.ports[port] = struct{}{}
	}
	for k, v := range o.Labels {
		if k == "" {
			return s, errors.New("labels: a label has an empty name")
		}
		if s.labels == nil {
			s.labels = map[string]string{}
		}
		s.labels[k] = v
	}
	if err := layer.CheckPerms(o.Perms); err != nil {
		return s, err
	}
	s.perms = o.Perms
	if s.dirs, err = dirEntries(o.Dirs); err != nil {
		return s, err
	}
	for _, v := range o.Volumes {
		dest, err := container.CheckDestination(v)
		if err != nil {
			return s, fmt.Errorf("volume: %w", err)
		}
		if s.volumes == nil {
			s.volumes = map[string]struct{}{}
		}
		s.volumes[dest] = struct{}{}
	}
	return s, nil
}

// parsePort normalises an exposed port to "PORT/PROTOCOL".
func parsePort(p string) (string, error) {
	num, proto, found := strings.Cut(p, "/")
	if !found {
		proto = "tcp"
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 || num[0] == '0' {
		return "", fmt.Errorf("exposed port %q: %q is not a port number (1 to 65535)", p, num)
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return "", fmt.Errorf("exposed port %q: protocol %q is not tcp, udp or sctp", p, proto)
	}
	return fmt.Sprintf("%d/%s", n, proto), nil
}

// dirEntries are the entries of the declared directories dirs, each path
// once.
func dirEntries(dirs []Dir) ([]layer.Entry, error) {
	var entries []layer.Entry
	seen := map[string]bool{}
	for _, d := range dirs {
		e, err := d.entry()
		if err != nil {
			return nil, err
		}
		if seen[e.Path] {
			return nil, fmt.Errorf("dirs: %s is given twice", e.Path)
		}
		seen[e.Path] = true
		entries = append(entries, e)
	}
	return entries, nil
}
