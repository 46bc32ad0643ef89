// Package bundle turns a closure graph and container options into an OCI
// runtime bundle: config.json plus a rootfs holding the closure.
//
// The work is split in two. NewPlan is pure: from the graph and the options
// it computes the container (package container) and its runtime
// configuration (package specconv), then what the rootfs needs: the closure
// to put in it and how (the store mode, whether to verify it), the
// mountpoints, directories, files and symlinks to create. Write performs
// the plan on disk.
package bundle

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/guard"
	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/schema"
	"github.com/oci-builder/oci-builder/pkg/specconv"
	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/validate"
)

// RootfsDir is the bundle's root filesystem directory, relative to the
// bundle (root.path).
const RootfsDir = specconv.RootfsDir

// Mountpoint is a path to create in the rootfs before the runtime mounts
// something on it: where the store is read-only (NixOS), the runtime cannot
// create it itself.
type Mountpoint struct {
	// Path is absolute, as seen inside the container.
	Path string
	// IsFile asks for an empty file instead of a directory.
	IsFile bool
}

// Plan is everything needed to write a bundle, computed without writing to
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
	// Dirs, Files and Symlinks are created in the rootfs too.
	Dirs     []string
	Files    []container.File
	Symlinks []container.Symlink
	// StoreMode is how the closure gets into the rootfs. In StoreBind mode
	// Spec mounts a tmpfs at the store directory and bind-mounts every
	// closure path read-only into it, and Write copies nothing: the
	// runtime makes the mountpoints in the tmpfs.
	StoreMode StoreMode
	// Verify says Write checks the closure against the NAR hashes of the
	// graph: while copying it, or, in bind mode, by reading it. Paths the
	// graph gives no narHash are not checked (a warning says so).
	Verify bool
	// Warnings report options that were dropped.
	Warnings []string
}

// NewPlan computes the bundle for opts from the closure graph g: the
// container (container.New: the closure of every store path the process
// mentions, which must all be in g, and of opts.Roots; PATH defaults to the closure's bin
// directories that fsys shows, those of the mentioned paths first), its
// runtime configuration (specconv.ToSpec), and what the rootfs needs. The
// configuration must be one that runc 1.1 accepts (validate.Spec) and, but
// for bind mode's store mounts, valid against the runtime-spec schema of
// the version it declares.
func NewPlan(g *store.Graph, opts container.Options, fsys container.StoreFS) (*Plan, error) {
	c, err := container.New(g, opts, fsys)
	if err != nil {
		return nil, err
	}
	spec, warnings, err := specconv.ToSpec(c)
	if err != nil {
		return nil, err
	}
	mode, err := ParseStoreMode(opts.StoreMode)
	if err != nil {
		return nil, err
	}
	// Only Harden adds the start check: a hook of its form that extraConfig
	// gave runs whatever its path names on the host, like any other hook.
	if spec.Hooks != nil {
		for i, h := range spec.Hooks.CreateRuntime {
			if guard.IsStartCheck(h) {
				warnings = append(warnings, fmt.Sprintf("hooks.createRuntime[%d] runs %s on the host, as the user who runs runc (root), outside every protection of the container: extraConfig gave it the start check's form, which only the build adds", i, h.Path))
			}
		}
	}
	// No mount may leave a store path writable; what still lets the
	// container past the bundle's protections warns, or fails where the
	// container's store files are the host store's own.
	warnings = append(warnings, guard.Harden(spec, c.StoreDir, opts.StartCheck)...)
	for _, w := range guard.Weakenings(spec, c.StoreDir) {
		if w.Refused(string(mode)) {
			return nil, fmt.Errorf("storeMode %q refuses this: %s; the container's store files are the host store's own in this mode: use storeMode \"copy\" or \"reflink\"", mode, w.Msg)
		}
		warnings = append(warnings, w.Msg)
	}
	verify, verifyWarning, err := nar.PlanVerify(opts.Verify, mode != StoreBind, expected(c.Closure))
	if err != nil {
		return nil, err
	}
	p := &Plan{Spec: spec, StoreDir: c.StoreDir, Closure: c.Closure, Symlinks: c.Symlinks, StoreMode: mode, Verify: verify}
	p.Warnings = append(append(p.Warnings, c.Warnings...), warnings...)
	if verifyWarning != "" {
		p.Warnings = append(p.Warnings, verifyWarning)
	}
	if err := p.planMountpoints(c.FileMounts); err != nil {
		return nil, err
	}
	// extraConfig may have added mounts: what they hide is not created.
	p.Dirs = c.RootfsDirs(p.Spec.Mounts)
	for _, f := range c.Files {
		if !p.mounted(f.Path) {
			p.Files = append(p.Files, f)
		}
	}
	// The schema of the version the config declares, as validate and
	// runtimes read it (extraConfig may change ociVersion).
	v, err := schema.ForVersion(p.Spec.Version)
	if err != nil {
		return nil, fmt.Errorf("extraConfig: %w", err)
	}
	config, err := specconv.MarshalConfig(p.Spec)
	if err != nil {
		return nil, err
	}
	if err := v.Validate(config); err != nil {
		return nil, err
	}
	// Bind mode's mounts are added after the schema check: they have one
	// fixed, valid shape (absolute paths, a type, string options), and
	// checking thousands of them would make the build's time grow with
	// the closure's size, which bind mode is there to avoid.
	if mode == StoreBind {
		p.bindStore()
	}
	if problems := validate.Spec(p.Spec); len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", optionFor(problems[0], opts), problems[0])
	}
	return p, nil
}

