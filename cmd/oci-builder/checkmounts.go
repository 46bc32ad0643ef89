package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/guard"
)

const checkMountsUsage = `Usage: oci-builder check-mounts --store-dir DIR [--] SOURCE...

The start check of a bundle: runc runs it as a createRuntime hook, which a
bundle gets when it has a writable mount whose host source its build could
not judge (an absolute path that may be a symlink on the machine that runs
the container, a block device). It reads the container's state from stdin
(for the bundle's directory) and fails, so that runc does not start the
container, when a SOURCE, with its symlinks followed on this machine, is,
holds or lies in the store directory DIR or the bundle's directory (whose
rootfs holds the store's own files in hardlink mode), or is the block device
of the store's filesystem. A store directory absent here is not checked.

Exit status: 0 when every source is safe to mount writable, 1 otherwise.`

// maxState bounds the container state runc writes to the hook's stdin.
const maxState = 1 << 20

func runCheckMounts(_ context.Context, e env, args []string) error {
	fs := flag.NewFlagSet(guard.CheckCommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	storeDir := fs.String("store-dir", "", "")
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", guard.CheckCommand, err)}
	}
	if *storeDir == "" || fs.NArg() == 0 {
		return &usageError{guard.CheckCommand + " needs --store-dir DIR and a SOURCE (see oci-builder " + guard.CheckCommand + " --help)"}
	}
	var state struct {
		Bundle string `json:"bundle"`
	}
	if e.stdin != nil {
		data, err := io.ReadAll(io.LimitReader(e.stdin, maxState+1))
		if err != nil {
			return fmt.Errorf("read the container's state: %w", err)
		}
		if len(data) > maxState {
			return fmt.Errorf("the container's state on stdin is over %d bytes", maxState)
		}
		if len(data) > 0 {
			if err := json.Unmarshal(data, &state); err != nil {
				return fmt.Errorf("the container's state on stdin: %w", err)
			}
		}
	}
	return checkMountSources(*storeDir, state.Bundle, fs.Args())
}

// guarded is a directory no writable mount may reach: its real path, and
// the device and inode of it and of each directory above it.
type guarded struct {
	name, real string
	dev        uint64
	chain      []devIno
}

type devIno struct{ dev, ino uint64 }

func newGuarded(name, dir string) (*guarded, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	g := &guarded{name: name, real: real}
	for p := real; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return nil, err
		}
		if p == real {
			g.dev = uint64(st.Dev)
		}
		g.chain = append(g.chain, devIno{uint64(st.Dev), st.Ino})
		if p == "/" {
			break
		}
	}
	return g, nil
}

// checkMountSources fails on the first source that reaches the store
// directory or the bundle: see checkMountsUsage. A relative source is taken
// from the bundle's directory, as runc does.
func checkMountSources(storeDir, bundle string, sources []string) error {
	var dirs []*guarded
	for _, d := range []struct{ name, path string }{{"the store " + storeDir, storeDir}, {"the bundle " + bundle, bundle}} {
		if d.path == "" {
			continue
		}
		g, err := newGuarded(d.name, d.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		dirs = append(dirs, g)
	}
	for _, src := range sources {
		p := src
		if !filepath.IsAbs(p) {
			p = filepath.Join(bundle, p)
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("mount source %s: %w", src, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(real, &st); err != nil {
			return fmt.Errorf("mount source %s: %w", src, err)
		}
		for _, g := range dirs {
			if why := reaches(real, &st, g); why != "" {
				return fmt.Errorf("mount source %s %s %s (it resolves to %s), which the container could then change: not starting it", src, why, g.name, real)
			}
		}
	}
	return nil
}

// reaches tells how the source at real (stat st) reaches g, "" if not.
func reaches(real string, st *unix.Stat_t, g *guarded) string {
	if uint32(st.Mode)&unix.S_IFMT == unix.S_IFBLK {
		if uint64(st.Rdev) == g.dev {
			return "is the block device of the filesystem of"
		}
		return ""
	}
	switch {
	case real == g.real:
		return "is"
	case container.Within(real, g.real):
		return "lies in"
	case container.Within(g.real, real):
		return "holds"
	}
	// Through a mount of a directory elsewhere: the same inode.
	for _, c := range g.chain {
		if c == (devIno{uint64(st.Dev), st.Ino}) {
			return "holds (a mount of the same directory)"
		}
	}
	for p := filepath.Dir(real); ; p = filepath.Dir(p) {
		var up unix.Stat_t
		if unix.Stat(p, &up) == nil && uint64(up.Dev) == g.chain[0].dev && up.Ino == g.chain[0].ino {
			return "lies in (through a mount of it at " + p + ")"
		}
		if p == "/" {
			return ""
		}
	}
}

// startCheck is the executable a bundle's start check runs (see
// container.Options.StartCheck): this one, when the bundle is for this
// platform and it can tell where it is; "" otherwise.
func startCheck(opts container.Options) string {
	osName, arch, err := container.Platform(opts.OS, opts.Arch)
	if err != nil || osName != runtime.GOOS || arch != runtime.GOARCH {
		return ""
	}
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	return self
}
