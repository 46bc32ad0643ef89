package seccomp

import moby "github.com/moby/profiles/seccomp"

// defaultProfile is Docker's default profile, as moby/profiles builds it
// (only on Linux).
func defaultProfile() (*moby.Seccomp, error) {
	return moby.DefaultProfile(), nil
}
