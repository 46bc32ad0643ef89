package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/store/local"
)

const bundleUsage = `Usage: oci-builder bundle --out DIR [OPTIONS] [--] PROGRAM [ARGS...]

Builds an OCI runtime bundle (config.json + rootfs/) from store paths
outside a Nix build. The closure is that of every store path PROGRAM, ARGS,
--env values and --workdir mention; it comes from the Nix daemon (else
nix path-info --json --recursive) or from --graph. DIR must not exist: the
bundle is written beside it and renamed into place when complete; on an
error or SIGINT/SIGTERM what was written is removed.

Every option of the Nix library's buildContainer can be given, in a JSON
file with --options (the same object the library passes to the builder,
e.g. {"user": "app", "env": {"LANG": "C.UTF-8"}}) or with the flags below,
which override the file.

Options:
  --out DIR                 where to write the bundle (required)
  --graph FILE              closure graph: the JSON array of exportReferencesGraph
                            or nix path-info --json, or the text registration format
  --store-dir DIR           store directory (default: $NIX_STORE_DIR, $NIX_STORE, /nix/store)
  --options FILE            container options as JSON
  --jobs N                  copy workers (default: one per CPU)
  --store-mode MODE         copy (default), reflink, hardlink (links into the
                            store, falling back to copies) or bind (nothing
                            copied: read-only bind mounts of the host's store)
  --verify=BOOL             check every store path against the NAR hash of the
                            closure graph (default true, false for bind; with
                            bind, true reads the whole closure to check it)
  --env NAME=VALUE          environment variable (repeatable)
  --workdir DIR             working directory (default /)
  --hostname NAME           host name (default container)
  --user NAME|UID           process user (default root)
  --group NAME|GID          process group (default: the user's)
  --extra-user NAME=UID[:GID[:HOME]]     an /etc/passwd entry (repeatable)
  --extra-group NAME=GID[:MEMBER,...]    an /etc/group entry (repeatable)
  --readonly=BOOL           nixpkgs' option; the root filesystem is always
                            read-only (false warns: see oci-builder writable)
  --seccomp PROFILE         default (Docker's profile, adjusted to the
                            capabilities), unconfined, or a profile FILE in
                            Docker's JSON format
  --terminal                attach a terminal
  --network private|host    network namespace (default private)
  --mount dst=PATH[,src=PATH][,type=TYPE][,option=OPT]...[,file]
                            a mount (repeatable); a bind mount without type
  --cap NAME                capability for the bounding, effective and permitted
                            sets (repeatable; replaces the default set)
  --no-new-privileges=BOOL  (default true)
  --rlimit NAME=SOFT[:HARD] resource limit (repeatable), e.g. nofile=4096
  --memory SIZE             memory limit, e.g. 256M
  --cpus N                  CPU limit, e.g. 0.5
  --pids N                  process limit
  --no-tmp                  no writable /tmp, /var/tmp, /run or home (tmpfs)
  --annotation KEY=VALUE    annotation (repeatable)
  --extra-config JSON|@FILE deep-merged into config.json
  --rootless-uid N, --rootless-gid N     build for this unprivileged host user
  --os OS, --arch ARCH      platform (default linux and this machine's)

Examples:
  oci-builder bundle --out hello -- $(nix-build '<nixpkgs>' -A hello)/bin/hello
  oci-builder bundle --out web --user app --env PORT=8080 \
    --mount dst=/data,src=/srv/data -- /nix/store/...-web/bin/web
  runc run --bundle hello hello

Exit status: 0 on success, 1 on an error (interrupted included), 2 on a
usage error.`

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runBundle(ctx context.Context, e env, args []string) error {
	var opts container.Options
	fs := flag.NewFlagSet("bundle", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		out, graphFile, storeDir, optionsFile = fs.String("out", "", ""), fs.String("graph", "", ""), fs.String("store-dir", "", ""), fs.String("options", "", "")
		jobs                                  = fs.Int("jobs", 0, "")
	)
	check := containerFlags(fs, &opts)
	if err := parseWithOptionsFile(fs, args, optionsFile, &opts); err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	if *out == "" {
		return &usageError{"bundle needs --out DIR (see oci-builder bundle --help)"}
	}
	if fs.NArg() == 0 {
		return &usageError{"bundle needs a PROGRAM to run (see oci-builder bundle --help)"}
	}
	if *jobs < 0 {
		return &usageError{"bundle: --jobs must not be negative"}
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("output directory %s already exists", *out)
	}
	if err := refuseInStore(*out, *storeDir, e.getenv); err != nil {
		return err
	}
	if err := removeStale(e, *out); err != nil {
		return err
	}

	graph, err := closureGraph(ctx, e.getenv, *graphFile, *storeDir, opts)
	if err != nil {
		return err
	}
	opts.StartCheck = startCheck(opts)
	plan, err := bundle.NewPlan(graph, opts, bundle.HostStore{})
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(e.stderr, "oci-builder: warning: %s\n", w)
	}
	if err := writeBundle(ctx, e.stderr, *out, plan, bundle.WriteOptions{Workers: *jobs}, "", bundle.WriteAtomic); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; removed the partial bundle: %w", err)
		}
		return err
	}
	return printResult(e.stdout, *out, "the bundle "+*out+" is written")
}

