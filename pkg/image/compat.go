package image

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// Compat are the settings of the dockerTools-compatible front end
// (ociTools.buildLayeredImage in nix/oci-tools.nix), which the Nix library
// passes as JSON under "dockerCompat". They are not buildImage options.
type Compat struct {
	// Config, when not nil, is the image configuration's execution
	// parameters, exactly as given (dockerTools' config: Cmd, Entrypoint,
	// Env, WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal):
	// nothing is derived from the container options.
	Config *v1.ImageConfig `json:"config,omitempty"`
	// Contents are store paths whose trees are merged at / in a top layer,
	// as dockerTools does with symlinkJoin: directories become
	// directories, everything else a symlink to the store path's file
	// (bin/sh -> /nix/store/...-busybox/bin/sh). The first of the contents
	// that has an entry wins.
	Contents []string `json:"contents,omitempty"`
	// TagFromOutput makes the tag the hash part of the output path, as
	// dockerTools' tag defaults to (the builder knows its output path).
	TagFromOutput bool `json:"tagFromOutput,omitempty"`
}

// DecodeCompat reads Compat from JSON, unknown keys refused (the image
// configuration's keys included: only those image-spec defines).
func DecodeCompat(data []byte) (*Compat, error) {
	var c Compat
	if err := strictjson.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("dockerTools options: %w", strictjson.DescribeOptionError(err))
	}
	return &c, nil
}

// TagOfOutput is the hash part of the store path out, dockerTools' default
// tag.
func TagOfOutput(out string) string {
	hash, _, _ := strings.Cut(filepath.Base(out), "-")
	return hash
}

// ContentsEntries merges the trees of the store paths contents at / (see
// Compat.Contents), reading them from the filesystem: the entries of the
// contents layer. The same trees always give the same entries.
func ContentsEntries(contents []string) ([]layer.Entry, error) {
	seen := map[string]bool{}
	var entries []layer.Entry
	var walk func(src, dest string) error
	walk = func(src, dest string) error {
		list, err := os.ReadDir(src)
		if err != nil {
			return fmt.Errorf("contents: %w", err)
		}
		for _, e := range list {
			s, d := filepath.Join(src, e.Name()), path.Join(dest, e.Name())
			if e.IsDir() {
				if !seen[d] {
					seen[d] = true
					entries = append(entries, layer.Entry{Path: d, Dir: true, Mode: 0o755})
				} else if !isDirEntry(entries, d) {
					continue
				}
				if err := walk(s, d); err != nil {
					return err
				}
				continue
			}
			if seen[d] {
				continue
			}
			seen[d] = true
			entries = append(entries, layer.Entry{Path: d, Link: s})
		}
		return nil
	}
	for _, c := range contents {
		fi, err := os.Stat(c)
		if err != nil {
			return nil, fmt.Errorf("contents: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("contents: %s is not a directory: its top-level directories go to /", c)
		}
		if err := walk(c, "/"); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

func isDirEntry(entries []layer.Entry, p string) bool {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Path == p {
			return entries[i].Dir
		}
	}
	return false
}
