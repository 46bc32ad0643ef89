//go:build linux

// Package rootfs puts store paths into a container's root filesystem.
//
// Trees are walked (package tree) and written through directory file
// descriptors (openat, mkdirat, symlinkat, getdents), never through joined
// paths, so depth is not limited by PATH_MAX and a symlink is never
// followed. One goroutine walks the sources, creating directories and
// symlinks; a pool of workers puts the
// regular files in place, by the Mode asked for: copying their bytes,
// cloning them (reflink) or hard-linking them, each falling back to a copy
// per file where the filesystem refuses. A directory's final mode is set by
// whichever goroutine finishes its last child, so fixing modes never waits
// for the whole copy.
//
// Copy can also verify each source against the NAR hash and size its closure
// graph gives, reading each file once for both the copy and the hash (see
// Options.Verify).
package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/store/tree"
)

// Options tune a copy.
type Options struct {
	// Mode is how regular files are put in place; the zero value copies.
	Mode Mode
	// OwnedLinksOnly, in ModeHardlink, links only files owned by the
	// calling user and copies the others (counted as the fallback
	// "not owned"): a Nix build's output may not hold hard links to files
	// of another owner.
	OwnedLinksOnly bool
	// Workers is the number of goroutines copying file contents; 0 or less
	// means one per CPU.
	Workers int
	// Progress, when set, is called about once a second with the counts so
	// far, from a goroutine of its own.
	Progress func(Stats)
	// ProgressInterval overrides the one second between Progress calls.
	ProgressInterval time.Duration
	// Verify, when not nil, holds what the closure graph says of each
	// source, in the order of the sources (Path must be the source): each
	// source with a NarHash is hashed as it is put in place, and a copy
	// whose NAR hash or size differs fails with a *nar.MismatchError (or an
	// error about the size). Each file is read once: copied files are read
	// into memory, hashed and written from there instead of with
	// copy_file_range; in ModeCopy a file is cloned (FICLONE) where the
	// filesystem can, as copy_file_range would, and then, like cloned and
	// linked files, only read to be hashed.
	Verify []nar.Expected
}

// Fallback reasons that are not errno values.
const reasonNotOwned = "not owned"

// fallbackReasons lists every reason a file may be copied instead of
// cloned or linked, indexing counters.fallbacks.
var fallbackReasons = [...]string{"EOPNOTSUPP", "EXDEV", "EINVAL", "EPERM", "EMLINK", reasonNotOwned}

func reasonIndex(err error) int {
	switch err {
	case unix.EOPNOTSUPP:
		return 0
	case unix.EXDEV:
		return 1
	case unix.EINVAL:
		return 2
	case unix.EPERM:
		return 3
	case unix.EMLINK:
		return 4
	}
	return 5
}

type counters struct {
	paths, files, dirs, symlinks, bytes atomic.Int64
	copied, cloned, linked              atomic.Int64
	verified                            atomic.Int64
	fallbacks                           [len(fallbackReasons)]atomic.Int64
}

func (c *counters) snapshot(start time.Time) Stats {
	s := Stats{
		Paths:    c.paths.Load(),
		Files:    c.files.Load(),
		Dirs:     c.dirs.Load(),
		Symlinks: c.symlinks.Load(),
		Bytes:    c.bytes.Load(),
		Copied:   c.copied.Load(),
		Cloned:   c.cloned.Load(),
		Linked:   c.linked.Load(),
		Verified: c.verified.Load(),
		Elapsed:  time.Since(start),
	}
	for i := range c.fallbacks {
		if n := c.fallbacks[i].Load(); n > 0 {
			if s.Fallbacks == nil {
				s.Fallbacks = map[string]int64{}
			}
			s.Fallbacks[fallbackReasons[i]] = n
		}
	}
	return s
}

// dirNode is a directory being copied. pending counts what still has to
// finish before its mode can be fixed and its descriptors closed: the walker
// itself while it lists the directory, each queued file, each subdirectory.
type dirNode struct {
	src, dst int
	perm     uint32
	mtime    unix.Timespec
	display  string
	parent   *dirNode
	pending  atomic.Int64
}

