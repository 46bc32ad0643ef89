// Package flatten applies an image's layers, in order, into one file
// system, as Docker and containerd apply them: a layer's whiteouts
// (".wh.NAME") remove NAME of the lower layers, an opaque whiteout
// (".wh..wh..opq") empties its directory of what the lower layers put
// there, then the layer's entries are added, a non-directory replacing
// what was at its name, a directory over a directory taking its
// metadata and keeping its children. Names resolve through the tree's
// symbolic links as they would in a chroot of the image: a link never
// leads outside the root.
//
// The tree is held in memory (names, owners, modes, link targets) and
// the files' data in one spool file. Layers are hostile input: names
// with "..", hard links to what is not in the image, more entries or
// bytes than Limits allow are refused, each with one error naming the
// entry.
package flatten

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/oci-builder/oci-builder/pkg/outside"
)

// Limits bound what Apply accepts of hostile layers.
type Limits struct {
	// MaxEntries bounds the entries read, over every layer.
	MaxEntries int
	// MaxBytes bounds the files' data read, over every layer.
	MaxBytes int64
	// MaxMetadata bounds what the tree holds in memory of the entries
	// read, over every layer: their names, link targets and extended
	// attributes (a PAX header of 1 MiB each compresses to a few bytes).
	MaxMetadata int64
}

// DefaultLimits are generous for real images: 4 Mi entries, 64 GiB of
// data, 1 GiB of names, link targets and extended attributes.
var DefaultLimits = Limits{MaxEntries: 4 << 20, MaxBytes: 64 << 30, MaxMetadata: 1 << 30}

// maxLinks bounds the symbolic links followed resolving one name
// (Linux's MAXSYMLINKS).
const maxLinks = 40

// Entry is a file of the tree.
type Entry struct {
	// Name is the path below the root, without a leading "/" ("" for
	// the root itself).
	Name string
	// Type is a tar type flag: tar.TypeReg, TypeDir, TypeSymlink,
	// TypeChar, TypeBlock or TypeFifo.
	Type byte
	// Mode holds the permission bits with setuid, setgid and sticky
	// (07777).
	Mode     int64
	UID, GID int
	ModTime  time.Time
	// Linkname is a symbolic link's target.
	Linkname           string
	Devmajor, Devminor int64
	// Size and Digest are a regular file's data's.
	Size   int64
	Digest digest.Digest
	// Xattrs are the entry's extended attributes (PAX SCHILY.xattr.).
	Xattrs map[string]string
	// LinkTo, set by Walk, names an earlier entry of the same file (a
	// hard link).
	LinkTo string

	ino *inode
}

// inode is a file's identity: the entries of one hard-linked file share
// it.
type inode struct {
	off int64 // the data's offset in the spool
}

// node is an entry of the tree and, for a directory, its children.
type node struct {
	e        Entry
	parent   *node
	children map[string]*node
}

// Tree is an image's file system, its layers applied in order.
type Tree struct {
	root    *node
	spool   *os.File
	spooled int64
	entries int
	meta    int64
	limits  Limits
}

