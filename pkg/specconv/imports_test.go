package specconv_test

import (
	"testing"

	"github.com/oci-builder/oci-builder/tests/imports"
)

// TestNoIO keeps the package free of I/O: turning a container into a
// runtime configuration reads no file.
func TestNoIO(t *testing.T) {
	imports.Check(t, ".", nil, imports.IO()...)
}
