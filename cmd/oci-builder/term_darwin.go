package main

import "golang.org/x/sys/unix"

// ioctlGetTermios is the ioctl that reads a terminal's attributes: one that
// succeeds tells that a descriptor is a terminal.
const ioctlGetTermios = unix.TIOCGETA
