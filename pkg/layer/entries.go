package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// Entry is a directory or a regular file that a layer holds besides store
// paths: /etc/passwd, a home directory, /tmp.
type Entry struct {
	// Path is absolute, as seen in the container.
	Path string `json:"path"`
	// Dir makes a directory, Link a symbolic link to Link; otherwise Data
	// is a regular file's contents.
	Dir  bool   `json:"dir,omitempty"`
	Link string `json:"link,omitempty"`
	Data []byte `json:"data,omitempty"`
	// Mode holds the permission bits, sticky bit included (01777 for /tmp).
	Mode int64 `json:"mode,omitempty"`
	// UID and GID own the entry.
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
}

// WriteEntriesTar writes the uncompressed layer holding entries to w, sorted
// by path, with the parent directories they lack (root's, mode 0755).
func WriteEntriesTar(ctx context.Context, w io.Writer, entries []Entry) (Stats, error) {
	byPath := map[string]Entry{}
	for _, e := range entries {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
			return Stats{}, fmt.Errorf("layer entry %q is not a clean absolute path", e.Path)
		}
		if _, dup := byPath[e.Path]; dup {
			return Stats{}, fmt.Errorf("layer entry %s is given twice", e.Path)
		}
		if e.Dir && len(e.Data) > 0 {
			return Stats{}, fmt.Errorf("layer entry %s is a directory with contents", e.Path)
		}
		if e.Link != "" && (e.Dir || len(e.Data) > 0) {
			return Stats{}, fmt.Errorf("layer entry %s is a symlink with contents", e.Path)
		}
		byPath[e.Path] = e
	}
	for _, e := range entries {
		for dir := path.Dir(e.Path); dir != "/"; dir = path.Dir(dir) {
			parent, ok := byPath[dir]
			if !ok {
				byPath[dir] = Entry{Path: dir, Dir: true, Mode: 0o755}
			} else if !parent.Dir || parent.Link != "" {
				return Stats{}, fmt.Errorf("layer entry %s is inside %s, which is a file", e.Path, dir)
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	t := &tarWriter{ctx: ctx, tw: tar.NewWriter(w)}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return t.stats, err
		}
		e := byPath[p]
		name := strings.TrimPrefix(p, "/")
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: e.Mode, Size: int64(len(e.Data)), Uid: e.UID, Gid: e.GID}
		switch {
		case e.Dir:
			h.Typeflag, h.Name, h.Size = tar.TypeDir, name+"/", 0
			t.stats.Dirs++
		case e.Link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Link, 0o777
			t.stats.Symlinks++
		default:
			t.stats.Files++
			t.stats.Bytes += int64(len(e.Data))
		}
		if err := t.header(h); err != nil {
			return t.stats, err
		}
		if _, err := t.tw.Write(e.Data); err != nil {
			return t.stats, fmt.Errorf("tar entry %s: %w", p, err)
		}
	}
	if err := t.tw.Close(); err != nil {
		return t.stats, fmt.Errorf("finish tar: %w", err)
	}
	return t.stats, nil
}

// WriteEntries writes the layer holding entries to w, compressed with c,
// and describes it.
func WriteEntries(ctx context.Context, w io.Writer, entries []Entry, c Compression) (Layer, error) {
	return compressed(w, c, nil, func(tw io.Writer) (Stats, error) {
		return WriteEntriesTar(ctx, tw, entries)
	})
}
