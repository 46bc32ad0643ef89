//go:build !linux

package main

import "testing"

// mountTmpfs skips the test: tmpfs mounts are Linux's.
func mountTmpfs(t *testing.T, _, _ string) {
	t.Skip("needs a tmpfs mount (Linux)")
}
