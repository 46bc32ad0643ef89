package image

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oci-builder/oci-builder/pkg/imageconfig"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/layering"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// Compat are the settings of the dockerTools-compatible front end
// (ociTools.buildLayeredImage, streamLayeredImage and the dockerTools
// style of buildImage in nix/oci-tools.nix), which the Nix library passes
// as JSON under "dockerCompat". They are not buildImage options.
//
// Such an image has no /etc layer: its store paths are in at most
// maxLayers - 1 layers, split as dockerTools splits them by default
// (AutoLayers) or by its layeringPipeline, and a customisation layer on top holds the
// contents, the declared directories (Options.Dirs) and the Nix database
// (dockerTools' customisation layer), so that maxLayers counts every
// layer as dockerTools does. In the buildImage style (Single), the image
// has one layer, as dockerTools.buildImage's: copyToRoot copied at / and
// the closure.
type Compat struct {
	// Config, when not nil, is the image configuration's execution
	// parameters, exactly as given (dockerTools' config: Cmd, Entrypoint,
	// Env, WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal,
	// ArgsEscaped, and Docker's Healthcheck, OnBuild and Shell): nothing
	// is derived from the container options.
	Config *imageconfig.Config `json:"config,omitempty"`
	// Contents are store paths whose trees are merged at / in the
	// customisation layer, as dockerTools does with symlinkJoin:
	// directories become directories, everything else a symlink to the
	// store path's file (bin/sh -> /nix/store/...-busybox/bin/sh). The
	// first of the contents that has an entry wins.
	Contents []string `json:"contents,omitempty"`
	// CopyToRoot are store paths whose trees are copied at /, as
	// dockerTools.buildImage does with rsync -a: files are copied,
	// symbolic links kept, and links to directories followed (copied as
	// directories) unless KeepContentsDirlinks. A later one wins.
	CopyToRoot           []string `json:"copyToRoot,omitempty"`
	KeepContentsDirlinks bool     `json:"keepContentsDirlinks,omitempty"`
	// Single makes one layer of the closure and CopyToRoot
	// (dockerTools.buildImage) instead of layers by auto-layer and a
	// customisation layer.
	Single bool `json:"single,omitempty"`
	// TagFromOutput makes the tag the hash part of the output path, as
	// dockerTools' tag defaults to (the builder knows its output path).
	TagFromOutput bool `json:"tagFromOutput,omitempty"`
	// ExcludeStorePaths leaves the closure out of the image: only the
	// customisation layer (dockerTools' includeStorePaths = false).
	ExcludeStorePaths bool `json:"excludeStorePaths,omitempty"`
	// UID, GID, Uname and Gname own the store paths' entries (layered) or
	// the copyToRoot entries (Single), as dockerTools' uid, gid, uname,
	// gname.
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
	Uname string `json:"uname,omitempty"`
	Gname string `json:"gname,omitempty"`
	// MTime is the modification time of the store paths' entries, as
	// ParseTime reads it, or "now"; default 1970-01-01T00:00:01Z
	// (dockerTools' mtime).
	MTime string `json:"mtime,omitempty"`
	// IncludeNixDB puts Nix's database of the image's closure in the
	// customisation layer (dockerTools' includeNixDB): every store path of
	// the closure valid in /nix/var/nix/db, a garbage collector root in
	// /nix/var/nix/gcroots/docker for each of the contents, copyToRoot and
	// the other roots the image was built from, /nix/var/nix owned by UID
	// and GID (see nixDBEntries).
	IncludeNixDB bool `json:"includeNixDB,omitempty"`
	// Debug lists every layer's store paths in the build log
	// (dockerTools' debug).
	Debug bool `json:"debug,omitempty"`
	// ShellLayer, when set, is a store path holding layer.tar: the
	// customisation layer made by a derivation that runs dockerTools'
	// shell arguments (extraCommands, fakeRootCommands under fakeroot,
	// enableFakechroot, runAsRoot) on the contents, with the owners
	// fakeroot recorded. It replaces the customisation layer (its tar is
	// taken as it is, so dirs and perms do not reach it). This is the
	// hook for ociTools with nixpkgs (nix/oci-tools/docker.nix's
	// shellLayer); nothing sets it yet.
	ShellLayer string `json:"shellLayer,omitempty"`
	// LayeringPipeline, when set, is dockerTools' layeringPipeline: the
	// JSON of the Nix list of steps, or a JSON string naming a file that
	// holds it. The builder reads it into Pipeline (LoadPipeline).
	LayeringPipeline json.RawMessage `json:"layeringPipeline,omitempty"`
	// Pipeline, when not nil, groups the store paths into layers instead
	// of popularity (package layering), as dockerTools does with
	// layeringPipeline: its layers, then the customisation layer, whatever
	// maxLayers says (the image still has at most 125 layers).
	Pipeline *layering.Pipeline `json:"-"`
}

