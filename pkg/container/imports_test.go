package container_test

import (
	"testing"

	"github.com/oci-builder/oci-builder/internal/imports"
)

// TestNoIO keeps the package pure: it asks the store only what StoreFS
// answers.
func TestNoIO(t *testing.T) {
	bad, err := imports.Forbidden(".", nil, "os", "io/fs", "os/exec", "path/filepath")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}