// New makes an empty tree (the root a directory, 0755, owned by root)
// whose files' data spool in a temporary file in dir.
func New(dir string, limits Limits) (*Tree, error) {
	f, err := os.CreateTemp(dir, "flatten-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	root := &node{e: Entry{Type: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}, children: map[string]*node{}}
	return &Tree{root: root, spool: f, limits: limits}, nil
}

// Close removes the spool.
func (t *Tree) Close() error {
	err := t.spool.Close()
	if rerr := os.Remove(t.spool.Name()); err == nil {
		err = rerr
	}
	return err
}

// pending is an entry of the layer being applied.
type pending struct {
	name string
	hdr  *tar.Header
	off  int64
	sum  digest.Digest
}

// Apply applies one layer, the uncompressed tar r: its whiteouts remove
// what the lower layers have, then its entries are added in order.
func (t *Tree) Apply(r io.Reader) error {
	tr := tar.NewReader(r)
	var whiteouts, opaque []string
	var adds []pending
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not a valid tar: %w", err)
		}
		t.entries++
		if t.entries > t.limits.MaxEntries {
			return fmt.Errorf("more than %d entries: refused as absurd", t.limits.MaxEntries)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		t.meta += int64(len(hdr.Name) + len(hdr.Linkname))
		for k, v := range hdr.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				t.meta += int64(len(k) + len(v))
			}
		}
		if t.meta > t.limits.MaxMetadata {
			return fmt.Errorf("entry %.64q: the layers' names, link targets and extended attributes pass %d bytes, refused as absurd", hdr.Name, t.limits.MaxMetadata)
		}
		name, wh, err := outside.CheckEntry(hdr)
		if err != nil {
			return err
		}
		switch wh {
		case outside.WhiteoutOpaque:
			opaque = append(opaque, name)
			continue
		case outside.WhiteoutName:
			whiteouts = append(whiteouts, name)
			continue
		}
		p := pending{name: name, hdr: hdr}
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeGNUSparse {
			hdr.Typeflag = tar.TypeReg
			if p.off, p.sum, err = t.spoolData(tr, hdr); err != nil {
				return err
			}
		}
		adds = append(adds, p)
	}
	// What follows the tar's end is read too: the layer's reader may
	// check the blob's digest at its end.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	for _, d := range opaque {
		if n, err := t.lookup(d, true); err == nil && n.children != nil {
			n.children = map[string]*node{}
		}
	}
	for _, w := range whiteouts {
		dir, base := path.Split(w)
		if n, err := t.lookup(strings.TrimSuffix(dir, "/"), true); err == nil && n.children != nil {
			delete(n.children, base)
		}
	}
	for _, p := range adds {
		if err := t.add(p); err != nil {
			return err
		}
	}
	return nil
}

// spoolData copies a regular file's data to the spool.
func (t *Tree) spoolData(tr *tar.Reader, hdr *tar.Header) (int64, digest.Digest, error) {
	if hdr.Size < 0 || hdr.Size > t.limits.MaxBytes-t.spooled {
		return 0, "", fmt.Errorf("entry %q is %d bytes: the image's files would pass %d bytes, refused as absurd", hdr.Name, hdr.Size, t.limits.MaxBytes)
	}
	off := t.spooled
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(t.spool, h), tr)
	if err != nil {
		return 0, "", fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	if n != hdr.Size {
		return 0, "", fmt.Errorf("entry %q: %d bytes of data, its header says %d", hdr.Name, n, hdr.Size)
	}
	t.spooled += n
	return off, digest.NewDigest(digest.SHA256, h), nil
}

// errNotFound is lookup's error for a name not in the tree.
var errNotFound = errors.New("not in the image")

// lookup finds the node at name, following symbolic links in its
// directories (and, with follow false, not in its last component) within
// the root.
func (t *Tree) lookup(name string, follow bool) (*node, error) {
	return t.walk(t.root, name, follow, false, new(int))
}

// walk resolves name from the directory cur; with create, missing
// directories are made (0755, root's), as Docker makes a layer entry's
// missing parents.
func (t *Tree) walk(cur *node, name string, follow, create bool, links *int) (*node, error) {
	comps := strings.Split(name, "/")
	for i, c := range comps {
		last := i == len(comps)-1
		switch c {
		case "", ".":
			continue
		case "..":
			if cur.parent != nil {
				cur = cur.parent
			}
			continue
		}
		if cur.children == nil {
			return nil, fmt.Errorf("%s is not a directory", entryName(cur))
		}
		next, ok := cur.children[c]
		if !ok {
			if !create {
				return nil, errNotFound
			}
			next = &node{e: Entry{Type: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}, parent: cur, children: map[string]*node{}}
			cur.children[c] = next
		}
		if next.e.Type == tar.TypeSymlink && (!last || follow) {
			*links++
			if *links > maxLinks {
				return nil, fmt.Errorf("more than %d symbolic links to follow", maxLinks)
			}
			from := cur
			if strings.HasPrefix(next.e.Linkname, "/") {
				from = t.root
			}
			target, err := t.walk(from, next.e.Linkname, true, create, links)
			if err != nil {
				return nil, err
			}
			next = target
		}
		cur = next
	}
	return cur, nil
}

