// Package nar computes the NAR (Nix ARchive) serialisation of store paths
// and its SHA-256, the narHash that Nix records for every valid store path
// and hands to builders in their closure graphs.
//
// An Encoder writes the serialisation from events given in NAR order: the
// root, then, in each directory, the entries sorted by name, a directory's
// entries before the next sibling. A Hasher is an Encoder that only hashes
// and counts. Both take a regular file's contents through Write, so a copier
// can tee what it copies into a Hasher and read each file once. HashPath and
// Verify walk a tree on disk through directory file descriptors, so depth is
// not limited by PATH_MAX and no symlink is followed.
//
// The wire format (length-prefixed, 8-byte padded strings) comes from
// go-nix's wire package. go-nix's own nar.Writer is not used: it works on
// joined paths and takes an entry whose name starts with ".." for a step up
// the tree, so it rejects trees that Nix serialises without complaint.
package nar

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nix-community/go-nix/pkg/wire"
)

// magic starts every NAR.
const magic = "nix-archive-1"

// Encoder writes the NAR serialisation of one tree to an io.Writer.
//
// The first event describes the root and has an empty name: Directory(""),
// File("", ...) or Symlink("", ...). Inside a directory, entries come in
// strictly increasing byte order of their names, each directory's contents
// followed by EndDirectory. After File, exactly size bytes of contents must
// be written with Write before the next event. Close checks that the tree is
// complete. An Encoder must not be used concurrently.
type Encoder struct {
	w countingWriter
	// dirs holds the last entry name of each open directory, the root's
	// first.
	dirs []dirState
	// remain is the number of content bytes the open file still expects,
	// pad its padding; inFile says a file is open.
	inFile      bool
	remain, pad uint64
	started     bool
	done        bool
	err         error
	zeros       [8]byte
}

type dirState struct {
	last    string
	hasLast bool
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: countingWriter{w: w}}
}

// Size returns the number of bytes of serialisation written so far.
func (e *Encoder) Size() uint64 { return e.w.n }

// Write takes contents of the file opened by the last File event.
func (e *Encoder) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if !e.inFile {
		return 0, e.fail(errors.New("contents written outside a regular file"))
	}
	if uint64(len(p)) > e.remain {
		return 0, e.fail(fmt.Errorf("file contents longer than the size given (%d more bytes than expected)", uint64(len(p))-e.remain))
	}
	n, err := e.w.Write(p)
	e.remain -= uint64(n)
	if err != nil {
		return n, e.fail(err)
	}
	return n, nil
}

// Directory opens a directory entry called name (empty for the root). Its
// entries follow, then EndDirectory.
func (e *Encoder) Directory(name string) error {
	if err := e.beginNode(name, "directory"); err != nil {
		return err
	}
	e.dirs = append(e.dirs, dirState{})
	return nil
}

// EndDirectory closes the innermost open directory.
func (e *Encoder) EndDirectory() error {
	if err := e.endFile(); err != nil {
		return err
	}
	if e.done {
		return e.fail(errors.New("NAR already complete"))
	}
	if len(e.dirs) == 0 {
		return e.fail(errors.New("EndDirectory without an open directory"))
	}
	e.dirs = e.dirs[:len(e.dirs)-1]
	return e.endNode()
}

// File opens a regular file entry called name (empty for the root) of size
// bytes; executable records the owner's execute bit, the only mode bit a NAR
// keeps. The contents follow through Write.
func (e *Encoder) File(name string, executable bool, size uint64) error {
	if err := e.beginNode(name, "regular"); err != nil {
		return err
	}
	if executable {
		e.str("executable")
		e.str("")
	}
	e.str("contents")
	e.u64(size)
	if e.err != nil {
		return e.err
	}
	e.inFile = true
	e.remain = size
	e.pad = (8 - size%8) % 8
	return nil
}

// Symlink adds a symbolic link called name (empty for the root) pointing at
// target, which is recorded verbatim.
func (e *Encoder) Symlink(name, target string) error {
	if err := e.beginNode(name, "symlink"); err != nil {
		return err
	}
	e.str("target")
	e.str(target)
	if e.err != nil {
		return e.err
	}
	return e.endNode()
}

// Close finishes the serialisation. The tree must be complete: the root
// given, every directory ended, the last file's contents all written.
func (e *Encoder) Close() error {
	if err := e.endFile(); err != nil {
		return err
	}
	if !e.started {
		return e.fail(errors.New("empty NAR: no root was given"))
	}
	if len(e.dirs) > 0 {
		return e.fail(fmt.Errorf("%d directories not ended", len(e.dirs)))
	}
	return nil
}

// beginNode finishes the open file, checks name against the directory it
// goes in and writes the start of a node of type typ.
func (e *Encoder) beginNode(name, typ string) error {
	if err := e.endFile(); err != nil {
		return err
	}
	if e.done {
		return e.fail(errors.New("NAR already complete"))
	}
	if !e.started {
		if name != "" {
			return e.fail(fmt.Errorf("the root must have an empty name, got %q", name))
		}
		e.started = true
		e.str(magic)
	} else {
		if err := CheckName(name); err != nil {
			return e.fail(err)
		}
		d := &e.dirs[len(e.dirs)-1]
		if d.hasLast && name <= d.last {
			return e.fail(fmt.Errorf("entry %q does not sort after %q: NAR entries must be in strictly increasing order", name, d.last))
		}
		d.last, d.hasLast = name, true
		e.str("entry")
		e.str("(")
		e.str("name")
		e.str(name)
		e.str("node")
	}
	e.str("(")
	e.str("type")
	e.str(typ)
	return e.err
}

// endFile completes the open regular file, if any.
func (e *Encoder) endFile() error {
	if e.err != nil {
		return e.err
	}
	if !e.inFile {
		return nil
	}
	if e.remain != 0 {
		return e.fail(fmt.Errorf("file contents %d bytes shorter than the size given", e.remain))
	}
	e.inFile = false
	if e.pad > 0 {
		e.raw(e.zeros[:e.pad])
	}
	return e.endNode()
}

// endNode closes a node and, below the root, the entry holding it.
func (e *Encoder) endNode() error {
	e.str(")")
	if len(e.dirs) > 0 {
		e.str(")")
	} else if e.err == nil {
		e.done = true
	}
	return e.err
}

// CheckName reports whether name can be a directory entry in a NAR: not
// empty, ".", or "..", and without "/" or NUL bytes. Nix refuses to unpack
// anything else.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("empty entry name")
	case name == "." || name == "..":
		return fmt.Errorf("entry name %q", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("entry name %q contains a slash or NUL byte", name)
	}
	return nil
}

func (e *Encoder) fail(err error) error {
	if e.err == nil {
		e.err = err
	}
	return e.err
}

// str writes a NAR string token.
func (e *Encoder) str(s string) {
	if e.err != nil {
		return
	}
	if err := wire.WriteString(&e.w, s); err != nil {
		e.fail(err)
	}
}

func (e *Encoder) u64(n uint64) {
	if e.err != nil {
		return
	}
	if err := wire.WriteUint64(&e.w, n); err != nil {
		e.fail(err)
	}
}

func (e *Encoder) raw(p []byte) {
	if e.err != nil {
		return
	}
	if _, err := e.w.Write(p); err != nil {
		e.fail(err)
	}
}

type countingWriter struct {
	w io.Writer
	n uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}
