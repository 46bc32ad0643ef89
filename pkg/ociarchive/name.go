package ociarchive

import "github.com/google/go-containerregistry/pkg/name"

// NormalName is an image name as docker load reads it, to compare names:
// bash:latest is index.docker.io/library/bash:latest, and a name without a
// tag is tagged latest. A name that is not a reference is kept as it is.
func NormalName(n string) string {
	t, err := name.NewTag(n)
	if err != nil {
		return n
	}
	return t.Context().Name() + ":" + t.TagStr()
}
