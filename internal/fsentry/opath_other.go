//go:build !linux

package fsentry

import "golang.org/x/sys/unix"

// OPath opens a directory only as the base of *at calls. Systems without
// O_PATH (darwin) open it for reading, which needs read permission on it
// (a Nix store directory gives it).
const OPath = unix.O_RDONLY
