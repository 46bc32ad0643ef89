package daemon

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/nix-community/go-nix/pkg/wire"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// window is how many QueryPathInfo requests Closure keeps in flight: enough
// to hide the round trips, few enough (about 100 bytes each) that they fit
// in the socket's buffer whatever the daemon does.
const window = 64

// NotValidError is the answer for a path the store does not hold as valid.
type NotValidError struct {
	// Path is the path asked about.
	Path string
}

func (e *NotValidError) Error() string {
	return e.Path + " is not valid in the store"
}

// PathInfo asks the daemon what it knows about the store path p. A path
// that is not valid is a *NotValidError.
func (c *Conn) PathInfo(p string) (*store.PathInfo, error) {
	if err := c.sendQuery(p); err != nil {
		return nil, c.failure(err)
	}
	if err := c.w.Flush(); err != nil {
		return nil, c.failure(c.afterWriteError([]string{p}, err))
	}
	info, err := c.readInfo(p)
	return info, c.failure(err)
}

// Closure asks the daemon for the closure of roots (every root and,
// recursively, what it refers to) and returns its paths' information
// sorted by path, as `nix path-info --recursive` would. Requests are
// pipelined, up to a window of them unanswered; each reply is read for the
// path it answers, in order. References must be store paths in the same
// directory as the path that has them.
func (c *Conn) Closure(roots []string) ([]store.PathInfo, error) {
	infos, err := c.closure(roots)
	return infos, c.failure(err)
}

func (c *Conn) closure(roots []string) ([]store.PathInfo, error) {
	queued := make(map[string]bool, len(roots))
	var todo, inFlight []string
	for _, r := range roots {
		if !queued[r] {
			queued[r] = true
			todo = append(todo, r)
		}
	}
	var infos []store.PathInfo
	for len(todo) > 0 || len(inFlight) > 0 {
		if len(todo) > 0 && len(inFlight) < window {
			for len(todo) > 0 && len(inFlight) < window {
				p := todo[0]
				todo = todo[1:]
				inFlight = append(inFlight, p)
				if err := c.sendQuery(p); err != nil {
					return nil, c.afterWriteError(inFlight, err)
				}
			}
			if err := c.w.Flush(); err != nil {
				return nil, c.afterWriteError(inFlight, err)
			}
		}
		p := inFlight[0]
		inFlight = inFlight[1:]
		info, err := c.readInfo(p)
		if err != nil {
			return nil, err
		}
		for _, r := range info.References {
			if !queued[r] {
				if len(queued) >= maxClosure {
					return nil, fmt.Errorf("closure of more than %d paths", maxClosure)
				}
				queued[r] = true
				todo = append(todo, r)
			}
		}
		infos = append(infos, *info)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	return infos, nil
}

// afterWriteError is the error to report when sending the requests for
// inFlight failed: the daemon may have closed the connection after
// reporting an error for one of them, which the replies already sent tell.
func (c *Conn) afterWriteError(inFlight []string, writeErr error) error {
	for _, p := range inFlight {
		if _, err := c.readInfo(p); err != nil {
			var de *Error
			var nv *NotValidError
			if errors.As(err, &de) || errors.As(err, &nv) {
				return err
			}
			break
		}
	}
	return fmt.Errorf("asking the daemon about %s: %w", inFlight[len(inFlight)-1], writeErr)
}

// sendQuery buffers a QueryPathInfo request for p.
func (c *Conn) sendQuery(p string) error {
	if err := wire.WriteUint64(c.w, opQueryPathInfo); err != nil {
		return err
	}
	return wire.WriteString(c.w, p)
}

// readInfo reads the answer to a QueryPathInfo request for p.
func (c *Conn) readInfo(p string) (*store.PathInfo, error) {
	if err := c.processStderr(); err != nil {
		return nil, fmt.Errorf("path info of %s: %w", p, err)
	}
	info, err := c.readValidInfo(p)
	if err != nil {
		return nil, fmt.Errorf("path info of %s: %w", p, err)
	}
	if info == nil {
		return nil, &NotValidError{Path: p}
	}
	return info, nil
}

// readValidInfo reads the validity flag and, for a valid path, its
// information (nil for a path that is not valid): deriver, NAR hash
// (base16), references, registration time, NAR size, whether it was built
// here, signatures, content address.
func (c *Conn) readValidInfo(p string) (*store.PathInfo, error) {
	valid, err := wire.ReadUint64(c.r)
	if err != nil {
		return nil, err
	}
	if valid == 0 {
		return nil, nil
	}
	if _, err := wire.ReadString(c.r, maxPath); err != nil { // deriver
		return nil, err
	}
	hashHex, err := wire.ReadString(c.r, 128)
	if err != nil {
		return nil, err
	}
	digest, err := hex.DecodeString(hashHex)
	if err != nil || len(digest) != 32 {
		return nil, fmt.Errorf("NAR hash %q is not a base16 SHA-256", hashHex)
	}
	h, err := nixhash.NewHash(nixhash.SHA256, digest)
	if err != nil {
		return nil, err
	}
	n, err := c.readCount()
	if err != nil {
		return nil, err
	}
	refs := make([]string, 0, min(n, 64))
	for i := uint64(0); i < n; i++ {
		r, err := wire.ReadString(c.r, maxPath)
		if err != nil {
			return nil, err
		}
		if path.Dir(r) != path.Dir(p) || store.ValidateBaseName(path.Base(r)) != nil {
			return nil, fmt.Errorf("reference %q is not a store path in %s", r, path.Dir(p))
		}
		refs = append(refs, r)
	}
	if _, err := wire.ReadUint64(c.r); err != nil { // registration time
		return nil, err
	}
	narSize, err := wire.ReadUint64(c.r)
	if err != nil {
		return nil, err
	}
	if _, err := wire.ReadUint64(c.r); err != nil { // ultimate
		return nil, err
	}
	nsigs, err := c.readCount()
	if err != nil {
		return nil, err
	}
	for i := uint64(0); i < nsigs; i++ {
		if _, err := wire.ReadString(c.r, maxString); err != nil {
			return nil, err
		}
	}
	ca, err := wire.ReadString(c.r, maxString)
	if err != nil {
		return nil, err
	}
	return &store.PathInfo{
		Path:       p,
		NarHash:    h.Format(nixhash.NixBase32, true),
		NarSize:    narSize,
		References: refs,
		CA:         ca,
	}, nil
}
