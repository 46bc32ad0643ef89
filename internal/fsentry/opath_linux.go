package fsentry

import "golang.org/x/sys/unix"

// OPath opens a directory only as the base of *at calls: O_PATH, which
// needs no read permission on it.
const OPath = unix.O_PATH
