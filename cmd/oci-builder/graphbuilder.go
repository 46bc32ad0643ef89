package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/oci-builder/oci-builder/pkg/nixbuild"
)

const graphBuilderUsage = `Usage: oci-builder nix-graph-builder

Runs as the builder of the helper derivation that nix/oci-tools.nix gives a
container or layer derivation that verifies nothing (verify = false, or
storeMode "bind" by default): a derivation without structured
attributes, whose exportReferencesGraph (pairs of a file name and a store
path) makes Nix write each path's closure graph in its text format into the
build directory, which costs much less than the structured export with its
NAR hashes and closure sizes. It writes the union of those graphs to $out,
one file, as JSON (path and references of each store path); the derivation
that verifies nothing reads it through its "closureGraph" attribute.`

// runNixGraphBuilder is the builder of the graph helper derivations:
// Nix's text exports in, one graph file out.
func runNixGraphBuilder(_ context.Context, e env, args []string) error {
	if len(args) > 0 {
		return &usageError{"nix-graph-builder takes no arguments"}
	}
	out := e.getenv("out")
	if out == "" {
		return fmt.Errorf("$out is not set (nix-graph-builder runs as the builder of a derivation without structured attributes)")
	}
	dir := e.getenv("NIX_BUILD_TOP")
	if dir == "" {
		dir = "."
	}
	g, err := nixbuild.TextGraph(e.getenv, dir)
	if err != nil {
		return err
	}
	return writeGraphFile(out, g)
}

// writeGraphFile writes g to p as JSON, read-only.
func writeGraphFile(p string, g json.Marshaler) error {
	data, err := g.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode closure graph: %w", err)
	}
	if err := os.WriteFile(p, append(data, '\n'), 0o444); err != nil {
		return fmt.Errorf("write closure graph: %w", err)
	}
	return nil
}
