package bundle

import (
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/nar"
	"github.com/oci-builder/oci-builder/pkg/schema"
	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/validate"
)

// maxDefaultPath bounds the default PATH: one environment string may not
// exceed 128 KiB (MAX_ARG_STRLEN) and no one wants to search more. Past it
// the default PATH holds only the bin directories of the paths the process
// mentions.
const maxDefaultPath = 64 << 10

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
	Files    []File
	Symlinks []Symlink
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

// StoreFS answers the one question planning asks of the store: whether a
// path is a directory (following symlinks).
type StoreFS interface {
	IsDir(path string) bool
}

// HostStore is StoreFS for the store on this machine.
type HostStore struct{}

// IsDir reports whether p is a directory.
func (HostStore) IsDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// NewPlan computes the bundle for opts from the closure graph g: the closure
// of every store path that the process's arguments, environment and working
// directory mention, which must all be in g, and of opts.Roots. PATH defaults to the closure's
// bin directories that fsys shows, those of the mentioned paths first.
func NewPlan(g *store.Graph, opts Options, fsys StoreFS) (*Plan, error) {
	first, err := Configure(opts, "")
	if err != nil {
		return nil, err
	}
	mode, err := ParseStoreMode(string(opts.StoreMode))
	if err != nil {
		return nil, err
	}
	roots, err := processRoots(g, first.Spec.Process)
	if err != nil {
		return nil, err
	}
	roots = append(roots, opts.Roots...)
	closure, err := g.Closure(roots)
	if err != nil {
		return nil, err
	}
	path, pathWarning := "", ""
	if _, set := opts.Env["PATH"]; !set {
		path = defaultPath(roots, closure, fsys)
		if len(path) > maxDefaultPath {
			// A closure with thousands of bin directories: the ones of
			// the paths the process mentions are what it needs.
			full := len(path)
			path = defaultPath(roots, nil, fsys)
			if len(path) > maxDefaultPath {
				return nil, fmt.Errorf("the default PATH would be %d bytes long: set env.PATH", len(path))
			}
			pathWarning = fmt.Sprintf("PATH holds only the bin directories of the store paths the process mentions: with every bin directory of the closure it would be %d bytes long (the bound is %d); set env.PATH to choose", full, maxDefaultPath)
		}
	}
	c, err := configure(opts, path, g.StoreDir())
	if err != nil {
		return nil, err
	}
	if err := checkStoreProtected(c.Spec, mode); err != nil {
		return nil, err
	}
	verify, verifyWarning, err := planVerify(opts.Verify, mode, closure)
	if err != nil {
		return nil, err
	}
	p := &Plan{Spec: c.Spec, StoreDir: g.StoreDir(), Closure: closure, StoreMode: mode, Verify: verify, Warnings: c.Warnings}
	for _, w := range []string{pathWarning, verifyWarning} {
		if w != "" {
			p.Warnings = append(p.Warnings, w)
		}
	}
	for _, l := range c.Symlinks {
		if p.StoreDir != "" && within(p.StoreDir, l.Path) {
			p.Warnings = append(p.Warnings, fmt.Sprintf("no %s symlink: the store directory %s is inside it", l.Path, p.StoreDir))
			continue
		}
		p.Symlinks = append(p.Symlinks, l)
	}
	if err := p.planMountpoints(c.FileMounts); err != nil {
		return nil, err
	}
	p.planDirs(c.Dirs)
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
	config, err := MarshalConfig(p.Spec)
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
		if err := p.bindStore(); err != nil {
			return nil, err
		}
	}
	if problems := validate.Spec(p.Spec); len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", optionFor(problems[0], opts), problems[0])
	}
	return p, nil
}

// checkStoreProtected refuses what would let a hard-link bundle's container
// write to the host's store: its files share their inodes with the store's,
// and root in the container owns them, so only a read-only root filesystem
// (which CAP_SYS_ADMIN could remount) keeps them unchanged.
func checkStoreProtected(spec *specs.Spec, mode StoreMode) error {
	if mode != StoreHardlink {
		return nil
	}
	if spec.Root == nil || !spec.Root.Readonly {
		return errors.New("storeMode \"hardlink\" needs a read-only root filesystem: its files are the host store's own inodes, which a writable root would let the container change (extraConfig sets root.readonly to false)")
	}
	if spec.Process != nil && spec.Process.Capabilities != nil {
		for _, c := range spec.Process.Capabilities.Bounding {
			if c == "CAP_SYS_ADMIN" {
				return errors.New("storeMode \"hardlink\" cannot be given CAP_SYS_ADMIN: with it the container could remount its root filesystem writable and change the host store's files, which the bundle's files are; use storeMode \"copy\" or \"reflink\"")
			}
		}
	}
	return nil
}

