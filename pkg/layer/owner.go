package layer

import (
	"archive/tar"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Ownership is who owns the entries of a layer of store paths, their
// modification time, and the perms that change some of them. The zero
// value is what layers have without it: uid and gid 0, no user or group
// names, mtime 1.
type Ownership struct {
	// UID and GID own every entry; Uname and Gname, when set, are the
	// tar headers' names (dockerTools' uid, gid, uname, gname).
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
	Uname string `json:"uname,omitempty"`
	Gname string `json:"gname,omitempty"`
	// MTime is every entry's modification time in seconds since the
	// epoch; 0 means 1, Nix's.
	MTime int64 `json:"mtime,omitempty"`
	// Perms change the mode or owner of the entries of some store paths.
	Perms []Perm `json:"perms,omitempty"`
}

// Perm changes the mode or owner of the entries of one store path whose
// source path (the file's own path in the store, "/nix/store/HASH-NAME/...")
// the regular expression Regex matches (unanchored, RE2 syntax: "" and
// ".*" match every entry), as nix2container's perms do. Unset fields keep
// what the entry had.
type Perm struct {
	// Path is the store path whose tree the perm applies to.
	Path  string `json:"path"`
	Regex string `json:"regex,omitempty"`
	// Mode is octal permission bits, "0644" or "1777".
	Mode  string  `json:"mode,omitempty"`
	UID   *int    `json:"uid,omitempty"`
	GID   *int    `json:"gid,omitempty"`
	Uname *string `json:"uname,omitempty"`
	Gname *string `json:"gname,omitempty"`

	re   *regexp.Regexp
	mode int64
}

// compile checks p and prepares its regular expression and mode.
func (p *Perm) compile() error {
	if !strings.HasPrefix(p.Path, "/") {
		return fmt.Errorf("perms: path %q is not an absolute path (a store path)", p.Path)
	}
	re, err := regexp.Compile(p.Regex)
	if err != nil {
		return fmt.Errorf("perms of %s: regex %q: %w", p.Path, p.Regex, err)
	}
	p.re = re
	p.mode = -1
	if p.Mode != "" {
		m, err := strconv.ParseUint(p.Mode, 8, 12)
		if err != nil {
			return fmt.Errorf("perms of %s: mode %q is not octal permission bits (like \"0644\" or \"1777\")", p.Path, p.Mode)
		}
		p.mode = int64(m)
	}
	for _, id := range []*int{p.UID, p.GID} {
		if id != nil && *id < 0 {
			return fmt.Errorf("perms of %s: uid and gid must not be negative", p.Path)
		}
	}
	return nil
}

// CheckPerms checks perms as the layer writers use them: absolute paths,
// regular expressions that compile, octal modes.
func CheckPerms(perms []Perm) error {
	for i := range perms {
		p := perms[i]
		if err := p.compile(); err != nil {
			return err
		}
	}
	return nil
}

// matches tells whether p applies to the entry whose source path is src.
func (p *Perm) matches(src string) bool {
	if src != p.Path && !strings.HasPrefix(src, p.Path+"/") {
		return false
	}
	return p.re.MatchString(src)
}

// ApplyPerms applies the perms that match src to the entry e, in order
// (a later perm wins), and returns it.
func ApplyPerms(perms []Perm, src string, e Entry) (Entry, error) {
	for i := range perms {
		p := perms[i]
		if err := p.compile(); err != nil {
			return e, err
		}
		if !p.matches(src) {
			continue
		}
		if p.mode >= 0 && e.Link == "" {
			e.Mode = p.mode
		}
		if p.UID != nil {
			e.UID = *p.UID
		}
		if p.GID != nil {
			e.GID = *p.GID
		}
		if p.Uname != nil {
			e.Uname = *p.Uname
		}
		if p.Gname != nil {
			e.Gname = *p.Gname
		}
	}
	return e, nil
}

// owner is an Ownership ready to apply: its perms compiled.
type owner struct {
	Ownership
}

func newOwner(o *Ownership) (*owner, error) {
	if o == nil {
		return &owner{}, nil
	}
	w := &owner{Ownership: *o}
	w.Perms = append([]Perm(nil), o.Perms...)
	for i := range w.Perms {
		if err := w.Perms[i].compile(); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// mtime is the entries' modification time.
func (w *owner) mtime() time.Time {
	if w == nil || w.MTime == 0 {
		return time.Unix(modTime, 0)
	}
	return time.Unix(w.MTime, 0)
}

// apply sets h's owner (and, through perms matching src, its mode) and
// modification time. src is the entry's path in the store; "" for the
// directories leading to the store.
func (w *owner) apply(h *tar.Header, src string) {
	h.ModTime = w.mtime()
	h.Uid, h.Gid, h.Uname, h.Gname = w.UID, w.GID, w.Uname, w.Gname
	if src == "" {
		return
	}
	for i := range w.Perms {
		p := &w.Perms[i]
		if !p.matches(src) {
			continue
		}
		if p.mode >= 0 && h.Typeflag != tar.TypeSymlink {
			h.Mode = p.mode
		}
		if p.UID != nil {
			h.Uid = *p.UID
		}
		if p.GID != nil {
			h.Gid = *p.GID
		}
		if p.Uname != nil {
			h.Uname = *p.Uname
		}
		if p.Gname != nil {
			h.Gname = *p.Gname
		}
	}
}
