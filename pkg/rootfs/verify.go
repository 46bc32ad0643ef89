//go:build linux

package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/nar"
)

// Verification while copying.
//
// A store path's NAR hash is one SHA-256 over its serialisation, in NAR
// order, so it can only be computed sequentially, while the workers copy a
// store path's files in parallel and finish them in any order. Each source
// that is verified gets a narSeq: the walker appends the NAR events of the
// source in order (directories, symlinks, ends of directories, and a
// fileSlot for each regular file, which a worker fills), and whoever finds
// the events at the head of the queue ready feeds them to the source's
// Hasher. A worker reads each file once: a small file into a buffer, which
// it writes to the rootfs and leaves in its slot for the hasher; a big one,
// or any file when the buffers are all taken, it copies once its turn has
// come, hashing what it writes as it goes. No goroutine is dedicated to
// hashing and none waits for another except a worker holding a big file
// that is not yet due; the files before it were queued earlier, so are
// already being handled, and its turn comes.

// Verify checks store paths against the NAR hashes and sizes of want
// without copying them, as bind mode needs: opts.Workers goroutines (0: one
// per CPU) read and hash whole store paths, the biggest first, and
// opts.Progress is called as Copy calls it. In the Stats, Paths and
// Verified count the store paths verified and Bytes their NAR bytes. The
// first mismatch (a *nar.MismatchError) or unreadable path stops the
// others and is returned.
func Verify(ctx context.Context, want []nar.Expected, opts Options) (Stats, error) {
	start := time.Now()
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var count counters
	stop := startProgress(&count, opts, start)
	err := nar.VerifyAll(ctx, want, workers, func(_ nar.Expected, sum nar.Sum) {
		count.bytes.Add(int64(sum.Size))
		count.verified.Add(1)
		count.paths.Add(1)
	})
	stop()
	return count.snapshot(start), err
}

// eventKind is a NAR event in a narSeq.
type eventKind uint8

const (
	evDir eventKind = iota
	evEndDir
	evSymlink
	evFile
	// evDone ends the source: its sum is computed and checked.
	evDone
)

type narEvent struct {
	kind   eventKind
	name   string
	target string    // evSymlink
	slot   *fileSlot // evFile
}

// slotState is how far a regular file is.
type slotState uint8

const (
	// slotPending: a worker has it, or will.
	slotPending slotState = iota
	// slotBuffered: its contents are in buf, ready to hash.
	slotBuffered
	// slotWaiting: its worker waits for its turn to hash while copying.
	slotWaiting
)

// fileSlot is a regular file of a verified source. Its fields are written
// by the worker that copies the file and read by whoever hashes it, under
// the narSeq's mutex.
type fileSlot struct {
	seq   *narSeq
	state slotState
	exec  bool
	size  int64
	buf   []byte
	// turn is closed when the waiting worker holds the hasher, the file's
	// header already hashed.
	turn chan struct{}
}

// narSeq hashes one source in NAR order, whichever goroutine puts which
// file in place.
type narSeq struct {
	c    *copier
	want nar.Expected

	mu     sync.Mutex
	events []narEvent
	head   int
	// busy says a goroutine holds the hasher: it is draining events, or a
	// worker is hashing a file it copies.
	busy bool
	h    *nar.Hasher
}

func (c *copier) newSeq(want nar.Expected) *narSeq {
	return &narSeq{c: c, want: want, h: nar.NewHasher()}
}

// The walker's side. Each method is a no-op on a nil narSeq, so that the
// walker calls them whether it verifies or not.

func (s *narSeq) push(ev narEvent) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
}

func (s *narSeq) dir(name string) { s.push(narEvent{kind: evDir, name: name}) }

func (s *narSeq) endDir() { s.push(narEvent{kind: evEndDir}) }

func (s *narSeq) symlink(name, target string) {
	s.push(narEvent{kind: evSymlink, name: name, target: target})
}

// file appends a regular file and returns its slot, for the worker that
// copies it; nil on a nil narSeq.
func (s *narSeq) file(name string) *fileSlot {
	if s == nil {
		return nil
	}
	slot := &fileSlot{seq: s}
	s.push(narEvent{kind: evFile, name: name, slot: slot})
	return slot
}

// finish ends the source and hashes whatever is ready.
func (s *narSeq) finish() {
	if s == nil {
		return
	}
	s.push(narEvent{kind: evDone})
	s.advance()
}

// The hashing side.

// advance drains the ready events unless someone already holds the hasher
// (who will see them before letting it go).
func (s *narSeq) advance() {
	s.mu.Lock()
	if s.busy {
		s.mu.Unlock()
		return
	}
	s.busy = true
	s.drainLocked()
}

