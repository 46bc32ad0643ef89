package nixbuild_test

import (
	"os"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// TestFallBackFromHardlinks: a hard-link plan stays one when the store path
// is the builder's, becomes a copy (with the reason) when it is another
// user's, and other modes are left alone.
func TestFallBackFromHardlinks(t *testing.T) {
	p := t.TempDir()
	owner := os.Geteuid()
	tests := []struct {
		mode       bundle.StoreMode
		uid        int
		want       bundle.StoreMode
		withReason bool
	}{
		{bundle.StoreHardlink, owner, bundle.StoreHardlink, false},
		{bundle.StoreHardlink, owner + 1, bundle.StoreCopy, true},
		{bundle.StoreReflink, owner + 1, bundle.StoreReflink, false},
	}
	for _, tc := range tests {
		plan := &bundle.Plan{StoreMode: tc.mode, Closure: []*store.PathInfo{{Path: p}}}
		reason, err := nixbuild.FallBackFromHardlinks(plan, tc.uid)
		if err != nil || plan.StoreMode != tc.want || (reason != "") != tc.withReason {
			t.Errorf("%s as uid %d: mode %s, reason %q, %v", tc.mode, tc.uid, plan.StoreMode, reason, err)
		}
	}
}
