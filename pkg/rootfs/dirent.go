package rootfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// entry is one directory entry: its name and file type (unix.S_IF* bits).
type entry struct {
	name string
	kind uint32
}

// readDir lists the directory open at fd, sorted by name, without "." and
// "..". It reads entries with getdents64 so that no path is ever joined; the
// type comes from d_type, or from fstatat when the filesystem does not fill
// it in.
func readDir(fd int) ([]entry, error) {
	var out []entry
	buf := make([]byte, 32*1024)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("getdents: %w", err)
		}
		if n <= 0 {
			break
		}
		for off := 0; off < n; {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			if off+19 > n {
				return nil, fmt.Errorf("getdents: truncated record")
			}
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen < 19 || off+reclen > n {
				return nil, fmt.Errorf("getdents: bad record length %d", reclen)
			}
			typ := buf[off+18]
			name := buf[off+19 : off+reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			off += reclen
			if string(name) == "." || string(name) == ".." {
				continue
			}
			out = append(out, entry{name: string(name), kind: dtToMode(typ)})
		}
	}
	for i := range out {
		if out[i].kind != 0 {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, out[i].name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, fmt.Errorf("stat %q: %w", out[i].name, err)
		}
		out[i].kind = st.Mode & unix.S_IFMT
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func dtToMode(t byte) uint32 {
	switch t {
	case unix.DT_DIR:
		return unix.S_IFDIR
	case unix.DT_REG:
		return unix.S_IFREG
	case unix.DT_LNK:
		return unix.S_IFLNK
	case unix.DT_FIFO:
		return unix.S_IFIFO
	case unix.DT_SOCK:
		return unix.S_IFSOCK
	case unix.DT_CHR:
		return unix.S_IFCHR
	case unix.DT_BLK:
		return unix.S_IFBLK
	}
	return 0
}