// optionFor names the option that most likely led to a configuration
// problem (validate.Spec's line, which names the config field).
func optionFor(problem string, opts Options) string {
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

// planVerify decides whether the closure is verified: as asked, or by
// default in every mode but bind. Every narHash the graph gives must parse.
// A graph that gives some paths no narHash (the text format gives none)
// cannot have them verified: that is an error when verification was asked
// for explicitly, and otherwise a warning naming how many go unverified.
func planVerify(asked *bool, mode StoreMode, closure []*store.PathInfo) (bool, string, error) {
	verify := mode != StoreBind
	if asked != nil {
		verify = *asked
	}
	if !verify {
		return false, "", nil
	}
	missing := 0
	firstMissing := ""
	for _, info := range closure {
		if info.NarHash == "" {
			if missing == 0 {
				firstMissing = info.Path
			}
			missing++
			continue
		}
		if _, err := nar.ParseHash(info.NarHash); err != nil {
			return false, "", fmt.Errorf("store path %s: %w", info.Path, err)
		}
	}
	if missing == 0 {
		return true, "", nil
	}
	if asked != nil {
		return false, "", fmt.Errorf("verify: the closure graph gives no narHash for %s (%d of %d store paths have none; the text format of exportReferencesGraph carries none): set verify to false, or give a graph with hashes", firstMissing, missing, len(closure))
	}
	if missing == len(closure) {
		return false, "not verifying the closure: the closure graph gives no narHash (the text format of exportReferencesGraph carries none)", nil
	}
	return true, fmt.Sprintf("not verifying %d of %d store paths, %s first: the closure graph gives them no narHash", missing, len(closure), firstMissing), nil
}

// Expected lists what the graph says of each closure path's NAR
// serialisation, in the order of Closure, for rootfs.Copy and rootfs.Verify.
func (p *Plan) Expected() []nar.Expected {
	want := make([]nar.Expected, len(p.Closure))
	for i, info := range p.Closure {
		want[i] = nar.Expected{Path: info.Path, NarHash: info.NarHash, NarSize: info.NarSize}
	}
	return want
}

// processRoots finds the store paths the process mentions.
func processRoots(g *store.Graph, proc *specs.Process) ([]string, error) {
	var roots []string
	check := func(what, s string) error {
		refs, err := g.FindReferences(s)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		roots = append(roots, refs...)
		return nil
	}
	for i, arg := range proc.Args {
		if err := check(fmt.Sprintf("args[%d]", i), arg); err != nil {
			return nil, err
		}
	}
	for _, e := range proc.Env {
		name, value, _ := strings.Cut(e, "=")
		if err := check("env."+name, value); err != nil {
			return nil, err
		}
	}
	if err := check("workingDir", proc.Cwd); err != nil {
		return nil, err
	}
	return roots, nil
}

// defaultPath joins the bin directories of the closure: the roots' first, in
// the order they are mentioned, then the others by path.
func defaultPath(roots []string, closure []*store.PathInfo, fsys StoreFS) string {
	if fsys == nil {
		return ""
	}
	var dirs []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			if bin := p + "/bin"; fsys.IsDir(bin) {
				dirs = append(dirs, bin)
			}
		}
	}
	for _, r := range roots {
		add(r)
	}
	for _, info := range closure {
		add(info.Path)
	}
	return strings.Join(dirs, ":")
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
func (p *Plan) bindStore() error {
	if len(p.Closure) == 0 {
		return nil
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
	return nil
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
			if within(m.Destination, e) {
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
		if p.StoreDir != "" && within(p.StoreDir, m.Destination) && isFile[m.Destination] {
			return fmt.Errorf("mount destination %s is a file but contains the store directory %s", m.Destination, p.StoreDir)
		}
		p.Mountpoints = append(p.Mountpoints, Mountpoint{Path: m.Destination, IsFile: isFile[m.Destination]})
	}
	return nil
}

func (p *Plan) checkOutsideClosure(what, dest string) error {
	if p.StoreDir == "" || !within(dest, p.StoreDir) || dest == p.StoreDir {
		return nil
	}
	for _, info := range p.Closure {
		if within(dest, info.Path) {
			return fmt.Errorf("%s %s is inside store path %s of the closure", what, dest, info.Path)
		}
	}
	return nil
}

// planDirs keeps the directories that belong to the rootfs itself: not in
// the store, not in a mount, not behind the /tmp symlink.
func (p *Plan) planDirs(dirs []string) {
	for _, d := range dirs {
		if d == "/" || (p.StoreDir != "" && within(d, p.StoreDir)) {
			continue
		}
		skip := p.mounted(d)
		for _, l := range p.Symlinks {
			skip = skip || within(d, l.Path)
		}
		if !skip {
			p.Dirs = append(p.Dirs, d)
		}
	}
}

// mounted reports whether something is mounted on p or above it, hiding
// what the rootfs has there.
func (p *Plan) mounted(path string) bool {
	for _, m := range p.Spec.Mounts {
		if within(path, m.Destination) {
			return true
		}
	}
	return false
}

// within reports whether p is dir or lies under it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