// drainLocked feeds the events at the head to the hasher while they are
// ready. It is called with mu held and busy set, and returns with mu
// released and busy cleared, or busy handed over to a waiting worker.
// Hashing happens outside the mutex, so that workers can fill their slots
// meanwhile.
func (s *narSeq) drainLocked() {
	for {
		if s.head == len(s.events) || s.c.failed() {
			s.busy = false
			s.mu.Unlock()
			return
		}
		ev := s.events[s.head]
		var state slotState
		if ev.kind == evFile {
			state = ev.slot.state
		}
		if ev.kind == evFile && state == slotPending {
			s.busy = false
			s.mu.Unlock()
			return
		}
		s.events[s.head] = narEvent{}
		s.head++
		if s.head >= 1024 && 2*s.head >= len(s.events) {
			n := copy(s.events, s.events[s.head:])
			clear(s.events[n:])
			s.events = s.events[:n]
			s.head = 0
		}
		s.mu.Unlock()

		var err error
		switch ev.kind {
		case evDir:
			err = s.h.Directory(ev.name)
		case evEndDir:
			err = s.h.EndDirectory()
		case evSymlink:
			err = s.h.Symlink(ev.name, ev.target)
		case evFile:
			slot := ev.slot
			err = s.h.File(ev.name, slot.exec, uint64(slot.size))
			if err == nil && state == slotWaiting {
				// The worker hashes while it copies, then drains on.
				close(slot.turn)
				return
			}
			if err == nil && len(slot.buf) > 0 {
				_, err = s.h.Write(slot.buf)
				s.c.bufs.put(slot.buf)
			}
			slot.buf = nil
		case evDone:
			err = s.check()
		}
		if err != nil {
			s.c.cancel(err)
		}
		s.mu.Lock()
	}
}

// check completes the source's hash and compares it with the graph's.
func (s *narSeq) check() error {
	sum, err := s.h.Sum()
	s.h = nil
	if err != nil {
		return fmt.Errorf("verify %s: %w", s.want.Path, err)
	}
	if err := sum.CheckExpected(s.want); err != nil {
		return err
	}
	s.c.count.verified.Add(1)
	return nil
}

// ready hands over the contents of a file read into buf (from c.bufs).
func (slot *fileSlot) ready(buf []byte) {
	s := slot.seq
	s.mu.Lock()
	slot.buf, slot.state = buf, slotBuffered
	if s.busy {
		s.mu.Unlock()
		return
	}
	s.busy = true
	s.drainLocked()
}

// waitTurn waits until the file's worker holds the hasher, the file's
// header hashed, or until the copy fails.
func (slot *fileSlot) waitTurn() error {
	s := slot.seq
	slot.turn = make(chan struct{})
	s.mu.Lock()
	slot.state = slotWaiting
	if s.busy {
		s.mu.Unlock()
	} else {
		s.busy = true
		s.drainLocked()
	}
	select {
	case <-slot.turn:
		return nil
	case <-s.c.ctx.Done():
		return context.Cause(s.c.ctx)
	}
}

// hashed is called by the worker that held the hasher for its file once
// the contents are hashed: it drains on and lets the hasher go.
func (slot *fileSlot) hashed() {
	s := slot.seq
	s.mu.Lock()
	s.drainLocked()
}

// hashFile reads the regular file src (whose status is st) once and feeds
// it to its slot's hasher; when dst is not -1 it writes the bytes it read
// there too, keeping holes as holes. A file that fits a free buffer is read
// at once and hashed when its turn comes, by whoever gets there; a bigger
// one is read, hashed (and written) chunk by chunk once its turn has come.
func (c *copier) hashFile(dc *dataCopier, slot *fileSlot, src, dst int, st *unix.Stat_t) error {
	size := st.Size
	sparse := size > 0 && st.Blocks*512 < size
	slot.exec = st.Mode&unix.S_IXUSR != 0
	slot.size = size
	if buf, ok := c.bufs.get(size); ok {
		if err := preadFull(src, buf); err != nil {
			c.bufs.put(buf)
			return err
		}
		if dst >= 0 {
			if err := writeBuffer(dst, src, buf, sparse); err != nil {
				c.bufs.put(buf)
				return err
			}
		}
		slot.ready(buf)
		return nil
	}
	if err := slot.waitTurn(); err != nil {
		return err
	}
	if err := dc.copyHashed(dst, src, size, sparse, slot.seq.h); err != nil {
		return err
	}
	slot.hashed()
	return nil
}

