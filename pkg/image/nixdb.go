package image

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/nixdb"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// NixDBRegistrationTime is the registration time of every path of an
// image's Nix database: the modification time of the image's entries, so
// that the database is reproducible (dockerTools resets it to
// SOURCE_DATE_EPOCH).
const NixDBRegistrationTime = 1

// nixDBEntries are the entries that make the image's Nix database
// (dockerTools' includeNixDB): /nix/var/nix/db/db.sqlite with every
// store path of closure valid, its references and the outputs of the
// derivations among them (read from their .drv files), the schema
// version beside it, and a garbage collector root in
// /nix/var/nix/gcroots/docker for each of roots, as dockerTools makes
// them. The directories from /nix/var down (and /nix itself when
// withNix) are owned by uid, gid, uname and gname, as dockerTools'
// buildImage tars its layer with --owner and --group: with uid 1000,
// Nix can be used in the container by that user in single-user mode.
func nixDBEntries(closure []*store.PathInfo, roots []string, withNix bool, uid, gid int, uname, gname string) ([]layer.Entry, error) {
	paths := make([]nixdb.Path, len(closure))
	for i, info := range closure {
		if info.NarHash == "" {
			return nil, fmt.Errorf("includeNixDB: the closure graph gives no NAR hash for %s, and Nix's database needs every path's", info.Path)
		}
		paths[i] = nixdb.Path{Path: info.Path, NarHash: info.NarHash, NarSize: info.NarSize, References: info.References, CA: info.CA}
		if strings.HasSuffix(info.Path, ".drv") {
			data, err := os.ReadFile(info.Path)
			if err != nil {
				return nil, fmt.Errorf("includeNixDB: read the derivation's outputs: %w", err)
			}
			if paths[i].Outputs, err = nixdb.DerivationOutputs(data); err != nil {
				return nil, fmt.Errorf("includeNixDB: %s: %w", info.Path, err)
			}
		}
	}
	db, err := nixdb.Build(paths, nixdb.Options{RegistrationTime: NixDBRegistrationTime})
	if err != nil {
		return nil, fmt.Errorf("includeNixDB: %w", err)
	}
	// Nix's state directory is /nix/var/nix, whatever the store directory.
	dir := func(p string) layer.Entry {
		return layer.Entry{Path: p, Dir: true, Mode: 0o755, UID: uid, GID: gid, Uname: uname, Gname: gname}
	}
	file := func(p string, data []byte) layer.Entry {
		return layer.Entry{Path: p, Data: data, Mode: 0o644, UID: uid, GID: gid, Uname: uname, Gname: gname}
	}
	var entries []layer.Entry
	if withNix {
		entries = append(entries, dir("/nix"))
	}
	entries = append(entries,
		dir("/nix/var"), dir("/nix/var/nix"), dir("/nix/var/nix/db"),
		file("/nix/var/nix/db/db.sqlite", db), file("/nix/var/nix/db/schema", []byte(nixdb.SchemaFile)),
		dir("/nix/var/nix/gcroots"), dir("/nix/var/nix/gcroots/docker"))
	sorted := append([]string(nil), roots...)
	sort.Strings(sorted)
	seen := map[string]bool{}
	for _, r := range sorted {
		if seen[r] {
			continue
		}
		seen[r] = true
		e := dir("/nix/var/nix/gcroots/docker/" + path.Base(r))
		e.Dir, e.Mode, e.Link = false, 0, r
		entries = append(entries, e)
	}
	return entries, nil
}
