package nixbuild

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/bundle"
)

// LinksAccepted tells whether Nix will accept, in this build's output, hard
// links to the store path storePath, for a builder running as uid.
//
// A hard link shares its source's inode, so it keeps the store file's
// owner. When builds run as a build user (multi-user installs, sandboxed or
// not), Nix rejects every output entry not owned by the build user that it
// did not see created in this build: "invalid ownership on file". Before
// that, link(2) itself usually fails: EPERM under fs.protected_hardlinks, or
// EXDEV across the sandbox's bind mounts. Only when the store belongs to the
// user the builder runs as (single-user installs, or builds run as the store
// owner) are links both possible and accepted. The store path's owner stands
// for its files': Nix gives every file of a store path the same owner.
//
// When links are not accepted, reason says why, in a sentence.
func LinksAccepted(storePath string, uid int) (ok bool, reason string, err error) {
	var st unix.Stat_t
	if err := unix.Lstat(storePath, &st); err != nil {
		return false, "", fmt.Errorf("check ownership of %s: %w", storePath, err)
	}
	if int(st.Uid) == uid {
		return true, "", nil
	}
	return false, fmt.Sprintf("the store belongs to uid %d but this build runs as uid %d, so Nix would reject hard links to it (invalid ownership)", st.Uid, uid), nil
}

// FallBackFromHardlinks changes a plan in storeMode "hardlink" to a copy
// when Nix would not accept hard links into the store from this build (see
// LinksAccepted; uid is the builder's), and returns why, or "" when the
// plan is kept. Files that link(2) refuses one by one are copied anyway.
func FallBackFromHardlinks(plan *bundle.Plan, uid int) (string, error) {
	if plan.StoreMode != bundle.StoreHardlink || len(plan.Closure) == 0 {
		return "", nil
	}
	ok, reason, err := LinksAccepted(plan.Closure[0].Path, uid)
	if err != nil || ok {
		return "", err
	}
	plan.StoreMode = bundle.StoreCopy
	return reason, nil
}