// copyHashed reads size bytes of src, feeding them to h and, when dst is
// not -1, writing them to dst. A sparse file is read extent by extent: its
// holes are fed to h as zeros and left as holes in dst.
func (dc *dataCopier) copyHashed(dst, src int, size int64, sparse bool, h io.Writer) error {
	if len(dc.buf) == 0 {
		dc.buf = make([]byte, 1<<20)
	}
	pos := int64(0) // what h has been fed
	extent := func(off, end int64) error {
		if err := dc.feedZeros(h, off-pos); err != nil {
			return err
		}
		for off < end {
			n, err := unix.Pread(src, dc.buf[:min(int64(len(dc.buf)), end-off)], off)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if n == 0 {
				return errShrank
			}
			if _, err := h.Write(dc.buf[:n]); err != nil {
				return err
			}
			if dst >= 0 {
				if err := pwriteAll(dst, dc.buf[:n], off); err != nil {
					return err
				}
			}
			off += int64(n)
		}
		pos = end
		return nil
	}
	var err error
	if sparse {
		err = forExtents(src, size, extent)
	} else {
		err = extent(0, size)
	}
	if err != nil {
		return err
	}
	if err := dc.feedZeros(h, size-pos); err != nil {
		return err
	}
	if dst >= 0 && sparse {
		if err := unix.Ftruncate(dst, size); err != nil {
			return fmt.Errorf("truncate: %w", err)
		}
	}
	return nil
}

// feedZeros writes n zero bytes to h: a hole, as a NAR holds it.
func (dc *dataCopier) feedZeros(h io.Writer, n int64) error {
	if n <= 0 {
		return nil
	}
	if len(dc.zeros) == 0 {
		dc.zeros = make([]byte, 256<<10)
	}
	for n > 0 {
		k := min(n, int64(len(dc.zeros)))
		if _, err := h.Write(dc.zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

var errShrank = errors.New("file shrank while being copied")

// preadFull fills buf from the start of fd.
func preadFull(fd int, buf []byte) error {
	for off := 0; off < len(buf); {
		n, err := unix.Pread(fd, buf[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return errShrank
		}
		off += n
	}
	return nil
}

// pwriteAll writes all of buf to fd at off.
func pwriteAll(fd int, buf []byte, off int64) error {
	for w := 0; w < len(buf); {
		m, err := unix.Pwrite(fd, buf[w:], off+int64(w))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		w += m
	}
	return nil
}

// writeBuffer writes the contents of src, read into buf, to dst: only the
// extents holding data when src is sparse, so that holes stay holes.
func writeBuffer(dst, src int, buf []byte, sparse bool) error {
	if !sparse {
		return pwriteAll(dst, buf, 0)
	}
	size := int64(len(buf))
	if err := forExtents(src, size, func(off, end int64) error { return pwriteAll(dst, buf[off:end], off) }); err != nil {
		return err
	}
	if err := unix.Ftruncate(dst, size); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	return nil
}

// bufPool lends buffers for file contents waiting to be hashed. Every
// buffer it has made, lent or kept for reuse, counts against limit, so
// that the memory verification holds stays bounded: when a size class has
// no free buffer and the limit is reached, free buffers of other classes
// are dropped (left to the garbage collector) to make room.
type bufPool struct {
	limit int64

	mu    sync.Mutex
	total int64 // bytes of every buffer made and not dropped
	free  [bufClasses][][]byte
}

const (
	minBufShift = 12 // 4 KiB
	bufClasses  = 13 // up to 16 MiB
)

func newBufPool(limit int64) *bufPool { return &bufPool{limit: limit} }

// maxFile is the largest file that may be buffered: a quarter of the limit,
// so that several files wait at once.
func (p *bufPool) maxFile() int64 { return p.limit / 4 }

func sizeClass(n int64) int {
	class := 0
	for int64(1)<<(minBufShift+class) < n {
		class++
	}
	return class
}

// get lends a buffer of length size, if size is at most maxFile and the
// limit allows it. An empty file needs no buffer.
func (p *bufPool) get(size int64) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	if size > p.maxFile() {
		return nil, false
	}
	class := sizeClass(size)
	if class >= bufClasses {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if free := p.free[class]; len(free) > 0 {
		b := free[len(free)-1]
		free[len(free)-1] = nil
		p.free[class] = free[:len(free)-1]
		return b[:size], true
	}
	n := int64(1) << (minBufShift + class)
	for c := range p.free {
		for p.total+n > p.limit && len(p.free[c]) > 0 {
			last := len(p.free[c]) - 1
			p.total -= int64(cap(p.free[c][last]))
			p.free[c][last] = nil
			p.free[c] = p.free[c][:last]
		}
	}
	if p.total+n > p.limit {
		return nil, false
	}
	p.total += n
	return make([]byte, size, n), true
}

// put takes back a buffer lent by get, for reuse.
func (p *bufPool) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	class := sizeClass(int64(cap(b)))
	p.mu.Lock()
	p.free[class] = append(p.free[class], b[:0])
	p.mu.Unlock()
}