// entryName is n's name below the root, "/" for the root.
func entryName(n *node) string {
	var parts []string
	for ; n.parent != nil; n = n.parent {
		for k, c := range n.parent.children {
			if c == n {
				parts = append(parts, k)
				break
			}
		}
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "/" + strings.Join(parts, "/")
}

// add adds one entry of a layer.
func (t *Tree) add(p pending) error {
	hdr := p.hdr
	e := Entry{
		Type:     hdr.Typeflag,
		Mode:     hdr.Mode & 0o7777,
		UID:      hdr.Uid,
		GID:      hdr.Gid,
		ModTime:  hdr.ModTime.Truncate(time.Second),
		Linkname: hdr.Linkname,
		Devmajor: hdr.Devmajor,
		Devminor: hdr.Devminor,
		Size:     hdr.Size,
		Digest:   p.sum,
		ino:      &inode{off: p.off},
	}
	for k, v := range hdr.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[x] = v
		}
	}
	if e.Type != tar.TypeReg {
		e.Size, e.Digest = 0, ""
	}
	if e.Type != tar.TypeSymlink {
		e.Linkname = ""
	}
	if p.name == "" { // a directory: outside.CheckEntry refuses any other root
		t.root.e = e
		return nil
	}
	if e.Type == tar.TypeLink {
		target, _ := outside.EntryName(hdr.Linkname)
		tn, err := t.lookup(target, false)
		if err != nil {
			return fmt.Errorf("hard link %q: target %q: %w", hdr.Name, hdr.Linkname, err)
		}
		if tn.e.Type == tar.TypeDir {
			return fmt.Errorf("hard link %q: target %q is a directory", hdr.Name, hdr.Linkname)
		}
		e = tn.e
	}
	dir, base := path.Split(p.name)
	parent, err := t.walk(t.root, strings.TrimSuffix(dir, "/"), true, true, new(int))
	if err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	if parent.children == nil {
		return fmt.Errorf("entry %q: %s is not a directory", hdr.Name, entryName(parent))
	}
	if old, ok := parent.children[base]; ok && old.e.Type == tar.TypeDir && e.Type == tar.TypeDir {
		old.e = e
		return nil
	}
	n := &node{e: e, parent: parent}
	if e.Type == tar.TypeDir {
		n.children = map[string]*node{}
	}
	parent.children[base] = n
	return nil
}

// Walk calls fn for every entry of the tree, the root first, then by
// name (a directory before what it holds), Name set; the second and
// later names of a hard-linked file have LinkTo set to the first.
func (t *Tree) Walk(fn func(e *Entry) error) error {
	first := map[*inode]string{}
	var visit func(n *node, name string) error
	visit = func(n *node, name string) error {
		e := n.e
		e.Name = name
		if e.Type != tar.TypeDir {
			if f, ok := first[e.ino]; ok {
				e.LinkTo = f
			} else {
				first[e.ino] = name
			}
		}
		if err := fn(&e); err != nil {
			return err
		}
		names := make([]string, 0, len(n.children))
		for k := range n.children {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if err := visit(n.children[k], path.Join(name, k)); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(t.root, "")
}

// Open reads a regular file's data.
func (t *Tree) Open(e *Entry) io.Reader {
	return io.NewSectionReader(t.spool, e.ino.off, e.Size)
}

// WriteTar writes the tree as one tar to w, as `tar -C ROOT -cpf - .`
// names it: "./" for the root, "./NAME" for the others ("./NAME/" for a
// directory), numeric owners, the layers' modes and times, hard links
// kept, no whiteouts.
func (t *Tree) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	err := t.Walk(func(e *Entry) error {
		hdr := Header(e)
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg && e.Size > 0 {
			if _, err := io.Copy(tw, t.Open(e)); err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// Header is the tar header of e, named "./NAME" ("./NAME/" for a
// directory, "./" for the root).
func Header(e *Entry) *tar.Header {
	name := "./" + e.Name
	if e.Type == tar.TypeDir && e.Name != "" {
		name += "/"
	}
	hdr := &tar.Header{
		Name:     name,
		Typeflag: e.Type,
		Mode:     e.Mode,
		Uid:      e.UID,
		Gid:      e.GID,
		ModTime:  e.ModTime,
		Linkname: e.Linkname,
		Devmajor: e.Devmajor,
		Devminor: e.Devminor,
	}
	if e.Type == tar.TypeReg {
		hdr.Size = e.Size
	}
	if e.LinkTo != "" {
		hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, "./"+e.LinkTo, 0
	}
	if len(e.Xattrs) > 0 {
		hdr.PAXRecords = map[string]string{}
		for k, v := range e.Xattrs {
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	return hdr
}