// optionFor names the option that most likely led to a configuration
// problem (validate.Spec's line, which names the config field).
func optionFor(problem string, opts container.Options) string {
	if len(opts.ExtraConfig) > 0 {
		return "extraConfig (or the options it merges into)"
	}
	for _, f := range []struct{ field, option string }{
		{"process.args", "args"}, {"process.env", "env"}, {"process.user", "user"},
		{"process.capabilities", "capabilities"}, {"process.rlimits", "rlimits"},
		{"hostname", "hostname"}, {"mounts", "mounts"}, {"linux.seccomp", "seccomp"},
		{"linux.uidMappings", "rootless"}, {"linux.gidMappings", "rootless"},
	} {
		if strings.HasPrefix(problem, f.field) {
			return f.option
		}
	}
	return "the options"
}

// Expected lists what the graph says of each closure path's NAR
// serialisation, in the order of Closure, for rootfs.Copy and rootfs.Verify.
func (p *Plan) Expected() []nar.Expected { return expected(p.Closure) }

func expected(closure []*store.PathInfo) []nar.Expected {
	want := make([]nar.Expected, len(closure))
	for i, info := range closure {
		want[i] = nar.Expected{Path: info.Path, NarHash: info.NarHash, NarSize: info.NarSize}
	}
	return want
}

// bindStore appends to the spec, after every other mount (so after a
// user's mount of a parent such as /nix), a tmpfs at the store directory
// and a read-only bind mount of each closure path at the same path, in the
// closure's order (sorted).
//
// The tmpfs is where the runtime makes the bind mounts' mountpoints, so that
// the bundle needs none (making one per store path is what a bind-mode
// build would spend its time on) and the rootfs may still be read-only, as
// in a store: it is mode 0555 and has exactly one inode for its root and
// one per mountpoint, so that once the runtime has made them nothing more
// can be created in it, even by a process allowed to override permissions.
// A user mount inside the store directory, which the tmpfs would hide, was
// refused when the mounts were merged.
func (p *Plan) bindStore() {
	if len(p.Closure) == 0 {
		return
	}
	p.Spec.Mounts = append(p.Spec.Mounts, specs.Mount{
		Destination: p.StoreDir,
		Type:        "tmpfs",
		Source:      "tmpfs",
		Options:     []string{"nosuid", "nodev", "noexec", "mode=0555", fmt.Sprintf("nr_inodes=%d", len(p.Closure)+1)},
	})
	for _, info := range p.Closure {
		p.Spec.Mounts = append(p.Spec.Mounts, specs.Mount{
			Destination: info.Path,
			Type:        "none",
			Source:      info.Path,
			Options:     []string{"rbind", "ro", "nosuid", "nodev"},
		})
	}
}

// planMountpoints lists the destinations to pre-create: every mount's,
// except those inside an earlier mount (they live in that mount's
// filesystem, like /dev/pts in the /dev tmpfs). A destination inside a store
// path of the closure is refused: it would change that path's contents.
func (p *Plan) planMountpoints(isFile map[string]bool) error {
	var earlier []string
	for _, m := range p.Spec.Mounts {
		nested := false
		for _, e := range earlier {
			if container.Within(m.Destination, e) {
				nested = true
				break
			}
		}
		earlier = append(earlier, m.Destination)
		if nested {
			continue
		}
		if err := p.checkOutsideClosure("mount destination", m.Destination); err != nil {
			return err
		}
		if p.StoreDir != "" && container.Within(p.StoreDir, m.Destination) && isFile[m.Destination] {
			return fmt.Errorf("mount destination %s is a file but contains the store directory %s", m.Destination, p.StoreDir)
		}
		p.Mountpoints = append(p.Mountpoints, Mountpoint{Path: m.Destination, IsFile: isFile[m.Destination]})
	}
	return nil
}

func (p *Plan) checkOutsideClosure(what, dest string) error {
	if p.StoreDir == "" || !container.Within(dest, p.StoreDir) || dest == p.StoreDir {
		return nil
	}
	for _, info := range p.Closure {
		if container.Within(dest, info.Path) {
			return fmt.Errorf("%s %s is inside store path %s of the closure", what, dest, info.Path)
		}
	}
	return nil
}

// mounted reports whether something is mounted on p or above it, hiding
// what the rootfs has there.
func (p *Plan) mounted(path string) bool {
	for _, m := range p.Spec.Mounts {
		if container.Within(path, m.Destination) {
			return true
		}
	}
	return false
}
