package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/schema"
	"github.com/oci-builder/oci-builder/pkg/specconv"
	"github.com/oci-builder/oci-builder/pkg/subid"
)

const rootlessUsage = `Usage: oci-builder rootless [OPTIONS] BUNDLE DIR

Writes DIR/config.json, a variant of BUNDLE's configuration that an
unprivileged user can run: its root.path is BUNDLE's rootfs (absolute), a
user namespace maps container root to the calling user (or --uid/--gid),
/sys is bind-mounted, and settings an unprivileged runtime cannot apply
(cgroup limits) are dropped with a warning. A process user other than root
is mapped through the caller's subordinate ids from /etc/subuid and
/etc/subgid (runc then needs newuidmap and newgidmap, Debian's uidmap
package); without them the process runs as root in the user namespace.
DIR is created if needed; DIR/config.json must not exist.

Example:
  oci-builder rootless ./result ~/hello
  runc --root "$XDG_RUNTIME_DIR/runc" run --bundle ~/hello hello

Options:
  --uid N              host user id to map to container root (default: the caller's)
  --gid N              host group id to map to container root (default: the caller's)
  --subuid START:COUNT subordinate user ids (default: the user's in /etc/subuid)
  --subgid START:COUNT subordinate group ids (default: the user's in /etc/subgid)
  --no-subids          map only container root`

func runRootless(_ context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("rootless", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	uid := fs.Uint("uid", uint(os.Geteuid()), "")
	gid := fs.Uint("gid", uint(os.Getegid()), "")
	subuid := fs.String("subuid", "", "")
	subgid := fs.String("subgid", "", "")
	noSub := fs.Bool("no-subids", false, "")
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("rootless: %v", err)}
	}
	if fs.NArg() != 2 {
		return &usageError{"rootless takes BUNDLE and DIR (see oci-builder rootless --help)"}
	}
	if *uid > container.MaxID || *gid > container.MaxID {
		return &usageError{fmt.Sprintf("rootless: --uid and --gid must be ids from 0 to %d (4294967295 is no one's)", uint64(container.MaxID))}
	}
	src, dir := fs.Arg(0), fs.Arg(1)
	data, err := readlimit.File(filepath.Join(src, bundle.ConfigFile), "a bundle's config.json", readlimit.BundleConfig)
	if err != nil {
		return fmt.Errorf("read bundle: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(src, bundle.ConfigFile), err)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return fmt.Errorf("%s has no root.path", filepath.Join(src, bundle.ConfigFile))
	}
	rootPath := spec.Root.Path
	if !filepath.IsAbs(rootPath) {
		rootPath = filepath.Join(src, rootPath)
	}
	if rootPath, err = filepath.EvalSymlinks(rootPath); err != nil {
		return fmt.Errorf("bundle rootfs: %w", err)
	}
	if rootPath, err = filepath.Abs(rootPath); err != nil {
		return fmt.Errorf("bundle rootfs: %w", err)
	}
	spec.Root.Path = rootPath
	ids := container.RootlessIDs{UID: uint32(*uid), GID: uint32(*gid)}
	if !*noSub {
		if ids.SubUIDs, err = subIDs(*subuid, "/etc/subuid", ids.UID, "newuidmap"); err != nil {
			return err
		}
		if ids.SubGIDs, err = subIDs(*subgid, "/etc/subgid", ids.UID, "newgidmap"); err != nil {
			return err
		}
	}
	warnings, err := specconv.MakeRootless(&spec, ids)
	if err != nil {
		return err
	}
	out, err := specconv.MarshalConfig(&spec)
	if err != nil {
		return err
	}
	v, err := schema.New()
	if err != nil {
		return err
	}
	if err := v.Validate(out); err != nil {
		return err
	}
	if err := refuseInStore(filepath.Join(dir, bundle.ConfigFile), "", e.getenv); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	target := filepath.Join(dir, bundle.ConfigFile)
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists", target)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		os.Remove(target)
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(target)
		return fmt.Errorf("write %s: %w", target, err)
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "oci-builder: warning: %s\n", w)
	}
	return printResult(e.stdout, target, target+" is written")
}

// subIDs returns the subordinate id range given as START:COUNT, or else the
// one file (/etc/subuid or /etc/subgid) gives the user uid, when the helper
// runc needs to map it is installed.
func subIDs(flagValue, file string, uid uint32, helper string) (*container.IDRange, error) {
	if flagValue != "" {
		r, err := subid.Parse(flagValue)
		if err != nil {
			return nil, &usageError{fmt.Sprintf("rootless: %v", err)}
		}
		return &container.IDRange{Start: r.Start, Count: r.Count}, nil
	}
	r, err := subid.ForRunc(file, helper, uid)
	if err != nil || r == nil {
		return nil, err
	}
	return &container.IDRange{Start: r.Start, Count: r.Count}, nil
}
