package nar_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"sort"
	"testing"

	gonar "github.com/nix-community/go-nix/pkg/nar"

	"github.com/oci-builder/oci-builder/pkg/nar"
)

// node is a tree generated from fuzz input.
type node struct {
	name       string
	kind       byte // 'd', 'f', 'l'
	executable bool
	contents   []byte
	target     string
	children   []*node
}

// treeReader turns bytes into a tree, deterministically; running out of
// bytes gives zeros, so every input makes some tree.
type treeReader struct{ data []byte }

func (r *treeReader) byte() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

func (r *treeReader) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = r.byte()
	}
	return out
}

func (r *treeReader) name() string {
	b := r.bytes(int(r.byte()%12) + 1)
	for i, c := range b {
		if c == '/' || c == 0 {
			b[i] = 'x'
		}
	}
	// "." and ".." cannot be entries. ")" can, and Nix handles it (see
	// awkwardTree), but go-nix's reader, the oracle here, takes an entry
	// named ")" for the end of its directory.
	if s := string(b); s == "." || s == ".." || s == ")" {
		return s + "x"
	}
	return string(b)
}

func (r *treeReader) node(name string, depth int) *node {
	kinds := "dfl"
	if depth > 4 {
		kinds = "fl"
	}
	n := &node{name: name, kind: kinds[int(r.byte())%len(kinds)]}
	switch n.kind {
	case 'f':
		flags := r.byte()
		n.executable = flags&1 != 0
		n.contents = r.bytes(int(r.byte()) % 40)
	case 'l':
		t := r.bytes(int(r.byte()%20) + 1)
		for i, c := range t {
			if c == 0 {
				t[i] = 'x'
			}
		}
		n.target = string(t)
	case 'd':
		seen := map[string]bool{}
		for i := int(r.byte() % 5); i > 0; i-- {
			name := r.name()
			if !seen[name] {
				seen[name] = true
				n.children = append(n.children, r.node(name, depth+1))
			}
		}
		sort.Slice(n.children, func(i, j int) bool { return n.children[i].name < n.children[j].name })
	}
	return n
}

// encode feeds the tree to e in NAR order and lists the go-nix headers it
// stands for.
func encode(t *testing.T, e *nar.Encoder, n *node, path string, headers *[]gonar.Header) {
	t.Helper()
	var err error
	switch n.kind {
	case 'f':
		*headers = append(*headers, gonar.Header{Path: path, Type: gonar.TypeRegular, Size: int64(len(n.contents)), Executable: n.executable})
		if err = e.File(n.name, n.executable, uint64(len(n.contents))); err == nil {
			// Write in two pieces, as a copier would in chunks.
			half := len(n.contents) / 2
			if _, err = e.Write(n.contents[:half]); err == nil {
				_, err = e.Write(n.contents[half:])
			}
		}
	case 'l':
		*headers = append(*headers, gonar.Header{Path: path, Type: gonar.TypeSymlink, LinkTarget: n.target})
		err = e.Symlink(n.name, n.target)
	case 'd':
		*headers = append(*headers, gonar.Header{Path: path, Type: gonar.TypeDirectory})
		if err = e.Directory(n.name); err != nil {
			break
		}
		prefix := path
		if prefix != "/" {
			prefix += "/"
		}
		for _, c := range n.children {
			encode(t, e, c, prefix+c.name, headers)
		}
		err = e.EndDirectory()
	}
	if err != nil {
		t.Fatalf("encoding %q: %v", path, err)
	}
}

// FuzzEncoder serialises trees generated from the input and reads them back
// with go-nix's independent NAR reader: same entries, types, contents,
// executable bits and targets, in the same order; the Hasher agrees with
// hashing the serialisation.
func FuzzEncoder(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x03\x01a\x01\x01\x05hello\x02\x02..\x02\x05../up\x01\x01b\x00\x00"))
	f.Add([]byte("\x01\x01\x07#!/bin/sh"))
	f.Add([]byte("\x02\x04/nix"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &treeReader{data: data}
		root := r.node("", 0)
		var buf bytes.Buffer
		e := nar.NewEncoder(&buf)
		var want []gonar.Header
		encode(t, e, root, "/", &want)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if e.Size() != uint64(buf.Len()) {
			t.Fatalf("Size() = %d, wrote %d", e.Size(), buf.Len())
		}

		h := nar.NewHasher()
		var unused []gonar.Header
		encode(t, h.Encoder, root, "/", &unused)
		sum, err := h.Sum()
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256(buf.Bytes())
		if !bytes.Equal(sum.Hash.Digest(), digest[:]) || sum.Size != uint64(buf.Len()) {
			t.Fatalf("Hasher gives %s (%d bytes), the serialisation hashes to %x (%d bytes)", sum, sum.Size, digest, buf.Len())
		}

		rd, err := gonar.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		contents := map[string][]byte{}
		collect(root, "/", contents)
		for i := 0; ; i++ {
			hdr, err := rd.Next()
			if errors.Is(err, io.EOF) {
				if i != len(want) {
					t.Fatalf("go-nix read %d entries, %d written", i, len(want))
				}
				break
			}
			if err != nil {
				t.Fatalf("go-nix cannot read entry %d: %v", i, err)
			}
			if i >= len(want) || *hdr != want[i] {
				t.Fatalf("entry %d: go-nix read %+v, want %+v", i, hdr, want)
			}
			if hdr.Type == gonar.TypeRegular {
				got, err := io.ReadAll(rd)
				if err != nil || !bytes.Equal(got, contents[hdr.Path]) {
					t.Fatalf("contents of %s: %q, %v; want %q", hdr.Path, got, err, contents[hdr.Path])
				}
			}
		}
	})
}

func collect(n *node, path string, out map[string][]byte) {
	if n.kind == 'f' {
		out[path] = n.contents
	}
	prefix := path
	if prefix != "/" {
		prefix += "/"
	}
	for _, c := range n.children {
		collect(c, prefix+c.name, out)
	}
}
