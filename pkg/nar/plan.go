package nar

import "fmt"

// PlanVerify decides whether the store paths of want are checked against
// their NAR hashes: as asked, or byDefault when asked is nil. Every narHash
// given must parse, verified or not. Paths given no narHash (the text format of
// exportReferencesGraph gives none) cannot be checked: that is an error
// when verification was asked for explicitly, and otherwise a warning
// naming how many go unverified (with none at all, nothing is verified).
func PlanVerify(asked *bool, byDefault bool, want []Expected) (verify bool, warning string, err error) {
	verify = byDefault
	if asked != nil {
		verify = *asked
	}
	// A malformed hash is an error whether or not it is checked: the
	// graph is not what Nix writes.
	missing := 0
	firstMissing := ""
	for _, e := range want {
		if e.NarHash == "" {
			if missing == 0 {
				firstMissing = e.Path
			}
			missing++
			continue
		}
		if _, err := ParseHash(e.NarHash); err != nil {
			return false, "", fmt.Errorf("store path %s: %w", e.Path, err)
		}
	}
	if !verify {
		return false, "", nil
	}
	switch {
	case missing == 0:
		return true, "", nil
	case asked != nil:
		return false, "", fmt.Errorf("verify: the closure graph gives no narHash for %s (%d of %d store paths have none; the text format of exportReferencesGraph carries none): set verify to false, or give a graph with hashes", firstMissing, missing, len(want))
	case missing == len(want):
		return false, "not verifying the closure: the closure graph gives no narHash (the text format of exportReferencesGraph carries none)", nil
	}
	return true, fmt.Sprintf("not verifying %d of %d store paths, %s first: the closure graph gives them no narHash", missing, len(want), firstMissing), nil
}
