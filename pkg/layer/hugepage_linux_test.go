package layer

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestHugePageSize reads the kernel's and the process's settings as
// hugePageSize does, from made-up files.
func TestHugePageSize(t *testing.T) {
	const (
		madvise = "always [madvise] never\n"
		never   = "always madvise [never]\n"
		pmd     = "2097152\n"
		status  = "Name:\tx\nTHP_enabled:\t1\nThreads:\t1\n"
	)
	for _, tc := range []struct {
		name                     string
		godebug                  string
		enabled, size, procState string
		want                     int
	}{
		{"madvise", "", madvise, pmd, status, 2 << 20},
		{"always", "", "[always] madvise never\n", pmd, status, 2 << 20},
		{"never", "", never, pmd, status, 0},
		{"no transparent huge pages", "", "", "", status, 0},
		{"64 KiB pages (512 MiB huge pages)", "", madvise, "536870912\n", status, 512 << 20},
		{"size unreadable", "", madvise, "", status, 0},
		{"size not a power of two", "", madvise, "3000000\n", status, 0},
		{"switched off for the process", "", madvise, pmd, "THP_enabled:\t0\n", 0},
		{"no THP_enabled line (older kernel)", "", madvise, pmd, "Name:\tx\n", 2 << 20},
		{"GODEBUG=disablethp=1", "gctrace=0,disablethp=1", madvise, pmd, status, 0},
		{"GODEBUG=disablethp=0", "disablethp=0", madvise, pmd, status, 2 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{
				"/sys/kernel/mm/transparent_hugepage/enabled":        tc.enabled,
				"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size": tc.size,
				"/proc/self/status": tc.procState,
			}
			readFile := func(name string) ([]byte, error) {
				if s := files[name]; s != "" {
					return []byte(s), nil
				}
				return nil, os.ErrNotExist
			}
			getenv := func(k string) string {
				if k == "GODEBUG" {
					return tc.godebug
				}
				return ""
			}
			if got := hugePageSize(getenv, readFile); got != tc.want {
				t.Errorf("hugePageSize = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestBlockBuffer checks blockBuffer's buffers: empty, of the capacity
// asked, and, given a huge page size they can hold, starting on a huge
// page's boundary and advised (the "hg" flag of their mapping in
// /proc/self/smaps) where the kernel has transparent huge pages.
func TestBlockBuffer(t *testing.T) {
	_, err := os.Stat("/sys/kernel/mm/transparent_hugepage")
	haveTHP := err == nil
	for _, tc := range []struct {
		name       string
		size, huge int
		advised    bool
	}{
		{"zstd block", zstdBlockSize, 2 << 20, true},
		{"zstd block output", outputBound(zstdBlockSize), 2 << 20, true},
		{"one huge page", 2 << 20, 2 << 20, true},
		{"gzip block: smaller than a huge page", gzipBlockSize, 2 << 20, false},
		{"no huge pages", zstdBlockSize, 0, false},
		{"huge pages bigger than the block", zstdBlockSize, 32 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := blockBuffer(tc.size, tc.huge)
			if len(b) != 0 || cap(b) != tc.size {
				t.Fatalf("blockBuffer(%d, %d): len %d, cap %d; want 0 and %d", tc.size, tc.huge, len(b), cap(b), tc.size)
			}
			if !tc.advised {
				return
			}
			addr := uintptr(unsafe.Pointer(unsafe.SliceData(b[:1])))
			if addr%uintptr(tc.huge) != 0 {
				t.Fatalf("buffer at %#x, not on a %d-byte boundary", addr, tc.huge)
			}
			if !haveTHP {
				t.Log("no /sys/kernel/mm/transparent_hugepage: not checking the advice")
				return
			}
			flags, err := smapsField(addr, "VmFlags:")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(" "+flags+" ", " hg ") {
				t.Errorf("the mapping of the buffer at %#x is not advised MADV_HUGEPAGE: VmFlags %q", addr, flags)
			}
		})
	}
}

// TestBlockBufferHugePages writes a zstd block's buffer in a fresh process
// (heap memory never used before, as the command's blocks are) and reads
// how much of its mapping the kernel then backs with huge pages: all of it
// where the machine has huge pages to give, against none in small pages
// (which take a page fault every 4 KiB).
func TestBlockBufferHugePages(t *testing.T) {
	if os.Getenv("OCIB_TEST_BLOCK_HUGE") == "1" {
		huge := hugePageSize(os.Getenv, os.ReadFile)
		b := blockBuffer(zstdBlockSize, huge)[:zstdBlockSize]
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		before, err := smapsKB(addr, "AnonHugePages:")
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		after, err := smapsKB(addr, "AnonHugePages:")
		runtime.KeepAlive(b)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("hugekB %d huge %d\n", after-before, huge)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBlockBufferHugePages$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OCIB_TEST_BLOCK_HUGE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var hugeKB, huge int
	line := strings.SplitN(string(out), "\n", 2)[0]
	if _, err := fmt.Sscanf(line, "hugekB %d huge %d", &hugeKB, &huge); err != nil {
		t.Fatalf("child: %s", out)
	}
	t.Logf("writing a fresh %d-byte block buffer: %d kB of it in huge pages (of %d bytes)", zstdBlockSize, hugeKB, huge)
	if huge == 0 || huge > zstdBlockSize {
		t.Logf("no huge pages to have for a %d-byte block here: not checking", zstdBlockSize)
		return
	}
	if hugeKB < huge>>10 {
		t.Errorf("writing a fresh %d-byte block buffer put %d kB of it in huge pages; want at least one huge page (%d kB)", zstdBlockSize, hugeKB, huge>>10)
	}
}

// TestPoolBlockBuffers checks that a Pool's block buffers come from
// blockBuffer and are kept: a buffer given back is the next one given out.
func TestPoolBlockBuffers(t *testing.T) {
	p := NewPool(1)
	for _, size := range []int{zstdBlockSize, outputBound(zstdBlockSize), gzipBlockSize} {
		b := p.buffer(size)
		if len(b) != 0 || cap(b) != size {
			t.Fatalf("buffer(%d): len %d, capacity %d", size, len(b), cap(b))
		}
		addr := unsafe.SliceData(b[:1])
		if p.hugePage != 0 && size >= p.hugePage && uintptr(unsafe.Pointer(addr))%uintptr(p.hugePage) != 0 {
			t.Errorf("buffer(%d) at %p, not on a %d-byte boundary", size, addr, p.hugePage)
		}
		p.recycle(append(b, 1, 2, 3))
		again := p.buffer(size)
		if len(again) != 0 || unsafe.SliceData(again[:1]) != addr {
			t.Errorf("buffer(%d) after recycling: a different buffer (or not emptied)", size)
		}
	}
}

// smapsField is the value of the field key (as "VmFlags:") of the mapping
// of this process holding addr, from /proc/self/smaps.
func smapsField(addr uintptr, key string) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok {
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= start && uint64(addr) < end
				continue
			}
		}
		if v, ok := strings.CutPrefix(line, key); ok && in {
			return strings.TrimSpace(v), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no mapping holding %#x has %s in /proc/self/smaps", addr, key)
}

// smapsKB is a field counted in kB (as "AnonHugePages:") of the mapping
// holding addr.
func smapsKB(addr uintptr, key string) (int, error) {
	v, err := smapsField(addr, key)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSuffix(v, " kB"))
}
