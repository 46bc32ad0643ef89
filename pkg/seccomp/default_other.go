//go:build !linux

package seccomp

import (
	"errors"

	moby "github.com/moby/profiles/seccomp"
)

// defaultProfile: moby/profiles builds Docker's default profile only on
// Linux, and bundles, which carry it, are built on Linux only.
func defaultProfile() (*moby.Seccomp, error) {
	return nil, errors.New("moby/profiles gives Docker's default profile on Linux only, where bundles are built")
}
