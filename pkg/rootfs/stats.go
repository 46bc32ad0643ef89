package rootfs

import "time"

// Stats counts what a copy wrote.
type Stats struct {
	// Paths is the number of sources completely copied.
	Paths int64
	// Files, Dirs and Symlinks count the entries created.
	Files, Dirs, Symlinks int64
	// Bytes is the total size of the regular files put in the rootfs,
	// whichever way they were put there.
	Bytes int64
	// Copied, Cloned and Linked split Files by how each was put in place:
	// bytes copied, reflinked (FICLONE) or hard-linked.
	Copied, Cloned, Linked int64
	// Fallbacks counts the files copied because the mode's own way was
	// refused, by reason: an errno name (EOPNOTSUPP, EXDEV, EINVAL, EPERM,
	// EMLINK) or "not owned". Nil when there were none.
	Fallbacks map[string]int64
	// Verified is the number of sources whose NAR hash (and size) matched
	// the closure graph's.
	Verified int64
	// Elapsed is the time since the copy started.
	Elapsed time.Duration
}

// FallbackTotal is the number of files copied as a fallback.
func (s Stats) FallbackTotal() int64 {
	var n int64
	for _, v := range s.Fallbacks {
		n += v
	}
	return n
}
