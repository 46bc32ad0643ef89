package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Entry is a directory, a regular file or a symbolic link that a layer
// holds besides store paths: /etc/passwd, a home directory, /tmp, the
// contents linked or copied at /.
type Entry struct {
	// Path is absolute, as seen in the container.
	Path string `json:"path"`
	// Dir makes a directory, Link a symbolic link to Link; otherwise a
	// regular file with Data, or, when Data is empty and Src is set, with
	// the bytes of the file Src (a file in the store, copied).
	Dir  bool   `json:"dir,omitempty"`
	Link string `json:"link,omitempty"`
	Data []byte `json:"data,omitempty"`
	// Src is the path in the store the entry stands for (perms match it),
	// and the file a regular file without Data copies.
	Src string `json:"src,omitempty"`
	// Mode holds the permission bits, sticky bit included (01777 for /tmp).
	Mode int64 `json:"mode,omitempty"`
	// UID and GID own the entry; Uname and Gname, when set, name them.
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
	Uname string `json:"uname,omitempty"`
	Gname string `json:"gname,omitempty"`
}

// Copies tells whether e is a regular file copied from Src.
func (e Entry) Copies() bool {
	return !e.Dir && e.Link == "" && len(e.Data) == 0 && e.Src != ""
}

// WriteEntriesTar writes the uncompressed layer holding entries to w, sorted
// by path, with the parent directories they lack (root's, mode 0755).
func WriteEntriesTar(ctx context.Context, w io.Writer, entries []Entry) (Stats, error) {
	t := &tarWriter{ctx: ctx, tw: tar.NewWriter(w), buf: make([]byte, 256*1024)}
	if err := t.entries(entries, nil); err != nil {
		return t.stats, err
	}
	if err := t.tw.Close(); err != nil {
		return t.stats, fmt.Errorf("finish tar: %w", err)
	}
	return t.stats, nil
}

// entries writes entries, sorted by path, with the parent directories they
// lack but those in written (already in the layer).
func (t *tarWriter) entries(entries []Entry, written map[string]bool) error {
	byPath := map[string]Entry{}
	for _, e := range entries {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
			return fmt.Errorf("layer entry %q is not a clean absolute path", e.Path)
		}
		if _, dup := byPath[e.Path]; dup || written[e.Path] {
			return fmt.Errorf("layer entry %s is given twice", e.Path)
		}
		if e.Dir && len(e.Data) > 0 {
			return fmt.Errorf("layer entry %s is a directory with contents", e.Path)
		}
		if e.Link != "" && (e.Dir || len(e.Data) > 0) {
			return fmt.Errorf("layer entry %s is a symlink with contents", e.Path)
		}
		byPath[e.Path] = e
	}
	for _, e := range entries {
		for dir := path.Dir(e.Path); dir != "/"; dir = path.Dir(dir) {
			if written[dir] {
				continue
			}
			parent, ok := byPath[dir]
			if !ok {
				byPath[dir] = Entry{Path: dir, Dir: true, Mode: 0o755}
			} else if !parent.Dir || parent.Link != "" {
				return fmt.Errorf("layer entry %s is inside %s, which is a file", e.Path, dir)
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		if err := t.entry(byPath[p]); err != nil {
			return err
		}
	}
	return nil
}

// entry writes one entry, mtime 1.
func (t *tarWriter) entry(e Entry) error {
	name := strings.TrimPrefix(e.Path, "/")
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: e.Mode, Size: int64(len(e.Data)), Uid: e.UID, Gid: e.GID,
		Uname: e.Uname, Gname: e.Gname, ModTime: time.Unix(modTime, 0)}
	var src *os.File
	switch {
	case e.Dir:
		h.Typeflag, h.Name, h.Size = tar.TypeDir, name+"/", 0
		t.stats.Dirs++
	case e.Link != "":
		h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Link, 0o777
		t.stats.Symlinks++
	case e.Copies():
		f, err := os.OpenFile(e.Src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return fmt.Errorf("layer entry %s: %w", e.Path, err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("layer entry %s: %w", e.Path, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("layer entry %s: %s is not a regular file", e.Path, e.Src)
		}
		h.Size = fi.Size()
		src = f
		t.stats.Files++
		t.stats.Bytes += h.Size
	default:
		t.stats.Files++
		t.stats.Bytes += int64(len(e.Data))
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("tar header for %s: %w", h.Name, err)
	}
	if src != nil {
		n, err := io.CopyBuffer(t.tw, struct{ io.Reader }{src}, t.buf)
		if err != nil {
			return fmt.Errorf("tar entry %s (%s): %w", e.Path, e.Src, err)
		}
		if n != h.Size {
			return fmt.Errorf("read %s: changed while it was read: %d bytes, then %d", e.Src, h.Size, n)
		}
		return nil
	}
	if _, err := t.tw.Write(e.Data); err != nil {
		return fmt.Errorf("tar entry %s: %w", e.Path, err)
	}
	return nil
}

// WriteEntries writes the layer holding entries to w, compressed with c,
// and describes it.
func WriteEntries(ctx context.Context, w io.Writer, entries []Entry, c Compression) (Layer, error) {
	return compressed(w, c, nil, func(tw io.Writer) (Stats, error) {
		return WriteEntriesTar(ctx, tw, entries)
	})
}

// WriteTarFile writes the layer whose uncompressed tar is the file tarPath
// (a layer made elsewhere: the customisation layer that the shell
// arguments of dockerTools' functions make, with the owners fakeroot
// recorded) to w, compressed with c, and describes it. The tar is copied
// as it is.
func WriteTarFile(ctx context.Context, w io.Writer, tarPath string, c Compression) (Layer, error) {
	return compressed(w, c, nil, func(tw io.Writer) (Stats, error) {
		return CopyTarFile(ctx, tw, tarPath)
	})
}

// CopyTarFile copies the tar file tarPath to w, checking that it is a tar
// (each header readable), and counts its entries.
func CopyTarFile(ctx context.Context, w io.Writer, tarPath string) (Stats, error) {
	var st Stats
	f, err := os.OpenFile(tarPath, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return st, fmt.Errorf("layer tar: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(io.TeeReader(f, w))
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("layer tar %s: %w", tarPath, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			st.Dirs++
		case tar.TypeSymlink:
			st.Symlinks++
		default:
			st.Files++
			st.Bytes += h.Size
		}
	}
	// The end-of-archive blocks and padding the reader did not consume.
	if _, err := io.Copy(w, f); err != nil {
		return st, fmt.Errorf("layer tar %s: %w", tarPath, err)
	}
	return st, nil
}
