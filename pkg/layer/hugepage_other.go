//go:build !linux

package layer

// hugePageSize is 0: transparent huge pages are Linux's.
func hugePageSize(func(string) string, func(string) ([]byte, error)) int { return 0 }

// blockBuffer returns an empty buffer of capacity size. (On Linux it may
// be backed by huge pages.)
func blockBuffer(size, _ int) []byte { return make([]byte, 0, size) }
