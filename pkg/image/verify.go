package image

import (
	"fmt"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// verifyWarning is the warning, if any, about store paths that go
// unverified for want of a narHash, by the rules of bundles in copy mode,
// which bundle.NewPlan applied for Plan.Verify: with verify left to its
// default, a graph that gives no hashes (the text format of
// exportReferencesGraph) writes the image unverified, and one that gives
// some paths none leaves those unverified; verify = true with paths
// lacking a hash is an error there already.
func verifyWarning(asked *bool, closure []*store.PathInfo) string {
	if asked != nil {
		return ""
	}
	missing := 0
	firstMissing := ""
	for _, info := range closure {
		if info.NarHash == "" {
			if missing == 0 {
				firstMissing = info.Path
			}
			missing++
		}
	}
	switch missing {
	case 0:
		return ""
	case len(closure):
		return "not verifying the closure: the closure graph gives no narHash (the text format of exportReferencesGraph carries none)"
	}
	return fmt.Sprintf("not verifying %d of %d store paths, %s first: the closure graph gives them no narHash", missing, len(closure), firstMissing)
}