type fileJob struct {
	dir  *dirNode
	name string
	// slot is the file's place in its source's NAR hash, nil when the
	// source is not verified.
	slot *fileSlot
}

type copier struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	jobs   chan fileJob
	count  counters
	mode   Mode
	owned  bool // OwnedLinksOnly
	uid    uint32
	// noCFR is set once copy_file_range has failed for want of support
	// (between these filesystems, say): later files go straight to read
	// and write instead of failing it again.
	noCFR atomic.Bool
	// expect holds Options.Verify; bufs lends the buffers of files read
	// ahead of their turn to be hashed.
	expect []nar.Expected
	bufs   *bufPool
	// noClone is set once FICLONE has been refused in a verified ModeCopy:
	// files are then read, hashed and written.
	noClone atomic.Bool
}

// Copy copies each source (an absolute path to a directory, regular file or
// symlink) into the directory dst, under the source's base name. Contents,
// executable bits, modification times, empty directories and symlinks
// (verbatim, never followed) are preserved; write permission is dropped, as
// in a Nix store. Keeping modification times (1 in a Nix store) spares Nix
// from setting them again on every entry of a build's output. Any other
// file type is an error. Entries must not already exist in dst.
//
// In ModeReflink and ModeHardlink regular files are cloned or hard-linked
// instead of copied where the filesystem allows it. A hard link shares the
// source's inode, so it keeps the source's mode (in a Nix store, already
// without write permission) and owner.
func Copy(ctx context.Context, dst *os.File, sources []string, opts Options) (Stats, error) {
	start := time.Now()
	// Only dst's descriptor is used below: keep dst from being finalised
	// (and its descriptor closed) while the copy runs.
	defer runtime.KeepAlive(dst)
	if err := opts.Mode.check(); err != nil {
		return Stats{}, err
	}
	if err := checkExpected(sources, opts.Verify); err != nil {
		return Stats{}, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &copier{
		ctx: ctx, cancel: cancel, jobs: make(chan fileJob, 4096),
		mode: opts.Mode, owned: opts.OwnedLinksOnly, uid: uint32(os.Geteuid()),
		expect: opts.Verify,
	}
	if opts.Verify != nil {
		// Enough for every worker to read a few files ahead of their turn
		// (bigger files wait for it), bounded so that the builder's memory
		// stays small however many workers it has.
		c.bufs = newBufPool(min(max(int64(workers)<<21, 8<<20), 32<<20))
	}

	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.work()
		}()
	}
	stopProgress := c.startProgress(opts, start)

	dstFd := int(dst.Fd())
	var seqs int64
	for i, src := range sources {
		if ctx.Err() != nil {
			break
		}
		var seq *narSeq
		if c.expect != nil && c.expect[i].NarHash != "" {
			seq = c.newSeq(c.expect[i])
			seqs++
		}
		if err := c.copyTop(dstFd, src, seq); err != nil {
			c.cancel(err)
			break
		}
	}
	close(c.jobs)
	wg.Wait()
	stopProgress()
	stats := c.count.snapshot(start)
	if err := context.Cause(ctx); err != nil {
		return stats, err
	}
	// Every source with a hash ends with its check: a shortfall would be
	// a source copied but never compared, which must not pass as verified.
	if stats.Verified != seqs {
		return stats, fmt.Errorf("verify: %d of %d store paths were checked against their NAR hashes", stats.Verified, seqs)
	}
	return stats, nil
}

// checkExpected checks that want, when not nil, gives a parsable NAR hash
// (or none) for each source, in order.
func checkExpected(sources []string, want []nar.Expected) error {
	if want == nil {
		return nil
	}
	if len(want) != len(sources) {
		return fmt.Errorf("verify: %d expected hashes for %d sources", len(want), len(sources))
	}
	for i, w := range want {
		if w.Path != sources[i] {
			return fmt.Errorf("verify: expected hash %d is for %s, not %s", i, w.Path, sources[i])
		}
		if w.NarHash == "" {
			continue
		}
		if _, err := nar.ParseHash(w.NarHash); err != nil {
			return fmt.Errorf("store path %s: %w", w.Path, err)
		}
	}
	return nil
}

