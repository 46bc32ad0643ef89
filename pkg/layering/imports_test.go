package layering_test

import (
	"testing"

	"github.com/oci-builder/oci-builder/tests/imports"
)

// TestNoIO keeps the package free of I/O: a pipeline runs on a graph.
func TestNoIO(t *testing.T) {
	imports.Check(t, ".", nil, imports.IO()...)
}