// maxPipelineFile bounds the size of a layeringPipeline file.
const maxPipelineFile = 16 << 20

// LoadPipeline parses LayeringPipeline into Pipeline, reading the file it
// names if it is a string (a derivation or path whose output holds the
// JSON, as dockerTools also takes).
func (c *Compat) LoadPipeline() error {
	if len(c.LayeringPipeline) == 0 || string(c.LayeringPipeline) == "null" {
		return nil
	}
	data := []byte(c.LayeringPipeline)
	var file string
	if json.Unmarshal(data, &file) == nil {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("layeringPipeline: %w", err)
		}
		defer f.Close()
		if data, err = io.ReadAll(io.LimitReader(f, maxPipelineFile+1)); err != nil {
			return fmt.Errorf("layeringPipeline: %s: %w", file, err)
		}
		if len(data) > maxPipelineFile {
			return fmt.Errorf("layeringPipeline: %s is larger than %d bytes", file, maxPipelineFile)
		}
	}
	p, err := layering.Parse(data)
	if err != nil {
		if file != "" {
			return fmt.Errorf("layeringPipeline %s: %w", file, err)
		}
		return fmt.Errorf("layeringPipeline: %w", err)
	}
	c.Pipeline = p
	return nil
}

// DecodeCompat reads Compat from JSON, unknown keys refused (the image
// configuration's keys included: only those image-spec and Docker
// define), and checks the configuration's health check.
func DecodeCompat(data []byte) (*Compat, error) {
	var c Compat
	if err := strictjson.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("dockerTools options: %w", strictjson.DescribeOptionError(err))
	}
	if c.Config != nil {
		if err := c.Config.Check(); err != nil {
			return nil, fmt.Errorf("dockerTools options: %w", err)
		}
	}
	return &c, nil
}

// mtime is the store paths' modification time in seconds.
func (c *Compat) mtime() (int64, error) {
	switch c.MTime {
	case "":
		return 1, nil
	case "now":
		return time.Now().Unix(), nil
	}
	t, err := ParseTime(c.MTime)
	if err != nil {
		return 0, fmt.Errorf("mtime: %w (or \"now\")", err)
	}
	if t.Unix() <= 0 {
		return 0, fmt.Errorf("mtime %q is not after 1970-01-01T00:00:00Z", c.MTime)
	}
	return t.Unix(), nil
}

// TagOfOutput is the hash part of the store path out, dockerTools' default
// tag.
func TagOfOutput(out string) string {
	hash, _, _ := strings.Cut(filepath.Base(out), "-")
	return hash
}

// Dir is a directory the image has, with its owner and mode (Options.Dirs):
// /var/lib/app owned by the program's user, /tmp with mode 1777.
type Dir struct {
	// Path is absolute.
	Path string `json:"path"`
	// Mode is octal permission bits; default "0755".
	Mode  string `json:"mode,omitempty"`
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
	Uname string `json:"uname,omitempty"`
	Gname string `json:"gname,omitempty"`
}

// entry is the directory as a layer entry.
func (d Dir) entry() (layer.Entry, error) {
	p := d.Path
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return layer.Entry{}, fmt.Errorf("dirs: %q is not a clean absolute path other than /", d.Path)
	}
	mode := uint64(0o755)
	if d.Mode != "" {
		m, err := strconv.ParseUint(d.Mode, 8, 12)
		if err != nil {
			return layer.Entry{}, fmt.Errorf("dirs: %s: mode %q is not octal permission bits (like \"0755\" or \"1777\")", p, d.Mode)
		}
		mode = m
	}
	if d.UID < 0 || d.GID < 0 {
		return layer.Entry{}, fmt.Errorf("dirs: %s: uid and gid must not be negative", p)
	}
	return layer.Entry{Path: p, Dir: true, Mode: int64(mode), UID: d.UID, GID: d.GID, Uname: d.Uname, Gname: d.Gname}, nil
}