func (c *copier) startProgress(opts Options, start time.Time) func() {
	return startProgress(&c.count, opts, start)
}

// startProgress calls opts.Progress with a snapshot of count every
// opts.ProgressInterval until the returned function is called.
func startProgress(count *counters, opts Options, start time.Time) func() {
	if opts.Progress == nil {
		return func() {}
	}
	interval := opts.ProgressInterval
	if interval <= 0 {
		interval = time.Second
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				opts.Progress(count.snapshot(start))
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func (c *copier) failed() bool { return c.ctx.Err() != nil }

func (c *copier) work() {
	dc := &dataCopier{noCFR: &c.noCFR}
	for job := range c.jobs {
		if !c.failed() {
			if err := c.copyFileAt(dc, job.dir.src, job.name, job.dir.dst, job.name, job.dir.display+"/"+job.name, job.slot); err != nil {
				c.cancel(err)
			}
		}
		c.release(job.dir)
	}
}

// copyTop copies one source into the directory dstFd, feeding seq (which
// may be nil) the source's NAR events. The walk (package tree) runs on
// this goroutine: it creates directories and symlinks itself and queues
// regular files for the workers, which open them through the descriptor
// of their directory (a dirNode's), held until the last of them is done.
func (c *copier) copyTop(dstFd int, src string, seq *narSeq) error {
	v := &copyVisitor{c: c, dstFd: dstFd, name: path.Base(src), seq: seq}
	if err := tree.Walk(c.ctx, src, v, tree.Options{Op: "copy", DeferFiles: true}); err != nil {
		c.cancel(err)
		// The walk's own references to the directories it did not leave.
		for i := len(v.dirs) - 1; i >= 0; i-- {
			c.release(v.dirs[i])
		}
		return err
	}
	seq.finish()
	if !v.dir {
		// A directory counts once its last file is done (see release).
		c.count.paths.Add(1)
	}
	return nil
}

// copyVisitor copies one source as the walk gives it.
type copyVisitor struct {
	c *copier
	// dstFd is the directory the source is copied into, name its name
	// there.
	dstFd int
	name  string
	seq   *narSeq
	// dirs are the directories entered and not left, innermost last.
	dirs []*dirNode
	// dir says the source is a directory.
	dir bool
}

// dst is the directory where e goes, and e's name there.
func (v *copyVisitor) dst(e *tree.Entry) (int, string) {
	if e.IsRoot() {
		return v.dstFd, v.name
	}
	return v.dirs[len(v.dirs)-1].dst, e.Name
}

func (v *copyVisitor) EnterDir(d *tree.Entry) error {
	c := v.c
	dstParent, name := v.dst(d)
	display := d.Path()
	if err := unix.Mkdirat(dstParent, name, 0o755); err != nil {
		return fmt.Errorf("copy %s: mkdir: %w", display, err)
	}
	dstFd, err := unix.Openat(dstParent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("copy %s: open new directory: %w", display, err)
	}
	c.count.dirs.Add(1)
	var parent *dirNode
	if !d.IsRoot() {
		parent = v.dirs[len(v.dirs)-1]
		parent.pending.Add(1)
	}
	v.dir = true
	// The node holds the source directory's descriptor for the workers
	// until the last of its files is done.
	node := &dirNode{src: d.KeepFd(), dst: dstFd, perm: d.Stat.Mode & 0o555, mtime: d.Stat.Mtim, display: display, parent: parent}
	node.pending.Store(1)
	v.dirs = append(v.dirs, node)
	v.seq.dir(d.NARName())
	return nil
}

func (v *copyVisitor) LeaveDir(*tree.Entry) error {
	v.seq.endDir()
	node := v.dirs[len(v.dirs)-1]
	v.dirs = v.dirs[:len(v.dirs)-1]
	v.c.release(node)
	return nil
}

func (v *copyVisitor) Symlink(e *tree.Entry, target string) error {
	dstDir, name := v.dst(e)
	if err := v.c.copySymlink(e.DirFd, e.Name, dstDir, name, target, e.Path()); err != nil {
		return err
	}
	v.seq.symlink(e.NARName(), target)
	return nil
}

// File queues a regular file for the workers; a source that is a regular
// file is copied on this goroutine.
func (v *copyVisitor) File(e *tree.Entry) error {
	c := v.c
	if e.IsRoot() {
		return c.copyFileAt(&dataCopier{noCFR: &c.noCFR}, e.DirFd, e.Name, v.dstFd, v.name, e.Path(), v.seq.file(""))
	}
	node := v.dirs[len(v.dirs)-1]
	node.pending.Add(1)
	select {
	case c.jobs <- fileJob{dir: node, name: e.Name, slot: v.seq.file(e.Name)}:
		return nil
	case <-c.ctx.Done():
		node.pending.Add(-1)
		return context.Cause(c.ctx)
	}
}

// copySymlink recreates the symlink srcDir/name, whose target is target, as
// dstDir/dstName, with its modification time.
func (c *copier) copySymlink(srcDir int, name string, dstDir int, dstName, target, display string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(srcDir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("copy %s: %w", display, err)
	}
	if err := unix.Symlinkat(target, dstDir, dstName); err != nil {
		return fmt.Errorf("copy %s: symlink: %w", display, err)
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, st.Mtim}
	if err := unix.UtimesNanoAt(dstDir, dstName, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("copy %s: set modification time: %w", display, err)
	}
	c.count.symlinks.Add(1)
	return nil
}

// futimens sets the modification time of the file open at fd, leaving its
// access time alone: utimensat(fd, NULL, ...), as the C library's futimens.
func futimens(fd int, mtime unix.Timespec) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, mtime}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// release drops one reference to n; the last one fixes the directory's mode,
// closes its descriptors and releases the parent.
func (c *copier) release(n *dirNode) {
	for n != nil && n.pending.Add(-1) == 0 {
		if !c.failed() {
			if err := unix.Fchmod(n.dst, n.perm); err != nil {
				c.cancel(fmt.Errorf("copy %s: chmod: %w", n.display, err))
			} else if err := futimens(n.dst, n.mtime); err != nil {
				c.cancel(fmt.Errorf("copy %s: set modification time: %w", n.display, err))
			}
		}
		unix.Close(n.src)
		unix.Close(n.dst)
		if n.parent == nil {
			c.count.paths.Add(1)
		}
		n = n.parent
	}
}

// copyFileAt puts the regular file srcDir/srcName at dstDir/dstName, the
// way the mode asks, falling back to a copy; with a slot, it also hashes
// the file (see copyFileVerified).
//
// The workers do not check that a file did not change while they read it
// (tree.Unchanged, one more fstat per file, 3 to 4% of the copy's CPU
// time on a closure of small files): a verified copy checks the NAR hash
// of the very bytes it read and wrote, which catches any change that
// matters, and verify = false asks for no checks.
func (c *copier) copyFileAt(dc *dataCopier, srcDir int, srcName string, dstDir int, dstName, display string, slot *fileSlot) error {
	if slot != nil {
		return c.copyFileVerified(dc, srcDir, srcName, dstDir, dstName, display, slot)
	}
	if c.mode == ModeHardlink {
		done, err := c.linkFile(srcDir, srcName, dstDir, dstName, display)
		if done || err != nil {
			return err
		}
	}
	src, st, err := openRegular(srcDir, srcName, display)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	dst, err := unix.Openat(dstDir, dstName, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, st.Mode&0o555)
	if err != nil {
		return fmt.Errorf("copy %s: create: %w", display, err)
	}
	cloned := false
	if c.mode == ModeReflink && st.Size > 0 {
		err = unix.IoctlFileClone(dst, src)
		switch {
		case err == nil:
			cloned = true
		case cloneFallback(err):
			c.count.fallbacks[reasonIndex(err)].Add(1)
			err = nil
		default:
			err = fmt.Errorf("clone: %w", err)
		}
	}
	if err == nil && !cloned {
		sparse := st.Size > 0 && st.Blocks*512 < st.Size
		err = dc.copyData(dst, src, st.Size, sparse)
	}
	return c.finishFile(dst, &st, cloned, display, err)
}

// linkFile hard-links srcDir/srcName to dstDir/dstName. It reports done
// when the link was made; when the filesystem refuses (EXDEV, EPERM,
// EMLINK) or the file is not the caller's while OwnedLinksOnly is set, it
// counts the fallback and reports not done, so that the file is copied.
func (c *copier) linkFile(srcDir int, srcName string, dstDir int, dstName, display string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(srcDir, srcName, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, fmt.Errorf("copy %s: %w", display, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, fmt.Errorf("copy %s: %w", display, &tree.UnsupportedError{Mode: st.Mode})
	}
	return c.link(&st, srcDir, srcName, dstDir, dstName, display)
}

// link hard-links srcDir/srcName, a regular file whose status is st, to
// dstDir/dstName, as linkFile does.
func (c *copier) link(st *unix.Stat_t, srcDir int, srcName string, dstDir int, dstName, display string) (bool, error) {
	if c.owned && st.Uid != c.uid {
		c.count.fallbacks[reasonIndex(nil)].Add(1)
		return false, nil
	}
	err := unix.Linkat(srcDir, srcName, dstDir, dstName, 0)
	if linkFallback(err) {
		c.count.fallbacks[reasonIndex(err)].Add(1)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("copy %s: link: %w", display, err)
	}
	c.count.linked.Add(1)
	c.count.files.Add(1)
	c.count.bytes.Add(st.Size)
	return true, nil
}

// cloneFallback tells the FICLONE errors after which a file is copied
// instead: the filesystem cannot clone (EOPNOTSUPP), source and target are
// on different filesystems (EXDEV), or this file cannot be cloned (EINVAL).
func cloneFallback(err error) bool {
	return err == unix.EOPNOTSUPP || err == unix.EXDEV || err == unix.EINVAL
}

// linkFallback tells the link(2) errors after which a file is copied
// instead: another filesystem or mount (EXDEV), not allowed, for example by
// fs.protected_hardlinks (EPERM), or too many links to the source (EMLINK).
func linkFallback(err error) bool {
	return err == unix.EXDEV || err == unix.EPERM || err == unix.EMLINK
}

// copyData copies size bytes from src to dst. A sparse source is copied
// extent by extent (SEEK_DATA/SEEK_HOLE) so that holes stay holes.
func (dc *dataCopier) copyData(dst, src int, size int64, sparse bool) error {
	if size == 0 {
		return nil
	}
	if !sparse {
		return dc.copyRange(dst, src, 0, size)
	}
	if err := forExtents(src, size, func(off, end int64) error { return dc.copyRange(dst, src, off, end) }); err != nil {
		return err
	}
	if err := unix.Ftruncate(dst, size); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	return nil
}

// forExtents calls fn for each range [off, end) of the first size bytes of
// src that holds data (SEEK_DATA/SEEK_HOLE), in order; without SEEK_DATA
// support, the rest of the file is one range.
func forExtents(src int, size int64, fn func(off, end int64) error) error {
	for off := int64(0); off < size; {
		data, err := unix.Seek(src, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			return fn(off, size)
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(src, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole: %w", err)
		}
		hole = min(hole, size)
		if err := fn(data, hole); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

// finishFile ends the copy of a regular file whose status is st into the
// open file dst, after err (nil when its contents are in place): it sets
// the modification time, closes dst and counts the file as cloned or
// copied.
func (c *copier) finishFile(dst int, st *unix.Stat_t, cloned bool, display string, err error) error {
	if err == nil {
		if err = futimens(dst, st.Mtim); err != nil {
			err = fmt.Errorf("set modification time: %w", err)
		}
	}
	if cerr := unix.Close(dst); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", display, err)
	}
	if cloned || (c.mode == ModeReflink && st.Size == 0) {
		c.count.cloned.Add(1)
	} else {
		c.count.copied.Add(1)
	}
	c.count.files.Add(1)
	c.count.bytes.Add(st.Size)
	return nil
}

// openRegular opens srcDir/name, which must be a regular file (not
// followed if it is a symlink), for reading, and returns it with its status
// (tree.OpenFile).
func openRegular(srcDir int, name, display string) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	src, err := tree.OpenFile(srcDir, name, &st)
	if err != nil {
		return -1, st, fmt.Errorf("copy %s: %w", display, err)
	}
	return src, st, nil
}

// copyFileVerified puts the regular file srcDir/name at dstDir/name as
// copyFileAt does, reading it once to feed its slot's NAR hash: a linked or
// cloned file is only read; a copied one is read, hashed and written from
// memory. In ModeCopy the file is cloned where the filesystem can, as
// copy_file_range does without verification (counted as cloned), until
// the filesystem first refuses.
func (c *copier) copyFileVerified(dc *dataCopier, srcDir int, srcName string, dstDir int, dstName, display string, slot *fileSlot) error {
	src, st, err := openRegular(srcDir, srcName, display)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	if c.mode == ModeHardlink {
		linked, err := c.link(&st, srcDir, srcName, dstDir, dstName, display)
		if err != nil {
			return err
		}
		if linked {
			if err := c.hashFile(dc, slot, src, -1, &st); err != nil {
				return fmt.Errorf("copy %s: %w", display, err)
			}
			return nil
		}
	}
	dst, err := unix.Openat(dstDir, dstName, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, st.Mode&0o555)
	if err != nil {
		return fmt.Errorf("copy %s: create: %w", display, err)
	}
	cloned := false
	if st.Size > 0 && (c.mode == ModeReflink || (c.mode == ModeCopy && !c.noClone.Load())) {
		err = unix.IoctlFileClone(dst, src)
		switch {
		case err == nil:
			cloned = true
		case cloneFallback(err):
			if c.mode == ModeReflink {
				c.count.fallbacks[reasonIndex(err)].Add(1)
			} else {
				c.noClone.Store(true)
			}
			err = nil
		default:
			err = fmt.Errorf("clone: %w", err)
		}
	}
	if err == nil {
		write := dst
		if cloned {
			write = -1
		}
		err = c.hashFile(dc, slot, src, write, &st)
	}
	return c.finishFile(dst, &st, cloned, display, err)
}

// dataCopier copies file contents for one goroutine, with its own buffer
// for read and write.
type dataCopier struct {
	noCFR *atomic.Bool
	buf   []byte
	// zeros are fed to NAR hashes for the holes of sparse files.
	zeros []byte
}

// copyRange copies bytes [off, end) with copy_file_range, falling back to
// pread/pwrite where the kernel or filesystem cannot.
func (dc *dataCopier) copyRange(dst, src int, off, end int64) error {
	if dc.noCFR != nil && dc.noCFR.Load() {
		return dc.readWrite(dst, src, off, end)
	}
	for off < end {
		soff, doff := off, off
		n, err := unix.CopyFileRange(src, &soff, dst, &doff, int(min(end-off, 1<<30)), 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if fallbackErr(err) {
				if dc.noCFR != nil && (err == unix.EXDEV || err == unix.ENOSYS || err == unix.EOPNOTSUPP) {
					dc.noCFR.Store(true)
				}
				return dc.readWrite(dst, src, off, end)
			}
			return fmt.Errorf("copy_file_range: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("file shrank while being copied")
		}
		off += int64(n)
	}
	return nil
}

func fallbackErr(err error) bool {
	switch err {
	case unix.EXDEV, unix.ENOSYS, unix.EINVAL, unix.EOPNOTSUPP, unix.EPERM, unix.EBADF:
		return true
	}
	return false
}

func (dc *dataCopier) readWrite(dst, src int, off, end int64) error {
	if len(dc.buf) == 0 {
		dc.buf = make([]byte, 1<<20)
	}
	buf := dc.buf
	for off < end {
		n, err := unix.Pread(src, buf[:min(int64(len(buf)), end-off)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("file shrank while being copied")
		}
		for w := 0; w < n; {
			m, err := unix.Pwrite(dst, buf[w:n], off+int64(w))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("write: %w", err)
			}
			w += m
		}
		off += int64(n)
	}
	return nil
}
