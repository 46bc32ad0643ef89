package specconv_test

import (
	"testing"

	"github.com/oci-builder/oci-builder/internal/imports"
)

// TestNoIO keeps the package free of I/O: turning a container into a
// runtime configuration reads no file.
func TestNoIO(t *testing.T) {
	bad, err := imports.Forbidden(".", nil, "os", "io/fs", "os/exec", "path/filepath")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}