// closureGraph reads the graph file (in the store directory given, or the
// one its paths are in), or asks the local store (in the store directory
// given, or the one the environment names) for the closure of the store
// paths the process mentions (container.Mentions).
func closureGraph(ctx context.Context, getenv func(string) string, graphFile, storeDir string, opts container.Options) (*store.Graph, error) {
	if graphFile != "" {
		g, err := store.ReadFile(graphFile, storeDir)
		if err != nil || g.Len() > 0 {
			return g, err
		}
		// An empty graph names no store directory, so nothing would be
		// looked up in it: say so when the options mention a store path.
		if storeDir == "" {
			storeDir = local.StoreDir(getenv)
		}
		for _, m := range container.Mentions(opts) {
			if found := store.Mentions(m.Value, storeDir); len(found) > 0 {
				return nil, fmt.Errorf("%s: %s %w (the graph %s is empty)", m.Option, m.Value[found[0].Start:found[0].End], store.ErrNotInGraph, graphFile)
			}
		}
		return g, nil
	}
	if storeDir == "" {
		storeDir = local.StoreDir(getenv)
	}
	var strs []local.Named
	for _, m := range container.Mentions(opts) {
		strs = append(strs, local.Named{Name: m.Option, Value: m.Value})
	}
	g, err := local.ClosureOf(ctx, getenv, storeDir, strs)
	if err != nil && ctx.Err() != nil {
		// Not Nix's failure: nix path-info was stopped, or the
		// daemon's connection closed, because we were.
		return nil, errors.New("interrupted while asking the Nix store for the closure; nothing was written")
	}
	return g, err
}

func parseID(s string) (*container.ID, error) {
	var id container.ID
	if err := id.UnmarshalJSON([]byte(strconv.Quote(s))); err != nil {
		return nil, err
	}
	return &id, nil
}

// parseMount reads dst=PATH[,src=PATH][,type=TYPE][,option=OPT]...[,file].
func parseMount(spec string) (container.Mount, error) {
	var m container.Mount
	for _, field := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(field, "=")
		switch k {
		case "dst", "destination", "target":
			m.Destination = v
		case "src", "source":
			m.Source = v
		case "type":
			m.Type = v
		case "option", "opt":
			m.Options = append(m.Options, v)
		case "file":
			m.IsFile = true
		default:
			return m, fmt.Errorf("--mount %q: unknown field %q (dst, src, type, option, file)", spec, k)
		}
	}
	if m.Destination == "" {
		return m, fmt.Errorf("--mount %q: no dst=", spec)
	}
	return m, nil
}

// parseRlimit reads NAME=SOFT[:HARD].
func parseRlimit(s string) (string, container.Rlimit, error) {
	name, v, ok := strings.Cut(s, "=")
	soft, hard, twoValues := strings.Cut(v, ":")
	if !twoValues {
		hard = soft
	}
	a, err1 := strconv.ParseUint(soft, 10, 64)
	b, err2 := strconv.ParseUint(hard, 10, 64)
	if !ok || name == "" || err1 != nil || err2 != nil {
		return "", container.Rlimit{}, fmt.Errorf("--rlimit %q is not NAME=SOFT[:HARD]", s)
	}
	return name, container.Rlimit{Soft: a, Hard: b}, nil
}

// parseExtraUser reads NAME=UID[:GID[:HOME]].
func parseExtraUser(s string) (string, container.UserEntry, error) {
	name, v, ok := strings.Cut(s, "=")
	parts := strings.SplitN(v, ":", 3)
	bad := fmt.Errorf("--extra-user %q is not NAME=UID[:GID[:HOME]]", s)
	if !ok || name == "" {
		return "", container.UserEntry{}, bad
	}
	uid, err := strconv.ParseUint(parts[0], 10, 32)
	if err != nil {
		return "", container.UserEntry{}, bad
	}
	e := container.UserEntry{UID: uint32(uid)}
	if len(parts) > 1 && parts[1] != "" {
		gid, err := strconv.ParseUint(parts[1], 10, 32)
		if err != nil {
			return "", container.UserEntry{}, bad
		}
		g := uint32(gid)
		e.GID = &g
	}
	if len(parts) > 2 {
		e.Home = parts[2]
	}
	return name, e, nil
}

// parseExtraGroup reads NAME=GID[:MEMBER,...].
func parseExtraGroup(s string) (string, container.GroupEntry, error) {
	name, v, ok := strings.Cut(s, "=")
	gidText, members, hasMembers := strings.Cut(v, ":")
	gid, err := strconv.ParseUint(gidText, 10, 32)
	if !ok || name == "" || err != nil {
		return "", container.GroupEntry{}, fmt.Errorf("--extra-group %q is not NAME=GID[:MEMBER,...]", s)
	}
	e := container.GroupEntry{GID: uint32(gid)}
	if hasMembers && members != "" {
		e.Members = strings.Split(members, ",")
	}
	return name, e, nil
}
