//go:build !linux

package layer

// blockBuffer returns an empty buffer of capacity size. (On Linux it is
// backed by huge pages where the kernel allows it.)
func blockBuffer(size int) []byte { return make([]byte, 0, size) }
