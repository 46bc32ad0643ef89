package bundle_test

import (
	"testing"

	"github.com/oci-builder/oci-builder/internal/imports"
)

// TestPlannerDoesNoIO keeps the planner's files free of I/O: reading the
// store and writing the bundle are write.go's and writablecopy.go's.
func TestPlannerDoesNoIO(t *testing.T) {
	bad, err := imports.Forbidden(".", []string{"plan.go", "storemode.go"},
		"os", "io/fs", "os/exec", "path/filepath", "github.com/oci-builder/oci-builder/pkg/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}
