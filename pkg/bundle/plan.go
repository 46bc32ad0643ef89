package bundle

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// Mountpoint is a path to create in the rootfs before the runtime mounts
// something on it: where the store is read-only (NixOS), the runtime cannot
// create it itself.
type Mountpoint struct {
	// Path is absolute, as seen inside the container.
	Path string
	// IsFile asks for an empty file instead of a directory.
	IsFile bool
}

// Plan is everything needed to write a bundle, computed without touching
// the filesystem.
type Plan struct {
	// Spec is the runtime configuration, written as config.json.
	Spec *specs.Spec
	// StoreDir is the store directory, recreated inside the rootfs.
	StoreDir string
	// Closure is what goes into the rootfs, sorted by path.
	Closure []*store.PathInfo
	// Mountpoints are created in the rootfs, in mount order.
	Mountpoints []Mountpoint
	// StoreMode is how the closure gets into the rootfs. In StoreBind mode
	// Spec bind-mounts every closure path read-only, and Write creates an
	// empty mountpoint for each instead of copying it.
	StoreMode StoreMode
}

// storeBindOptions are the options of the bind mount of a closure path: the
// container sees it read-only, without setuid or device files.
var storeBindOptions = []string{"rbind", "ro", "nosuid", "nodev"}

// NewPlan computes the bundle for opts from the closure graph g: the closure
// of every store path that args mention, which must all be in g.
func NewPlan(g *store.Graph, opts Options) (*Plan, error) {
	spec, err := Config(opts)
	if err != nil {
		return nil, err
	}
	mode, err := ParseStoreMode(string(opts.StoreMode))
	if err != nil {
		return nil, err
	}
	var roots []string
	for i, arg := range opts.Args {
		refs, err := g.FindReferences(arg)
		if err != nil {
			return nil, fmt.Errorf("args[%d]: %w", i, err)
		}
		roots = append(roots, refs...)
	}
	closure, err := g.Closure(roots)
	if err != nil {
		return nil, err
	}
	p := &Plan{Spec: spec, StoreDir: g.StoreDir(), Closure: closure, StoreMode: mode}
	if err := p.planMountpoints(opts.Mounts); err != nil {
		return nil, err
	}
	if mode == StoreBind {
		p.bindStore()
	}
	return p, nil
}

// bindStore adds a read-only bind mount of each closure path, at the same
// path, to the spec. They follow the system mounts and are merged with the
// user's mounts in order of destination, so that a user mount of a parent
// (/nix, say) comes before the store paths mounted inside it. The closure
// is sorted, so the store mounts are too.
func (p *Plan) bindStore() {
	user := p.Spec.Mounts[len(systemMounts()):]
	mounts := append([]specs.Mount(nil), p.Spec.Mounts[:len(systemMounts())]...)
	i := 0
	for _, info := range p.Closure {
		for i < len(user) && user[i].Destination < info.Path {
			mounts = append(mounts, user[i])
			i++
		}
		mounts = append(mounts, specs.Mount{
			Destination: info.Path,
			Type:        "none",
			Source:      info.Path,
			Options:     append([]string(nil), storeBindOptions...),
		})
	}
	p.Spec.Mounts = append(mounts, user[i:]...)
}

// planMountpoints lists the destinations to pre-create: every mount's,
// except those inside an earlier mount (they live in that mount's
// filesystem, like /dev/pts in the /dev tmpfs). A destination inside a store
// path of the closure is refused: it would change that path's contents.
func (p *Plan) planMountpoints(user []Mount) error {
	isFile := map[string]bool{}
	for _, m := range user {
		if dest, err := CheckDestination(m.Destination); err == nil && m.IsFile {
			isFile[dest] = true
		}
	}
	var earlier []string
	for _, m := range p.Spec.Mounts {
		nested := false
		for _, e := range earlier {
			if within(m.Destination, e) {
				nested = true
				break
			}
		}
		earlier = append(earlier, m.Destination)
		if nested {
			continue
		}
		if p.StoreDir != "" && within(m.Destination, p.StoreDir) && m.Destination != p.StoreDir {
			for _, info := range p.Closure {
				if within(m.Destination, info.Path) {
					return fmt.Errorf("mount destination %s is inside store path %s of the closure", m.Destination, info.Path)
				}
			}
		}
		if p.StoreDir != "" && within(p.StoreDir, m.Destination) && isFile[m.Destination] {
			return fmt.Errorf("mount destination %s is a file but contains the store directory %s", m.Destination, p.StoreDir)
		}
		p.Mountpoints = append(p.Mountpoints, Mountpoint{Path: m.Destination, IsFile: isFile[m.Destination]})
	}
	return nil
}

// within reports whether p is dir or lies under it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
