package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/flatten"
)

// WriteBase writes the base image's file system, the tree t, under dir,
// beneath what dir already holds, as overlayfs shows a lower layer under
// an upper one: a name dir has wins (a directory of both merges, their
// entries under it too; anything else hides the base's, whatever it
// holds). What needs root is returned, as WriteTree's, as a shell script
// to run in dir under fakeroot: `mknod` for devices, `chown -h` for the
// entries not owned by root, `chmod` for the modes the build user cannot
// set (setuid, setgid, sticky) or would lock itself out with.
// Hard-linked files of the base stay linked; extended attributes are
// not written.
func WriteBase(t *flatten.Tree, dir string) ([]byte, error) {
	type dirMode struct {
		path string
		mode os.FileMode
	}
	var dirs []dirMode
	hidden := map[string]bool{}
	written := map[string]bool{}
	owners := map[[2]int][]string{}
	modes := map[int64][]string{}
	var mknods []string
	err := t.Walk(func(e *flatten.Entry) error {
		if e.Name == "" {
			return nil
		}
		if parent := filepath.Dir(e.Name); parent != "." && hidden[parent] {
			hidden[e.Name] = true
			return nil
		}
		p := filepath.Join(dir, e.Name)
		if fi, err := os.Lstat(p); err == nil {
			if !(fi.IsDir() && e.Type == tar.TypeDir) {
				hidden[e.Name] = true
			}
			return nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		owned := int64(0o600)
		if e.Type == tar.TypeDir {
			owned = 0o700
		}
		mode := e.Mode & 0o777
		if e.Type != tar.TypeSymlink && (e.Mode&owned != owned || e.Mode&0o7000 != 0) {
			modes[e.Mode] = append(modes[e.Mode], e.Name)
			mode |= owned
		}
		switch e.Type {
		case tar.TypeDir:
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dirMode{p, os.FileMode(mode)})
		case tar.TypeSymlink:
			if err := os.Symlink(e.Linkname, p); err != nil {
				return err
			}
		case tar.TypeReg:
			if e.LinkTo != "" && written[e.LinkTo] {
				if err := os.Link(filepath.Join(dir, e.LinkTo), p); err != nil {
					return err
				}
				break
			}
			if err := writeBaseFile(p, t.Open(e), os.FileMode(mode)); err != nil {
				return err
			}
		case tar.TypeFifo:
			if err := unix.Mkfifo(p, 0o600); err != nil {
				return err
			}
			if err := os.Chmod(p, os.FileMode(mode)); err != nil {
				return err
			}
		case tar.TypeChar, tar.TypeBlock:
			kind := "c"
			if e.Type == tar.TypeBlock {
				kind = "b"
			}
			mknods = append(mknods, fmt.Sprintf("mknod -m %o -- %s %s %d %d\n", e.Mode&0o777, shellQuote(e.Name), kind, e.Devmajor, e.Devminor))
		default:
			return fmt.Errorf("type %q", e.Type)
		}
		written[e.Name] = true
		if e.UID != 0 || e.GID != 0 {
			k := [2]int{e.UID, e.GID}
			owners[k] = append(owners[k], e.Name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("base image's files: %w", err)
	}
	// Deepest first, so that a read-only directory is complete.
	sort.SliceStable(dirs, func(i, j int) bool { return dirs[i].path > dirs[j].path })
	for _, d := range dirs {
		if err := os.Chmod(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("base image's files: %w", err)
		}
	}
	var script bytes.Buffer
	for _, m := range mknods {
		script.WriteString(m)
	}
	writeChowns(&script, owners)
	ms := make([]int64, 0, len(modes))
	for m := range modes {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i] < ms[j] })
	for _, m := range ms {
		writeLines(&script, fmt.Sprintf("chmod %o --", m), modes[m])
	}
	return script.Bytes(), nil
}

// writeChowns writes `chown -h UID:GID -- PATH...` lines for owners,
// by uid and gid.
func writeChowns(script *bytes.Buffer, owners map[[2]int][]string) {
	keys := make([][2]int, 0, len(owners))
	for k := range owners {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		writeLines(script, fmt.Sprintf("chown -h %d:%d --", k[0], k[1]), owners[k])
	}
}

// writeLines writes the command cmd with paths as its arguments, at most
// maxChownArgs a line.
func writeLines(script *bytes.Buffer, cmd string, paths []string) {
	for len(paths) > 0 {
		n := min(len(paths), maxChownArgs)
		script.WriteString(cmd)
		for _, p := range paths[:n] {
			script.WriteString(" " + shellQuote(p))
		}
		script.WriteString("\n")
		paths = paths[n:]
	}
}

// writeBaseFile writes a regular file of the base image at p.
func writeBaseFile(p string, r io.Reader, mode os.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Chmod(p, mode)
}
