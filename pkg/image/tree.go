package image

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// TreeSpec is the customisation layer of a dockerTools-style image whose
// shell arguments (extraCommands, fakeRootCommands, runAsRoot) run on it:
// nix/oci-tools/docker.nix's shell layer derivation passes it to
// `oci-builder customisation-tree`, which writes the tree the commands
// then change (WriteTree). It is the customisation layer the image would
// have without them (Compat, Options.Dirs and Options.Perms), so that
// adding a shell argument changes nothing else of the layer.
type TreeSpec struct {
	// Contents are linked at / (Compat.Contents).
	Contents []string `json:"contents,omitempty"`
	// CopyToRoot are copied at / (Compat.CopyToRoot), owned by UID and
	// GID.
	CopyToRoot           []string `json:"copyToRoot,omitempty"`
	KeepContentsDirlinks bool     `json:"keepContentsDirlinks,omitempty"`
	UID                  int      `json:"uid,omitempty"`
	GID                  int      `json:"gid,omitempty"`
	// Dirs and Perms are the image's (Options.Dirs, Options.Perms).
	Dirs  []Dir        `json:"dirs,omitempty"`
	Perms []layer.Perm `json:"perms,omitempty"`
}

// DecodeTreeSpec reads a TreeSpec from JSON, unknown keys refused.
func DecodeTreeSpec(data []byte) (*TreeSpec, error) {
	var s TreeSpec
	if err := strictjson.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("customisation tree: %w", strictjson.DescribeOptionError(err))
	}
	return &s, nil
}

// Customisation is the layer the spec describes, its dirs and perms
// checked.
func (s *TreeSpec) Customisation() (*Customisation, error) {
	if err := layer.CheckPerms(s.Perms); err != nil {
		return nil, err
	}
	c := &Customisation{Contents: s.Contents, Copy: s.CopyToRoot, KeepDirlinks: s.KeepContentsDirlinks,
		UID: s.UID, GID: s.GID, Perms: s.Perms}
	var err error
	if c.Extra, err = dirEntries(s.Dirs); err != nil {
		return nil, err
	}
	return c, nil
}

// maxChownArgs bounds the paths of one chown line of an owners script.
const maxChownArgs = 100

// WriteTree writes the entries of c under dir (created, or empty), as
// the build user can: directories, symbolic links and files (copied from
// the store, or their data) with their modes, sticky bits included.
// What needs root is returned as a shell script to run in dir under
// fakeroot, which then records it: `chown -h UID:GID -- PATH...` for
// every entry not owned by root, and `chmod MODE -- PATH` for the
// setuid and setgid bits (a Nix build may not set them) and for the
// entries their owner may not write (store files, read-only
// directories), which are written writable by their owner, as root
// finds them (fakeroot keeps them so on disk). Names
// (Uname, Gname) are not kept: the layer's tar has numeric owners.
func WriteTree(c *Customisation, dir string) ([]byte, error) {
	entries, err := c.Entries()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("customisation tree: %w", err)
	}
	if list, err := os.ReadDir(dir); err != nil || len(list) > 0 {
		if err == nil {
			err = fmt.Errorf("%s is not empty", dir)
		}
		return nil, fmt.Errorf("customisation tree: %w", err)
	}
	type dirMode struct {
		path string
		mode os.FileMode
	}
	var dirs []dirMode
	owners := map[[2]int][]string{}
	var special []string
	for _, e := range entries {
		rel := strings.TrimPrefix(e.Path, "/")
		if rel == "" || strings.HasPrefix(rel, "../") || rel == ".." || filepath.Clean(rel) != rel {
			return nil, fmt.Errorf("customisation tree: entry %q is not a clean path below /", e.Path)
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("customisation tree: %w", err)
		}
		mode := os.FileMode(e.Mode & 0o777)
		if e.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		// What root could write to, the build user can too: the owner's
		// bits on disk, the entry's mode recorded by fakeroot (chmod
		// below), as the shell arguments run as root over the tree.
		owned := os.FileMode(0o600)
		if e.Dir {
			owned = 0o700
		}
		if e.Link == "" && mode&owned != owned {
			special = append(special, fmt.Sprintf("chmod %o -- %s\n", e.Mode&0o7777, shellQuote(rel)))
			mode |= owned
		}
		switch {
		case e.Dir:
			// Writable until every entry is in; its mode comes last.
			if err := os.Mkdir(p, 0o700); err != nil && !os.IsExist(err) {
				return nil, fmt.Errorf("customisation tree: %w", err)
			}
			dirs = append(dirs, dirMode{p, mode})
		case e.Link != "":
			if err := os.Symlink(e.Link, p); err != nil {
				return nil, fmt.Errorf("customisation tree: %w", err)
			}
		default:
			if err := writeTreeFile(p, e, mode); err != nil {
				return nil, fmt.Errorf("customisation tree: %s: %w", e.Path, err)
			}
		}
		if e.UID != 0 || e.GID != 0 {
			k := [2]int{e.UID, e.GID}
			owners[k] = append(owners[k], rel)
		}
		if e.Mode&0o6000 != 0 && e.Link == "" && mode&owned == owned {
			special = append(special, fmt.Sprintf("chmod %o -- %s\n", e.Mode&0o7777, shellQuote(rel)))
		}
	}
	// Deepest first, so that a read-only directory is complete.
	sort.SliceStable(dirs, func(i, j int) bool { return dirs[i].path > dirs[j].path })
	for _, d := range dirs {
		if err := os.Chmod(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("customisation tree: %w", err)
		}
	}
	var script bytes.Buffer
	writeChowns(&script, owners)
	for _, s := range special {
		script.WriteString(s)
	}
	return script.Bytes(), nil
}

// writeTreeFile writes the regular file entry e at p with mode.
func writeTreeFile(p string, e layer.Entry, mode os.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if len(e.Data) > 0 || e.Src == "" {
		_, err = f.Write(e.Data)
	} else {
		var src *os.File
		if src, err = os.Open(e.Src); err == nil {
			_, err = io.Copy(f, src)
			src.Close()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+@=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
