package container_test

import (
	"testing"

	"github.com/oci-builder/oci-builder/tests/imports"
)

// TestNoIO keeps the package pure: it asks the store only what StoreFS
// answers.
func TestNoIO(t *testing.T) {
	imports.Check(t, ".", nil, imports.IO()...)
}
