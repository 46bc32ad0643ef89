package bundle_test

import (
	"testing"

	"github.com/oci-builder/oci-builder/tests/imports"
)

// TestPlannerDoesNoIO keeps the planner's files free of I/O: reading the
// store and writing the bundle are write.go's and writablecopy.go's.
func TestPlannerDoesNoIO(t *testing.T) {
	imports.Check(t, ".", []string{"plan.go", "storemode.go"}, append(imports.IO(), "github.com/oci-builder/oci-builder/pkg/rootfs")...)
}