// Customisation is the layer of an image made of entries at / rather
// than store paths: dockerTools' customisation layer (contents linked at
// /), buildImage's copyToRoot (copied at /), declared directories and the
// Nix database. Its entries are read from the store by Entries, so that a
// streamed image's description holds the store paths, not every entry.
type Customisation struct {
	// Contents are linked at / (see Compat.Contents).
	Contents []string `json:"contents,omitempty"`
	// Copy are copied at / (see Compat.CopyToRoot), owned by UID and GID.
	Copy         []string `json:"copy,omitempty"`
	KeepDirlinks bool     `json:"keepDirlinks,omitempty"`
	UID          int      `json:"uid,omitempty"`
	GID          int      `json:"gid,omitempty"`
	Uname        string   `json:"uname,omitempty"`
	Gname        string   `json:"gname,omitempty"`
	// Extra are entries made for the image: declared directories, which
	// replace the owner and mode of a directory of the contents, and the
	// Nix database.
	Extra []layer.Entry `json:"extra,omitempty"`
	// Perms change the entries of contents and copies whose source path
	// they match.
	Perms []layer.Perm `json:"perms,omitempty"`
}

// Paths are the store paths whose trees the customisation reads.
func (c *Customisation) Paths() []string {
	return append(append([]string(nil), c.Contents...), c.Copy...)
}

// Entries are the customisation's entries: the contents linked, the
// copies copied, perms applied, then the extra entries. The same trees
// always give the same entries.
func (c *Customisation) Entries() ([]layer.Entry, error) {
	var entries []layer.Entry
	if len(c.Contents) > 0 {
		linked, err := ContentsEntries(c.Contents)
		if err != nil {
			return nil, err
		}
		entries = linked
	}
	if len(c.Copy) > 0 {
		copied, err := copyEntries(entries, c.Copy, c.KeepDirlinks)
		if err != nil {
			return nil, err
		}
		entries = copied
		for i := range entries {
			if entries[i].Src != "" {
				entries[i].UID, entries[i].GID, entries[i].Uname, entries[i].Gname = c.UID, c.GID, c.Uname, c.Gname
			}
		}
	}
	if len(c.Perms) > 0 {
		for i, e := range entries {
			if e.Src == "" {
				continue
			}
			var err error
			if entries[i], err = layer.ApplyPerms(c.Perms, e.Src, e); err != nil {
				return nil, err
			}
		}
	}
	return mergeEntries(entries, c.Extra)
}

// mergeEntries adds extra to entries: a directory of extra replaces a
// directory of entries (its owner and mode), any other clash is an error.
func mergeEntries(entries, extra []layer.Entry) ([]layer.Entry, error) {
	at := map[string]int{}
	for i, e := range entries {
		at[e.Path] = i
	}
	out := append([]layer.Entry(nil), entries...)
	for _, x := range extra {
		i, ok := at[x.Path]
		if !ok {
			at[x.Path] = len(out)
			out = append(out, x)
			continue
		}
		if !x.Dir || !out[i].Dir || out[i].Link != "" {
			return nil, fmt.Errorf("%s is both in the image's contents and made for it (dirs, the Nix database): remove one", x.Path)
		}
		out[i] = x
	}
	return out, nil
}

