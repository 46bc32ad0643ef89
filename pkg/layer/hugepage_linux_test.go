package layer

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestBlockBufferHugePages checks blockBuffer's buffers: empty, of the
// capacity asked, starting on a huge page's boundary when they can hold
// one, and, where the kernel grants transparent huge pages on request
// (enabled "always" or "madvise"), backed by at least one once written.
func TestBlockBufferHugePages(t *testing.T) {
	thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	granted := err == nil && !strings.Contains(string(thp), "[never]")
	for _, tc := range []struct {
		name    string
		size    int
		aligned bool
	}{
		{"zstd block", zstdBlockSize, true},
		{"zstd block output", outputBound(zstdBlockSize), true},
		{"gzip block", gzipBlockSize, false},
		{"huge page", hugePage, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Freed memory goes back to the system first, so that the
			// buffer's pages are not already there from a freed one.
			debug.FreeOSMemory()
			b := blockBuffer(tc.size)
			if len(b) != 0 || cap(b) != tc.size {
				t.Fatalf("blockBuffer(%d): len %d, cap %d; want 0 and %d", tc.size, len(b), cap(b), tc.size)
			}
			b = b[:tc.size]
			addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			if !tc.aligned {
				return
			}
			if addr%hugePage != 0 {
				t.Fatalf("buffer at %#x, not on a %d-byte boundary", addr, hugePage)
			}
			// The mapping may hold other buffers too (the kernel merges
			// neighbours with the same advice): what writing this one
			// adds is what counts.
			before, err := anonHugeKB(addr)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			after, err := anonHugeKB(addr)
			runtime.KeepAlive(b)
			if err != nil {
				t.Fatal(err)
			}
			if !granted {
				t.Logf("transparent huge pages: %q; not checking the backing", strings.TrimSpace(string(thp)))
				return
			}
			if after-before < hugePage>>10 {
				t.Errorf("writing the buffer at %#x (%d bytes) added %d kB of huge pages, want at least %d (transparent huge pages: %q)", addr, tc.size, after-before, hugePage>>10, strings.TrimSpace(string(thp)))
			}
			t.Logf("%d kB of %d in huge pages", after-before, tc.size>>10)
		})
	}
}

// TestPoolBlockBuffers checks that a Pool's block buffers come from
// blockBuffer: a zstd block's, at least, starts on a huge page's boundary.
func TestPoolBlockBuffers(t *testing.T) {
	for _, size := range []int{zstdBlockSize, outputBound(zstdBlockSize)} {
		b := NewPool(1).buffer(size)
		if cap(b) != size {
			t.Fatalf("buffer(%d): capacity %d", size, cap(b))
		}
		if addr := uintptr(unsafe.Pointer(unsafe.SliceData(b[:1]))); addr%hugePage != 0 {
			t.Errorf("buffer(%d) at %#x, not on a %d-byte boundary", size, addr, hugePage)
		}
	}
}

// anonHugeKB is the AnonHugePages of the mapping of this process holding
// addr, from /proc/self/smaps.
func anonHugeKB(addr uintptr) (int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= start && uint64(addr) < end
				continue
			}
		}
		if in && fields[0] == "AnonHugePages:" && len(fields) >= 2 {
			return strconv.Atoi(fields[1])
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no mapping holds %#x in /proc/self/smaps", addr)
}
