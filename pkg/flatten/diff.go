package flatten

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/oci-builder/oci-builder/pkg/outside"
)

// Get is the entry at name, a name of the tree as Walk gives it (its
// directories are not followed as symbolic links).
func (t *Tree) Get(name string) (*Entry, bool) {
	n := t.root
	if name != "" {
		for _, c := range strings.Split(name, "/") {
			next, ok := n.children[c]
			if !ok {
				return nil, false
			}
			n = next
		}
	}
	e := n.e
	e.Name = name
	return &e, true
}

// DiffStats counts what Diff wrote.
type DiffStats struct {
	// Changed are the entries new or changed, Parents the unchanged
	// directories written as parents of those, Whiteouts the entries of
	// the tree removed, Unchanged those left out.
	Changed, Parents, Whiteouts, Unchanged int
}

// upperEntry is what Diff's first pass keeps of an entry of the upper
// tar.
type upperEntry struct {
	name    string
	dir     bool
	changed bool
}

// Diff writes to w, as a layer to put over the tree, the difference
// between the tree and the file system the tar file upper holds (written
// from a directory, names "./NAME", hard links as files): upper's
// entries that the tree does not have, or has with another type, mode,
// owner, data or link target (times are not compared), the directories
// holding them, and a whiteout ".wh.NAME" for each name of the tree
// that upper removed (the topmost one only), right after its
// directory's entry. Entries are written as upper has them, in its
// order.
func (t *Tree) Diff(upper string, w io.Writer) (DiffStats, error) {
	var st DiffStats
	var ups []upperEntry
	present := map[string]bool{} // name: a directory
	err := readTar(upper, func(hdr *tar.Header, r io.Reader) error {
		name, err := outside.EntryName(hdr.Name)
		if err != nil {
			return err
		}
		u := upperEntry{name: name, dir: hdr.Typeflag == tar.TypeDir}
		base, ok := t.Get(name)
		u.changed = !ok || !same(base, hdr)
		if ok && !u.changed && hdr.Typeflag == tar.TypeReg {
			h := sha256.New()
			if _, err := io.Copy(h, r); err != nil {
				return err
			}
			u.changed = digest.NewDigest(digest.SHA256, h) != base.Digest
		}
		present[name] = u.dir
		ups = append(ups, u)
		return nil
	})
	if err != nil {
		return st, err
	}
	needed := map[string]bool{}
	need := func(name string) {
		for !needed[name] {
			needed[name] = true
			if name == "" {
				return
			}
			name = parentOf(name)
		}
	}
	whiteouts := map[string][]string{}
	err = t.Walk(func(e *Entry) error {
		if e.Name == "" {
			return nil
		}
		if _, ok := present[e.Name]; ok {
			return nil
		}
		dir := parentOf(e.Name)
		if isDir, ok := present[dir]; ok && isDir {
			whiteouts[dir] = append(whiteouts[dir], path.Base(e.Name))
			need(dir)
			st.Whiteouts++
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	for _, u := range ups {
		if u.changed {
			need(u.name)
			st.Changed++
		}
	}
	for _, u := range ups {
		if !u.changed {
			if needed[u.name] {
				st.Parents++
			} else {
				st.Unchanged++
			}
		}
	}
	tw := tar.NewWriter(w)
	err = readTar(upper, func(hdr *tar.Header, r io.Reader) error {
		name, _ := outside.EntryName(hdr.Name)
		if !needed[name] {
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, r); err != nil {
			return err
		}
		for _, wh := range whiteouts[name] {
			prefix := strings.TrimSuffix(hdr.Name, "/") + "/"
			if err := tw.WriteHeader(&tar.Header{Name: prefix + ".wh." + wh, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: time.Unix(1, 0), Format: hdr.Format}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	return st, tw.Close()
}

// parentOf is the name of the directory holding name ("" for the root).
func parentOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

// same tells whether the upper tar's entry hdr has e's type, mode (but
// a symbolic link's), owners, link target and size (a regular file's data are compared
// apart).
func same(e *Entry, hdr *tar.Header) bool {
	typ := hdr.Typeflag
	if typ == '\x00' {
		typ = tar.TypeReg
	}
	// A symbolic link's mode means nothing on Linux (a tree on disk
	// has 0777, layers may record another).
	if typ != e.Type || (typ != tar.TypeSymlink && hdr.Mode&0o7777 != e.Mode) || hdr.Uid != e.UID || hdr.Gid != e.GID {
		return false
	}
	switch typ {
	case tar.TypeReg:
		return hdr.Size == e.Size
	case tar.TypeSymlink:
		return hdr.Linkname == e.Linkname
	case tar.TypeChar, tar.TypeBlock:
		return hdr.Devmajor == e.Devmajor && hdr.Devminor == e.Devminor
	}
	return true
}

// readTar calls fn for each entry of the tar file p.
func readTar(p string, fn func(hdr *tar.Header, r io.Reader) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: not a valid tar: %w", p, err)
		}
		if hdr.Typeflag == tar.TypeLink {
			return fmt.Errorf("%s: entry %q is a hard link: write the tar with --hard-dereference", p, hdr.Name)
		}
		if err := fn(hdr, tr); err != nil {
			return fmt.Errorf("%s: entry %q: %w", p, hdr.Name, err)
		}
	}
}