// ContentsEntries merges the trees of the store paths contents at / (see
// Compat.Contents), reading them from the filesystem: the entries of the
// contents layer. The same trees always give the same entries.
func ContentsEntries(contents []string) ([]layer.Entry, error) {
	seen := map[string]bool{}
	var entries []layer.Entry
	var walk func(src, dest string) error
	walk = func(src, dest string) error {
		list, err := os.ReadDir(src)
		if err != nil {
			return fmt.Errorf("contents: %w", err)
		}
		for _, e := range list {
			s, d := filepath.Join(src, e.Name()), path.Join(dest, e.Name())
			if e.IsDir() {
				if !seen[d] {
					seen[d] = true
					entries = append(entries, layer.Entry{Path: d, Dir: true, Mode: 0o755, Src: s})
				} else if !isDirEntry(entries, d) {
					continue
				}
				if err := walk(s, d); err != nil {
					return err
				}
				continue
			}
			if seen[d] {
				continue
			}
			seen[d] = true
			entries = append(entries, layer.Entry{Path: d, Link: s, Src: s})
		}
		return nil
	}
	for _, c := range contents {
		fi, err := os.Stat(c)
		if err != nil {
			return nil, fmt.Errorf("contents: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("contents: %s is not a directory: its top-level directories go to /", c)
		}
		if err := walk(c, "/"); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

func isDirEntry(entries []layer.Entry, p string) bool {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Path == p {
			return entries[i].Dir
		}
	}
	return false
}

// copyEntries adds to entries the trees of the store paths copies, copied
// at / as rsync -a does (with -k, or -K when keepDirlinks): directories
// are merged, a later file or link replaces an earlier one, and a symbolic
// link to a directory is copied as that directory unless keepDirlinks.
// Files and directories keep their modes, as rsync -a copies them (a
// store directory stays 0555, as in dockerTools' images).
func copyEntries(entries []layer.Entry, copies []string, keepDirlinks bool) ([]layer.Entry, error) {
	at := map[string]int{}
	for i, e := range entries {
		at[e.Path] = i
	}
	put := func(e layer.Entry) error {
		i, ok := at[e.Path]
		switch {
		case !ok:
			at[e.Path] = len(entries)
			entries = append(entries, e)
		case entries[i].Dir && e.Dir:
			entries[i] = e
		case entries[i].Dir:
			return fmt.Errorf("copyToRoot: %s is a directory in one and a file in %s", e.Path, e.Src)
		case e.Dir:
			return fmt.Errorf("copyToRoot: %s is a file in one and a directory in %s", e.Path, e.Src)
		default:
			entries[i] = e
		}
		return nil
	}
	var walk func(src, dest string, depth int) error
	walk = func(src, dest string, depth int) error {
		if depth > 64 {
			return fmt.Errorf("copyToRoot: %s: links to directories nest more than 64 deep (a loop?)", src)
		}
		list, err := os.ReadDir(src)
		if err != nil {
			return fmt.Errorf("copyToRoot: %w", err)
		}
		names := make([]string, len(list))
		for i, e := range list {
			names[i] = e.Name()
		}
		sort.Strings(names)
		for _, name := range names {
			s, d := filepath.Join(src, name), path.Join(dest, name)
			fi, err := os.Lstat(s)
			if err != nil {
				return fmt.Errorf("copyToRoot: %w", err)
			}
			switch {
			case fi.IsDir():
				if err := put(layer.Entry{Path: d, Dir: true, Mode: int64(fi.Mode().Perm()) | specialBits(fi.Mode()), Src: s}); err != nil {
					return err
				}
				if err := walk(s, d, depth); err != nil {
					return err
				}
			case fi.Mode()&os.ModeSymlink != 0:
				target, err := os.Readlink(s)
				if err != nil {
					return fmt.Errorf("copyToRoot: %w", err)
				}
				if st, err := os.Stat(s); err == nil && st.IsDir() && !keepDirlinks {
					resolved, err := filepath.EvalSymlinks(s)
					if err != nil {
						return fmt.Errorf("copyToRoot: %w", err)
					}
					if err := put(layer.Entry{Path: d, Dir: true, Mode: int64(st.Mode().Perm()) | specialBits(st.Mode()), Src: s}); err != nil {
						return err
					}
					if err := walk(resolved, d, depth+1); err != nil {
						return err
					}
					continue
				}
				if err := put(layer.Entry{Path: d, Link: target, Src: s}); err != nil {
					return err
				}
			case fi.Mode().IsRegular():
				if err := put(layer.Entry{Path: d, Mode: int64(fi.Mode().Perm()) | specialBits(fi.Mode()), Src: s}); err != nil {
					return err
				}
			default:
				return fmt.Errorf("copyToRoot: %s is not a file, directory or symbolic link", s)
			}
		}
		return nil
	}
	for _, c := range copies {
		fi, err := os.Stat(c)
		if err != nil {
			return nil, fmt.Errorf("copyToRoot: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("copyToRoot: %s is not a directory: its top-level directories go to /", c)
		}
		if err := walk(c, "/", 0); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// specialBits are the setuid, setgid and sticky bits of m as tar mode bits.
func specialBits(m os.FileMode) int64 {
	var b int64
	if m&os.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}
