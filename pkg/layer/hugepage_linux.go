package layer

import (
	"bytes"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePageSize is the size of the transparent huge pages that block
// buffers can be advised into, or 0 when there are none to have: the
// kernel has none (no /sys/kernel/mm/transparent_hugepage), its setting is
// "never", this process has them switched off (THP_enabled 0 in
// /proc/self/status, prctl PR_SET_THP_DISABLE), or the user asked Go for
// none (GODEBUG=disablethp=1). getenv and readFile are os.Getenv and
// os.ReadFile but in tests.
func hugePageSize(getenv func(string) string, readFile func(string) ([]byte, error)) int {
	for _, kv := range strings.Split(getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "disablethp=1" {
			return 0
		}
	}
	enabled, err := readFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || bytes.Contains(enabled, []byte("[never]")) {
		return 0
	}
	if status, err := readFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "THP_enabled:"); ok && strings.TrimSpace(v) == "0" {
				return 0
			}
		}
	}
	size, err := readFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(size)))
	if err != nil || n <= 0 || n&(n-1) != 0 {
		return 0
	}
	return n
}

// blockBuffer returns an empty buffer of capacity size. When huge (a
// power of two, hugePageSize) is not 0 and the buffer can hold a huge
// page, it starts on a huge page's boundary and the kernel is asked to
// back it with transparent huge pages (madvise MADV_HUGEPAGE; the common
// "madvise" setting of /sys/kernel/mm/transparent_hugepage/enabled grants
// only what is asked).
//
// A block buffer is filled right after it is made: in 4 KiB pages that is
// a page fault every 4 KiB, which in a virtual machine cost a tenth of a
// zstd image's CPU time (GOROOT: 24,000 faults in all against 9,000); a
// 2 MiB huge page takes one. The buffer is an ordinary Go allocation,
// huge bytes bigger than asked so that it can start on a boundary (the
// layer never writes the slack). The advice is only advice: where the
// kernel declines it the buffer works as before. It helps fresh memory
// only: heap memory Go reuses is zeroed, so faulted in in small pages,
// before it can be advised, which is why Pool keeps its buffers.
//
// The costs: with the kernel's defrag setting "madvise" (a common
// default), a fault in the buffer may compact memory to find a huge page
// (the kernel gives up and falls back to small pages when it cannot);
// and the advice stays on the heap range after the buffer is freed, so
// that later small objects there may be given huge pages too (more
// resident memory for a process that lives on; the command does not).
func blockBuffer(size, huge int) []byte {
	if huge <= 0 || size < huge {
		return make([]byte, 0, size)
	}
	b := make([]byte, size+huge)
	off := (huge - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))&uintptr(huge-1))) & (huge - 1)
	b = b[off : off+size : off+size]
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	return b[:0]
}
