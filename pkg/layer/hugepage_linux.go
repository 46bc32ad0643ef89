package layer

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of the kernel's transparent huge pages on the
// architectures Go runs Linux on most (x86-64, arm64 with 4 KiB pages).
const hugePage = 2 << 20

// blockBuffer returns an empty buffer of capacity size whose memory the
// kernel is asked to back with transparent huge pages (madvise
// MADV_HUGEPAGE; the common "madvise" setting of
// /sys/kernel/mm/transparent_hugepage/enabled grants only what is asked).
// A block buffer is filled as soon as it is allocated: in 4 KiB pages
// that is a page fault every 4 KiB, which in a virtual machine cost a
// tenth of a zstd image's CPU time (GOROOT: 24,000 faults against 9,500);
// huge pages take one every 2 MiB. The buffer is an ordinary Go
// allocation, 2 MiB bigger than asked so that it can start on a huge
// page's boundary (the layer never writes the slack); the advice is only
// advice, and where the kernel declines it the buffer works as before.
//
// Buffers smaller than a huge page are ordinary allocations: no huge page
// would fit in them.
func blockBuffer(size int) []byte {
	if size < hugePage {
		return make([]byte, 0, size)
	}
	b := make([]byte, size+hugePage)
	off := (hugePage - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%hugePage)) % hugePage
	b = b[off : off+size : off+size]
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	return b[:0]
}
