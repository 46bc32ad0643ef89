// Command bench measures how fast a container's rootfs is assembled: by
// nixpkgs' tar pipeline, by cp -a and by oci-builder's store modes, against
// the floors of the filesystem (cp -al for metadata, dd for bytes), and end
// to end through nix-build. Run it with bench/run, as root; it prints a
// Markdown report.
//
// It builds its fixtures in the local Nix store (bench/bench.nix), then, in
// one run, measures each candidate several times, alternating candidates
// between repetitions, and reports medians and ratios. -smoke runs the same
// steps on a tiny fixture, once each, in seconds: CI uses it to keep the
// harness working; its timings mean nothing.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		os.Exit(1)
	}
}

// config is the benchmark's settings, from flags.
type config struct {
	smoke      bool
	reps       int
	e2eReps    int
	out        string
	profileDir string
	workDir    string
	skipXFS    bool
	skipE2E    bool
	skipScale  bool
	skipAsm    bool
	skipImage  bool
	skipVerify bool
	skipIncr   bool
	onlyIncr   bool
	pause      time.Duration
	goroot     string
	bigPaths   int
	sizePct    int
	scaleSizes []int
}

// bench holds what the steps share.
type bench struct {
	cfg     config
	repo    string
	work    string
	builder string // directory holding bin/oci-builder
	gen     string // directory holding bin/fixturegen
	busybox string // directory holding bin/busybox and bin/sh
	goroot  string // the store path of cfg.goroot, or ""
	report  *bytes.Buffer
	results map[string]float64 // medians by key, for the targets
	rss     map[string]int64   // peak RSS in KiB by mode
}

func run() error {
	var cfg config
	flag.BoolVar(&cfg.smoke, "smoke", false, "run every step on a tiny fixture, once (seconds; for CI)")
	flag.IntVar(&cfg.reps, "reps", 3, "repetitions of each rootfs assembly")
	flag.IntVar(&cfg.e2eReps, "e2e-reps", 3, "repetitions of each end-to-end nix-build")
	flag.StringVar(&cfg.out, "out", "", "also write the report to this file")
	flag.StringVar(&cfg.profileDir, "profile", "", "write CPU profiles of oci-builder's copy (ext4, tmpfs) to this directory")
	flag.StringVar(&cfg.workDir, "work", "/var/tmp", "directory on the store's filesystem for scratch space")
	flag.BoolVar(&cfg.skipXFS, "skip-xfs", false, "skip reflink against copy on XFS")
	flag.BoolVar(&cfg.skipE2E, "skip-e2e", false, "skip the end-to-end nix-build comparison")
	flag.BoolVar(&cfg.skipScale, "skip-scale", false, "skip the scaling table")
	flag.BoolVar(&cfg.skipAsm, "skip-assembly", false, "skip rootfs assembly into ext4 and tmpfs (and the profiles)")
	flag.BoolVar(&cfg.skipImage, "skip-image", false, "skip the OCI image against tar | gzip")
	flag.BoolVar(&cfg.skipVerify, "skip-verify", false, "skip copy with and without NAR verification")
	flag.BoolVar(&cfg.skipIncr, "skip-incremental", false, "skip the incremental image rows (layer derivations, rebuild, push, store space)")
	flag.BoolVar(&cfg.onlyIncr, "only-incremental", false, "run only the incremental image rows (on the full fixture unless -smoke)")
	flag.DurationVar(&cfg.pause, "pause", 0, "idle time before each measurement on the store's filesystem, for virtual disks that throttle sustained I/O")
	//lint:ignore SA1019 the default GOROOT of the machine that runs the benchmark is what it measures (go.mod says go 1.25 since go-containerregistry)
	flag.StringVar(&cfg.goroot, "goroot", runtime.GOROOT(), "directory added to the store as one path of the big fixture")
	flag.Parse()
	if cfg.onlyIncr {
		cfg.skipXFS, cfg.skipE2E, cfg.skipScale, cfg.skipAsm, cfg.skipImage, cfg.skipVerify = true, true, true, true, true, true
	}
	cfg.bigPaths, cfg.sizePct, cfg.scaleSizes = 2048, 100, []int{10, 100, 1000, 5000}
	if cfg.smoke {
		cfg.reps, cfg.e2eReps = 1, 1
		cfg.bigPaths, cfg.sizePct, cfg.scaleSizes, cfg.goroot = 40, 5, []int{5, 20}, ""
	}
	if os.Geteuid() != 0 {
		return errors.New("run as root: the benchmark mounts a tmpfs and an XFS loop device and drops caches")
	}
	for _, tool := range []string{"nix-build", "nix-store", "tar", "cp", "dd", "xargs", "mount", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found", tool)
		}
	}
	if !cfg.skipXFS {
		if _, err := exec.LookPath("mkfs.xfs"); err != nil {
			return errors.New("mkfs.xfs not found (apt-get install xfsprogs, or -skip-xfs)")
		}
	}
	repo, err := filepath.Abs(".")
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, "bench/bench.nix")); err != nil {
		return errors.New("run from the repository's root (bench/run does)")
	}
	work, err := os.MkdirTemp(cfg.workDir, "oci-builder-bench-")
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, repo: repo, work: work, report: &bytes.Buffer{}, results: map[string]float64{}, rss: map[string]int64{}}
	defer b.cleanup()
	ctx, stop := signalContext()
	defer stop()
	if err := b.prepare(ctx); err != nil {
		return err
	}
	return b.runAll(ctx)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// printf writes to the report (and to stdout).
func (b *bench) printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	b.report.WriteString(s)
	os.Stdout.WriteString(s)
}

func (b *bench) cleanup() {
	for _, m := range []string{filepath.Join(b.work, "tmpfs"), filepath.Join(b.work, "xfs")} {
		if isMountpoint(m) {
			exec.Command("umount", m).Run()
		}
	}
	if loop, err := os.ReadFile(filepath.Join(b.work, "loopdev")); err == nil {
		exec.Command("losetup", "--detach", strings.TrimSpace(string(loop))).Run()
	}
	exec.Command("rm", "-rf", b.work).Run()
}

func isMountpoint(p string) bool {
	return exec.Command("mountpoint", "-q", p).Run() == nil
}

// prepare builds oci-builder and fixturegen and copies busybox.
func (b *bench) prepare(ctx context.Context) error {
	b.builder = filepath.Join(b.work, "oci-builder")
	if err := goBuild(ctx, b.repo, "./cmd/oci-builder", filepath.Join(b.builder, "bin/oci-builder")); err != nil {
		return err
	}
	// fixturegen goes to a fixed place so that its store path, and so the
	// fixtures, stay the same from run to run.
	b.gen = filepath.Join(b.cfg.workDir, "oci-builder-bench-fixturegen")
	if err := os.RemoveAll(b.gen); err != nil {
		return err
	}
	if err := goBuild(ctx, b.repo, "./bench/fixturegen", filepath.Join(b.gen, "bin/fixturegen")); err != nil {
		return err
	}
	if b.cfg.goroot != "" {
		// Added once here: importing it in the expression would hash it
		// again at every evaluation, and nix-build's times with it.
		out, err := exec.CommandContext(ctx, "nix-store", "--add", b.cfg.goroot).Output()
		if err != nil {
			return fmt.Errorf("nix-store --add %s: %w", b.cfg.goroot, err)
		}
		b.goroot = strings.TrimSpace(string(out))
	}
	b.busybox = filepath.Join(b.work, "busybox")
	if err := os.MkdirAll(filepath.Join(b.busybox, "bin"), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox: %w (apt-get install busybox-static)", err)
	}
	if err := os.WriteFile(filepath.Join(b.busybox, "bin/busybox"), data, 0o755); err != nil {
		return err
	}
	return os.Symlink("busybox", filepath.Join(b.busybox, "bin/sh"))
}

func goBuild(ctx context.Context, repo, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if data, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, data)
	}
	return nil
}

// expr is a Nix expression using bench/bench.nix as `b`.
func (b *bench) expr(body string) string {
	goroot := "null"
	if b.goroot != "" {
		goroot = fmt.Sprintf("%q", b.goroot)
	}
	return fmt.Sprintf(`let b = import %s/bench/bench.nix {
  gen = %s; busybox = %s; oci-builder = %s; goroot = %s;
  bigPaths = %d; sizePercent = %d; scalePaths = %d;
}; in %s`, b.repo, b.gen, b.busybox, b.builder, goroot, b.cfg.bigPaths, b.cfg.sizePct, b.cfg.scaleSizes[len(b.cfg.scaleSizes)-1], body)
}

// nixBuild builds a Nix expression (see expr) with the sandbox off and no
// substituters, and returns the output path and the wall time.
func (b *bench) nixBuild(ctx context.Context, body string) (string, time.Duration, error) {
	file := filepath.Join(b.work, "expr.nix")
	if err := os.WriteFile(file, []byte(b.expr(body)), 0o644); err != nil {
		return "", 0, err
	}
	cmd := exec.CommandContext(ctx, "nix-build", file, "--no-out-link", "--option", "substituters", "", "--option", "sandbox", "false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return "", d, fmt.Errorf("nix-build %s: %v\n%s", body, err, tail(stderr.String(), 3000))
	}
	return strings.TrimSpace(stdout.String()), d, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// closure is a fixture closure as the builder sees it.
type closure struct {
	name  string
	root  string
	attrs map[string]json.RawMessage // .attrs.json of a container of root
	paths []string
	// Counts of what the closure holds.
	files, dirs, symlinks, bytes int64
}

// loadClosure builds the closure of root and reads its graph as Nix gives
// it to a builder.
func (b *bench) loadClosure(ctx context.Context, name, rootExpr string) (*closure, error) {
	b.logf("building fixture %s", name)
	root, _, err := b.nixBuild(ctx, rootExpr)
	if err != nil {
		return nil, err
	}
	attrsPath, _, err := b.nixBuild(ctx, "b.attrs ("+rootExpr+")")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(attrsPath)
	if err != nil {
		return nil, err
	}
	c := &closure{name: name, root: root}
	if err := json.Unmarshal(data, &c.attrs); err != nil {
		return nil, fmt.Errorf("%s: %w", attrsPath, err)
	}
	var graph []struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(c.attrs["closure"], &graph); err != nil {
		return nil, fmt.Errorf("%s: closure: %w", attrsPath, err)
	}
	for _, g := range graph {
		c.paths = append(c.paths, g.Path)
	}
	sort.Strings(c.paths)
	for _, p := range c.paths {
		err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				c.symlinks++
			case d.IsDir():
				c.dirs++
			default:
				info, err := d.Info()
				if err != nil {
					return err
				}
				c.files++
				c.bytes += info.Size()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *closure) describe() string {
	return fmt.Sprintf("%d store paths, %d files, %d directories, %d symlinks, %s", len(c.paths), c.files, c.dirs, c.symlinks, gib(c.bytes))
}

func gib(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// builderAttrs writes the .attrs.json that the builder of a container of c
// would get, with its output at out and the given store mode (and the
// container options in extra), optionally with the whole store moved to
// storeDir; it returns the file.
func (b *bench) builderAttrs(c *closure, mode, out, storeDir string, extra map[string]any) (string, error) {
	attrs := map[string]any{}
	for k, v := range c.attrs {
		attrs[k] = v
	}
	bb := ""
	for _, p := range c.paths {
		if strings.HasSuffix(p, "-busybox") {
			bb = p
		}
	}
	attrs["outputs"] = map[string]string{"out": out}
	container := map[string]any{"args": []string{bb + "/bin/sh", "-c", "echo " + c.root}, "storeMode": mode}
	for k, v := range extra {
		container[k] = v
	}
	attrs["container"] = container
	attrs["storeDir"] = "/nix/store"
	data, err := json.Marshal(attrs)
	if err != nil {
		return "", err
	}
	if storeDir != "" {
		data = bytes.ReplaceAll(data, []byte(`"/nix/store`), []byte(`"`+storeDir))
		data = bytes.ReplaceAll(data, []byte(` /nix/store/`), []byte(` `+storeDir+`/`))
	}
	f, err := os.CreateTemp(b.work, "attrs-*.json")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// builderRun is what a run of the builder took.
type builderRun struct {
	wall, cpu time.Duration // cpu: user + system
	rss       int64         // peak, KiB
	stderr    string
}

// runBuilder runs `oci-builder nix-builder` outside Nix, as a build would,
// on the .attrs.json builderAttrs writes, and reports what it took.
func (b *bench) runBuilder(ctx context.Context, c *closure, mode, out, storeDir string, extra map[string]any) (builderRun, error) {
	var r builderRun
	attrs, err := b.builderAttrs(c, mode, out, storeDir, extra)
	if err != nil {
		return r, err
	}
	defer os.Remove(attrs)
	cmd := exec.CommandContext(ctx, filepath.Join(b.builder, "bin/oci-builder"), "nix-builder")
	cmd.Env = []string{"NIX_ATTRS_JSON_FILE=" + attrs, "NIX_BUILD_TOP=" + b.work, "NIX_BUILD_CORES=0", "PATH=/path-not-set"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	r.wall, r.stderr = time.Since(start), stderr.String()
	if err != nil {
		return r, fmt.Errorf("oci-builder nix-builder (%s): %v\n%s", mode, err, tail(r.stderr, 2000))
	}
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.rss = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	return r, nil
}

// shell runs a bash script and returns its wall time.
func shell(ctx context.Context, script string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -eo pipefail\n"+script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s: %v\n%s", script, err, tail(stderr.String(), 2000))
	}
	return d, nil
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// candidate is one way of assembling a rootfs under dir (which does not
// exist yet): it returns the time taken and the rootfs's store directory,
// whose contents are checked against the closure.
type candidate struct {
	name string
	// key names the candidate in results; empty for reference rows.
	key string
	run func(ctx context.Context, dir string) (time.Duration, error)
	// storeDir is where the candidate puts the closure, relative to dir;
	// empty when there is nothing to check (dd).
	storeDir string
	// checkFiles: the store directory must hold as many files as the closure.
	checkFiles bool
}

func (b *bench) candidates(c *closure, target string, storeDir string) []candidate {
	list := filepath.Join(b.work, "store-paths-"+c.name)
	srcStore := "/nix/store"
	if storeDir != "" {
		srcStore = storeDir
	}
	var lines []string
	for _, p := range c.paths {
		lines = append(lines, srcStore+strings.TrimPrefix(p, "/nix/store"))
	}
	os.WriteFile(list, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	ours := func(mode string) func(ctx context.Context, dir string) (time.Duration, error) {
		return func(ctx context.Context, dir string) (time.Duration, error) {
			r, err := b.runBuilder(ctx, c, mode, dir, storeDir, nil)
			if err == nil && r.rss > b.rss[mode+"/"+c.name] {
				b.rss[mode+"/"+c.name] = r.rss
			}
			return r.wall, err
		}
	}
	inStore := strings.TrimPrefix(srcStore, "/")
	return []candidate{
		{name: "nixpkgs: `xargs tar c \\| tar -x`", key: "tar", storeDir: "rootfs/" + inStore, checkFiles: true,
			run: func(ctx context.Context, dir string) (time.Duration, error) {
				return shell(ctx, fmt.Sprintf("mkdir -p %s/rootfs\nxargs tar c < %s 2>/dev/null | tar -xC %s/rootfs", q(dir), q(list), q(dir)))
			}},
		{name: "`cp -a`", key: "cp-a", storeDir: "rootfs/" + inStore, checkFiles: true,
			run: func(ctx context.Context, dir string) (time.Duration, error) {
				return shell(ctx, fmt.Sprintf("mkdir -p %s/rootfs/%s\nxargs cp -a -t %s/rootfs/%s < %s", q(dir), q(inStore), q(dir), q(inStore), q(list)))
			}},
		{name: "oci-builder copy", key: "copy", run: ours("copy"), storeDir: "rootfs/" + inStore, checkFiles: true},
		{name: "oci-builder hardlink", key: "hardlink", run: ours("hardlink"), storeDir: "rootfs/" + inStore, checkFiles: true},
		{name: "oci-builder bind", key: "bind", run: ours("bind"), storeDir: "rootfs/" + inStore},
		{name: "floor: `cp -al` (metadata only)", key: "cp-al", storeDir: "rootfs/" + inStore, checkFiles: true,
			run: func(ctx context.Context, dir string) (time.Duration, error) {
				return shell(ctx, fmt.Sprintf("mkdir -p %s/rootfs/%s\nxargs cp -al -t %s/rootfs/%s < %s", q(dir), q(inStore), q(dir), q(inStore), q(list)))
			}},
		{name: "floor: `dd` of the same bytes", key: "dd",
			run: func(ctx context.Context, dir string) (time.Duration, error) {
				return shell(ctx, fmt.Sprintf("mkdir -p %s\ndd if=/dev/zero of=%s/bytes bs=1M count=%d status=none", q(dir), q(dir), (c.bytes+(1<<20)-1)>>20))
			}},
	}
}

// measure runs each candidate reps times into fresh directories under base,
// rotating their order from one repetition to the next, and returns the
// times by candidate. prep runs before each measurement (sync, drop caches).
func (b *bench) measure(ctx context.Context, label, base string, c *closure, cands []candidate, prep func() error) (map[string][]time.Duration, error) {
	times := map[string][]time.Duration{}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	// A warm-up run, not measured: on the store's ext4 the first run after
	// a quiet spell is several times faster than the runs that follow a
	// deletion of the previous output, whatever the tool; without it the
	// first candidate of the first repetition would have that advantage.
	if len(cands) > 1 {
		dir := filepath.Join(base, "warm-up")
		if err := prep(); err != nil {
			return nil, err
		}
		warm := cands[len(cands)-1]
		for _, c := range cands {
			if c.key == "copy" {
				warm = c
			}
		}
		if _, err := warm.run(ctx, dir); err != nil {
			return nil, fmt.Errorf("%s, warm-up: %w", label, err)
		}
		if err := removeAll(dir); err != nil {
			return nil, err
		}
	}
	for rep := 0; rep < b.cfg.reps; rep++ {
		for k := range cands {
			cand := cands[(k+rep)%len(cands)]
			dir := filepath.Join(base, fmt.Sprintf("run-%d-%d", rep, k))
			if err := prep(); err != nil {
				return nil, err
			}
			d, err := cand.run(ctx, dir)
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", label, cand.name, err)
			}
			if rep == 0 && cand.storeDir != "" {
				if err := checkTree(filepath.Join(dir, cand.storeDir), c, cand.checkFiles); err != nil {
					return nil, fmt.Errorf("%s, %s: %w", label, cand.name, err)
				}
			}
			b.logf("%s: %s: %.2f s", label, cand.name, d.Seconds())
			times[cand.name] = append(times[cand.name], d)
			if err := removeAll(dir); err != nil {
				return nil, err
			}
		}
	}
	return times, nil
}

// checkTree checks that a candidate's store directory holds every path of
// the closure, and, with files, as many files as the closure: a candidate
// that loses paths (nixpkgs' xargs split does past ~128 KiB of path list)
// is not a fair comparison.
func checkTree(storeDir string, c *closure, files bool) error {
	entries, err := os.ReadDir(storeDir)
	if err != nil {
		return err
	}
	if !files {
		return checkBind(storeDir, entries, c)
	}
	if len(entries) != len(c.paths) {
		return fmt.Errorf("%s holds %d entries, the closure %d paths", storeDir, len(entries), len(c.paths))
	}
	var n int64
	filepath.WalkDir(storeDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if n != c.files {
		return fmt.Errorf("%s holds %d files, the closure %d", storeDir, n, c.files)
	}
	return nil
}

// checkBind checks a bind-mode bundle whose rootfs store directory is
// storeDir (with entries): the directory is empty, and the bundle's
// config.json bind-mounts every path of c.
func checkBind(storeDir string, entries []os.DirEntry, c *closure) error {
	if len(entries) != 0 {
		return fmt.Errorf("%s holds %d entries in bind mode, want none", storeDir, len(entries))
	}
	bundle, _, ok := strings.Cut(storeDir, "/rootfs/")
	if !ok {
		return fmt.Errorf("%s is not in a bundle's rootfs", storeDir)
	}
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return err
	}
	var config struct {
		Mounts []struct{ Source string }
	}
	if err := json.Unmarshal(data, &config); err != nil {
		return fmt.Errorf("%s/config.json: %w", bundle, err)
	}
	want := make(map[string]bool, len(c.paths))
	for _, p := range c.paths {
		want[p] = true
	}
	n := 0
	for _, m := range config.Mounts {
		if want[m.Source] {
			n++
		}
	}
	if n != len(c.paths) {
		return fmt.Errorf("%s/config.json bind-mounts %d store paths, the closure has %d", bundle, n, len(c.paths))
	}
	return nil
}

func removeAll(dir string) error {
	if out, err := exec.Command("rm", "-rf", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("rm -rf %s: %v: %s", dir, err, out)
	}
	return nil
}

// syncFS writes dirty data back and waits for the store's disk to finish
// discarding what the previous run deleted: with ext4's discard option the
// discards of a deleted 1 GiB tree go on after sync returns and slow down
// whatever runs next, by up to several times.
func syncFS() error {
	syscall.Sync()
	waitDiscards(storeDisk(), time.Second, time.Minute)
	return nil
}

// settle is syncFS followed by the -pause idle time.
func (b *bench) settle() error {
	syncFS()
	time.Sleep(b.cfg.pause)
	return nil
}

// storeDisk names the block device (as in /proc/diskstats) holding the
// store, or "" when unknown.
func storeDisk() string {
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", "-T", "/nix/store").Output()
	if err != nil {
		return ""
	}
	return filepath.Base(strings.TrimSpace(string(out)))
}

// waitDiscards waits until disk has completed no discard and had no I/O in
// flight for quiet, or until limit.
func waitDiscards(disk string, quiet, limit time.Duration) {
	if disk == "" {
		return
	}
	read := func() (discards, inflight string) {
		data, err := os.ReadFile("/proc/diskstats")
		if err != nil {
			return "", ""
		}
		for _, l := range strings.Split(string(data), "\n") {
			f := strings.Fields(l)
			if len(f) >= 15 && f[2] == disk {
				return f[14], f[11]
			}
		}
		return "", ""
	}
	deadline := time.Now().Add(limit)
	last, _ := read()
	stable := time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		d, inflight := read()
		if d != last || inflight != "0" {
			last, stable = d, time.Now()
			continue
		}
		if time.Since(stable) >= quiet {
			return
		}
	}
}

func dropCaches() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2].Seconds()
	}
	return (s[len(s)/2-1] + s[len(s)/2]).Seconds() / 2
}

func secs(v float64) string {
	if v < 1 {
		return fmt.Sprintf("%.3f s", v)
	}
	return fmt.Sprintf("%.2f s", v)
}

// warm reads the closure once so that its pages are cached, as in a store
// in use.
func warm(c *closure) {
	for _, p := range c.paths {
		filepath.WalkDir(p, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if f, err := os.Open(p); err == nil {
					io.Copy(io.Discard, f)
					f.Close()
				}
			}
			return nil
		})
	}
}

func (b *bench) runAll(ctx context.Context) error {
	start := time.Now()
	big, err := b.loadClosure(ctx, "big", "b.bigRoot")
	if err != nil {
		return err
	}
	if !b.cfg.smoke && (big.bytes < 1<<30 || big.files < 70000 || len(big.paths) < 2000) {
		return fmt.Errorf("the big fixture is too small: %s (want at least 1 GiB, 70,000 files, 2,000 paths)", big.describe())
	}
	b.header(big)
	warm(big)

	if !b.cfg.skipAsm {
		if err := b.assembly(ctx, big); err != nil {
			return err
		}
	}
	if !b.cfg.skipXFS {
		if err := b.xfs(ctx, big); err != nil {
			return err
		}
	}
	if !b.cfg.skipE2E {
		if err := b.endToEnd(ctx, big); err != nil {
			return err
		}
	}
	if !b.cfg.skipImage {
		if err := b.images(ctx, big); err != nil {
			return err
		}
	}
	if !b.cfg.skipVerify {
		if err := b.verification(ctx, big); err != nil {
			return err
		}
	}
	if !b.cfg.skipIncr {
		if err := b.incremental(ctx); err != nil {
			return err
		}
	}
	if !b.cfg.onlyIncr {
		b.rssTable(big)
	}
	if !b.cfg.skipScale {
		if err := b.scaling(ctx); err != nil {
			return err
		}
	}
	b.targets()
	b.printf("\nThe whole run took %.0f s.\n", time.Since(start).Seconds())
	if b.cfg.out != "" {
		return os.WriteFile(b.cfg.out, b.report.Bytes(), 0o644)
	}
	return nil
}

// assembly measures rootfs assembly into the store's filesystem and into a
// tmpfs, and profiles it when asked.
func (b *bench) assembly(ctx context.Context, big *closure) error {
	tmpfs := filepath.Join(b.work, "tmpfs")
	if err := os.Mkdir(tmpfs, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16g", "tmpfs", tmpfs).CombinedOutput(); err != nil {
		return fmt.Errorf("mount tmpfs: %v: %s", err, out)
	}
	targets := []struct{ name, dir string }{{"ext4", filepath.Join(b.work, "ext4")}, {"tmpfs", tmpfs}}
	medians := map[string]map[string]float64{}
	cands := b.candidates(big, "", "")
	for _, t := range targets {
		cs := cands
		if t.name == "tmpfs" {
			// Hard links cannot cross filesystems: cp -al fails and
			// hardlink mode copies (it is measured anyway).
			cs = nil
			for _, c := range cands {
				if c.key != "cp-al" {
					cs = append(cs, c)
				}
			}
		}
		times, err := b.measure(ctx, t.name, t.dir, big, cs, b.settle)
		if err != nil {
			return err
		}
		medians[t.name] = map[string]float64{}
		for _, c := range cs {
			medians[t.name][c.key] = median(times[c.name])
			b.results[t.name+"/"+c.key] = median(times[c.name])
		}
	}
	b.assemblyTable(cands, medians)

	if b.cfg.profileDir != "" {
		if err := b.profile(ctx, big, targets[0].dir, tmpfs); err != nil {
			return err
		}
	}
	exec.Command("umount", tmpfs).Run()
	return nil
}

func (b *bench) header(big *closure) {
	host, _ := os.Hostname()
	var u syscall.Utsname
	syscall.Uname(&u)
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(data), "\n", 2)[0], "MemTotal:"))
	}
	load, _ := os.ReadFile("/proc/loadavg")
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	title := "Benchmark"
	if b.cfg.smoke {
		title = "Benchmark (smoke run: tiny fixture, one repetition; timings mean nothing)"
	}
	b.printf("## %s\n\n", title)
	b.printf("- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	b.printf("- machine: %s, %d CPUs (%s), %s RAM, kernel %s; load average at start %s\n",
		host, runtime.NumCPU(), model, mem, cstr(u.Release[:]), strings.Join(strings.Fields(string(load))[:3], " "))
	b.printf("- store filesystem: %s; tools: %s, %s\n", storeFS(), firstLine("tar", "--version"), firstLine("cp", "--version"))
	b.printf("- fixture: %s; %d repetitions per candidate, alternating, medians shown; before each: sync, wait for the disk's discards, then %v idle\n\n", big.describe(), b.cfg.reps, b.cfg.pause)
}

func cstr(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func storeFS() string {
	out, err := exec.Command("findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", "/nix/store").Output()
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(out)), " on ")
}

func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return name
	}
	return strings.SplitN(string(out), "\n", 2)[0]
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func (b *bench) assemblyTable(cands []candidate, m map[string]map[string]float64) {
	b.printf("### Rootfs assembly (source pages cached, as in a store in use)\n\n")
	b.printf("Ratio: the candidate's time over oci-builder copy's on the same filesystem (above 1: copy is faster).\n\n")
	b.printf("| candidate | store's fs (ext4) | ratio | tmpfs | ratio |\n|---|---:|---:|---:|---:|\n")
	for _, c := range cands {
		e, t := m["ext4"][c.key], m["tmpfs"][c.key]
		ts, tr := "–", "–"
		if t > 0 {
			ts, tr = secs(t), ratio(t, m["tmpfs"]["copy"])
		}
		b.printf("| %s | %s | %s | %s | %s |\n", c.name, secs(e), ratio(e, m["ext4"]["copy"]), ts, tr)
	}
	floorE := m["ext4"]["cp-al"] + m["ext4"]["dd"]
	b.results["ext4/floor"] = floorE
	b.printf("| floor: `cp -al` + `dd` | %s | %s | – | – |\n\n", secs(floorE), ratio(floorE, m["ext4"]["copy"]))
	b.printf("Distance to the floor on ext4: copy takes %s the time of `cp -al` + `dd`; on the tmpfs, %s the time of `dd` alone.\n\n",
		ratio(m["ext4"]["copy"], floorE), ratio(m["tmpfs"]["copy"], m["tmpfs"]["dd"]))
}

// xfs measures reflink against copy on an XFS filesystem made with
// reflink=1 on a loop device, with a copy of the closure on it as the
// source and caches dropped before each measurement.
func (b *bench) xfs(ctx context.Context, big *closure) error {
	img := filepath.Join(b.work, "xfs.img")
	mnt := filepath.Join(b.work, "xfs")
	size := 3*big.bytes + 1<<30
	if size < 600<<20 {
		size = 600 << 20
	}
	f, err := os.OpenFile(img, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	f.Truncate(size)
	f.Close()
	if out, err := exec.Command("mkfs.xfs", "-q", "-m", "reflink=1", img).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.xfs: %v: %s", err, out)
	}
	loop, err := exec.Command("losetup", "--find", "--show", "--direct-io=on", img).Output()
	if err != nil {
		return fmt.Errorf("losetup: %w", err)
	}
	os.WriteFile(filepath.Join(b.work, "loopdev"), loop, 0o644)
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "xfs", strings.TrimSpace(string(loop)), mnt).CombinedOutput(); err != nil {
		return fmt.Errorf("mount xfs: %v: %s", err, out)
	}
	xstore := filepath.Join(mnt, "store")
	os.Mkdir(xstore, 0o755)
	b.logf("xfs: copying the closure to %s", xstore)
	if _, err := shell(ctx, fmt.Sprintf("cp -a --reflink=never %s %s", strings.Join(big.paths, " "), q(xstore))); err != nil {
		return err
	}
	var cands []candidate
	for _, c := range b.candidates(big, "xfs", xstore) {
		if c.key == "copy" || c.key == "cp-a" {
			cands = append(cands, c)
		}
	}
	cands = append(cands, candidate{name: "`cp -a --reflink=never` (bytes really written)", key: "cp-a-never", checkFiles: true,
		storeDir: "rootfs/" + strings.TrimPrefix(xstore, "/"),
		run: func(ctx context.Context, dir string) (time.Duration, error) {
			store := dir + "/rootfs" + xstore
			return shell(ctx, fmt.Sprintf("mkdir -p %s\nxargs cp -a --reflink=never -t %s < %s", q(store), q(store), q(filepath.Join(b.work, "store-paths-big"))))
		}})
	cands = append(cands, candidate{name: "oci-builder reflink", key: "reflink", checkFiles: true,
		storeDir: "rootfs/" + strings.TrimPrefix(xstore, "/"),
		run: func(ctx context.Context, dir string) (time.Duration, error) {
			r, err := b.runBuilder(ctx, big, "reflink", dir, xstore, nil)
			if r.rss > b.rss["reflink/big"] {
				b.rss["reflink/big"] = r.rss
			}
			return r.wall, err
		}})
	// Without verification, which reads every source file (from the disk:
	// the caches are dropped) to hash it: the store modes alone.
	for _, mode := range []string{"copy", "reflink"} {
		cands = append(cands, candidate{name: "oci-builder " + mode + ", `verify = false`", key: mode + "-unverified", checkFiles: true,
			storeDir: "rootfs/" + strings.TrimPrefix(xstore, "/"),
			run: func(ctx context.Context, dir string) (time.Duration, error) {
				r, err := b.runBuilder(ctx, big, mode, dir, xstore, map[string]any{"verify": false})
				return r.wall, err
			}})
	}
	times, err := b.measure(ctx, "xfs", filepath.Join(mnt, "out"), big, cands, dropCaches)
	if err != nil {
		return err
	}
	b.printf("### Reflink against copy on XFS (`mkfs.xfs -m reflink=1`, loop device, direct I/O; caches dropped before each run)\n\n")
	b.printf("| candidate | time | ratio to copy |\n|---|---:|---:|\n")
	cp := median(times["oci-builder copy"])
	for _, c := range cands {
		m := median(times[c.name])
		b.results["xfs/"+c.key] = m
		b.printf("| %s | %s | %s |\n", c.name, secs(m), ratio(m, cp))
	}
	b.printf("\n`cp -a` is GNU cp %s, which clones by default (`--reflink=auto`); with `--reflink=never` it reads and writes every byte. oci-builder's copy mode uses `copy_file_range`, which the kernel turns into a clone when source and target are on the same XFS (or Btrfs) filesystem, so on XFS it shares extents too. oci-builder verifies by default: it reads every source file to hash it, here from the disk; the `verify = false` rows leave that out.\n\n", strings.TrimPrefix(firstLine("cp", "--version"), "cp (GNU coreutils) "))
	exec.Command("umount", mnt).Run()
	return nil
}

// endToEnd times nix-build of a container of the big closure: a derivation
// doing what nixpkgs does, and oci-builder's in copy and bind mode.
func (b *bench) endToEnd(ctx context.Context, big *closure) error {
	type e2e struct{ name, key, expr string }
	kinds := []e2e{
		{"nixpkgs-style (`xargs tar c \\| tar -x`, host tools)", "nixpkgs", "b.nixpkgsStyle { root = b.bigRoot; nonce = %q; }"},
		{"oci-builder, storeMode copy", "copy", "b.container { root = b.bigRoot; storeMode = \"copy\"; nonce = %q; }"},
		{"oci-builder, storeMode bind", "bind", "b.container { root = b.bigRoot; storeMode = \"bind\"; nonce = %q; }"},
		{"floor: a derivation given the same closure graph that writes only its `.attrs.json`", "floor", "b.nixFloor { root = b.bigRoot; nonce = %q; }"},
	}
	times := map[string][]time.Duration{}
	sizes := map[string]int64{}
	for rep := 0; rep < b.cfg.e2eReps; rep++ {
		for k := range kinds {
			kind := kinds[(k+rep)%len(kinds)]
			var nb [6]byte
			rand.Read(nb[:])
			syncFS()
			out, d, err := b.nixBuild(ctx, fmt.Sprintf(kind.expr, hex.EncodeToString(nb[:])))
			if err != nil {
				return err
			}
			b.logf("nix-build: %s: %.2f s", kind.name, d.Seconds())
			times[kind.key] = append(times[kind.key], d)
			if du, err := exec.Command("du", "-sb", out).Output(); err == nil {
				var n int64
				fmt.Sscan(strings.Fields(string(du))[0], &n)
				sizes[kind.key] = n
			}
			if kind.key != "floor" {
				if err := checkTree(filepath.Join(out, "rootfs/nix/store"), big, kind.key != "bind"); err != nil {
					return fmt.Errorf("nix-build %s: %w", kind.name, err)
				}
			}
			deps, _ := exec.Command("nix-store", "--query", "--references", out).Output()
			if err := exec.Command("nix-store", "--delete", out).Run(); err != nil {
				b.logf("nix-store --delete %s: %v", out, err)
			}
			for _, dep := range strings.Fields(string(deps)) {
				if strings.Contains(dep, "-bench-closure-info-") {
					exec.Command("nix-store", "--delete", dep).Run()
				}
			}
		}
	}
	b.printf("### End to end: `nix-build` of a container of the closure (sandbox off, %d repetitions)\n\n", b.cfg.e2eReps)
	b.printf("| derivation | time | nixpkgs-style over it | bundle size |\n|---|---:|---:|---:|\n")
	np := median(times["nixpkgs"])
	for _, k := range kinds {
		m := median(times[k.key])
		b.results["e2e/"+k.key] = m
		b.printf("| %s | %s | %s | %s |\n", k.name, secs(m), ratio(np, m), size(sizes[k.key]))
	}
	b.printf("\n")
	return nil
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
}

func (b *bench) rssTable(big *closure) {
	b.printf("### Peak RSS of the builder (`oci-builder nix-builder`, %s)\n\n", big.describe())
	b.printf("| mode | peak RSS |\n|---|---:|\n")
	for _, mode := range []string{"copy", "reflink", "hardlink", "bind"} {
		if v, ok := b.rss[mode+"/big"]; ok {
			b.printf("| %s | %.1f MiB |\n", mode, float64(v)/1024)
			if float64(v)/1024 > b.results["rss"] {
				b.results["rss"] = float64(v) / 1024
			}
		}
	}
	b.printf("\n")
}

// scaling times each mode (and tar, cp -a) on closures of growing size,
// into the store's filesystem.
func (b *bench) scaling(ctx context.Context) error {
	b.printf("### Scaling: closures of small paths (5 entries each), into the store's filesystem\n\n")
	b.printf("| paths | nixpkgs tar | `cp -a` | copy | hardlink | bind | bind builder time per path |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range b.cfg.scaleSizes {
		c, err := b.loadClosure(ctx, fmt.Sprintf("scale%d", n), fmt.Sprintf("b.scaleRoot %d", n))
		if err != nil {
			return err
		}
		warm(c)
		var cands []candidate
		for _, cand := range b.candidates(c, "", "") {
			switch cand.key {
			case "tar", "cp-a", "copy", "hardlink", "bind":
				cands = append(cands, cand)
			}
		}
		row := map[string]string{}
		var ok, others []candidate
		times := map[string][]time.Duration{}
		for _, cand := range cands {
			if cand.key != "tar" {
				ok = append(ok, cand)
				others = append(others, cand)
				continue
			}
			// Past ~128 KiB of path list, xargs splits the list and tar -x
			// extracts only the first archive: say so when it loses paths.
			tt, err := b.measure(ctx, fmt.Sprintf("scale %d", n), filepath.Join(b.work, "scale"), c, []candidate{cand}, b.settle)
			if err != nil {
				row["tar"] = "loses paths"
				b.logf("%v", err)
				removeAll(filepath.Join(b.work, "scale"))
				continue
			}
			ok = append(ok, cand)
			times[cand.name] = tt[cand.name]
		}
		rest, err := b.measure(ctx, fmt.Sprintf("scale %d", n), filepath.Join(b.work, "scale"), c, others, b.settle)
		if err != nil {
			return err
		}
		for k, v := range rest {
			times[k] = v
		}
		for _, cand := range ok {
			m := median(times[cand.name])
			row[cand.key] = secs(m)
			b.results[fmt.Sprintf("scale%d/%s", n, cand.key)] = m
		}
		bind := b.results[fmt.Sprintf("scale%d/bind", n)]
		b.printf("| %d | %s | %s | %s | %s | %s | %.0f µs |\n", len(c.paths), row["tar"], row["cp-a"], row["copy"], row["hardlink"], row["bind"], bind/float64(len(c.paths))*1e6)
	}
	b.printf("\nEach closure also holds busybox. \"loses paths\": nixpkgs' pipeline produced an incomplete rootfs (its path list passed xargs' 128 KiB).\n\n")
	return nil
}

// profile writes CPU profiles of oci-builder's copy (into ext4 and the
// tmpfs), hardlink and bind (into ext4) of the big closure, run in this
// process from reading .attrs.json to the end of bundle.Write.
func (b *bench) profile(ctx context.Context, big *closure, ext4, tmpfs string) error {
	for _, t := range []struct{ mode, name, dir string }{{"copy", "ext4", ext4}, {"copy", "tmpfs", tmpfs}, {"hardlink", "ext4", ext4}, {"bind", "ext4", ext4}} {
		if err := b.profileOne(ctx, big, t.mode, t.dir, t.mode+"-"+t.name, nil); err != nil {
			return err
		}
	}
	return nil
}

// profileOne writes the CPU profile NAME.pprof, and its go tool pprof -top
// as NAME.txt, of a container of c in mode (with the container options in
// extra) written into dir by this process.
func (b *bench) profileOne(ctx context.Context, c *closure, mode, dir, name string, extra map[string]any) error {
	if err := os.MkdirAll(b.cfg.profileDir, 0o755); err != nil {
		return err
	}
	out := filepath.Join(dir, "profiled")
	attrsFile, err := b.builderAttrs(c, mode, out, "", extra)
	if err != nil {
		return err
	}
	defer os.Remove(attrsFile)
	syncFS()
	pf := filepath.Join(b.cfg.profileDir, name+".pprof")
	f, err := os.Create(pf)
	if err != nil {
		return err
	}
	pprof.StartCPUProfile(f)
	start := time.Now()
	err = writeFromAttrs(ctx, attrsFile, out)
	d := time.Since(start)
	pprof.StopCPUProfile()
	f.Close()
	if err != nil {
		return err
	}
	b.logf("profiled %s: %.2f s", name, d.Seconds())
	removeAll(out)
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", pf).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v: %s", err, top)
	}
	if err := os.WriteFile(strings.TrimSuffix(pf, ".pprof")+".txt", top, 0o644); err != nil {
		return err
	}
	b.logf("profile %s: %s", name, pf)
	return nil
}

// targets judges the targets from this run's ratios.
func (b *bench) targets() {
	r := b.results
	b.printf("### Targets (ratios from this run)\n\n")
	if b.cfg.smoke {
		b.printf("Smoke run: targets are not judged.\n")
		return
	}
	b.printf("| target | measured | met |\n|---|---|---|\n")
	check := func(name, measured string, ok bool, keys ...string) {
		for _, k := range keys {
			if _, have := r[k]; !have {
				return
			}
		}
		verdict := "yes"
		if !ok {
			verdict = "**no**"
		}
		b.printf("| %s | %s | %s |\n", name, measured, verdict)
	}
	check("tmpfs: copy ≥ 1.5× faster than the tar pipeline", ratio(r["tmpfs/tar"], r["tmpfs/copy"]), r["tmpfs/tar"] >= 1.5*r["tmpfs/copy"], "tmpfs/tar", "tmpfs/copy")
	check("tmpfs: copy ≥ 1.2× faster than `cp -a`", ratio(r["tmpfs/cp-a"], r["tmpfs/copy"]), r["tmpfs/cp-a"] >= 1.2*r["tmpfs/copy"], "tmpfs/cp-a", "tmpfs/copy")
	check("store's fs: copy no slower than the tar pipeline", ratio(r["ext4/tar"], r["ext4/copy"]), r["ext4/tar"] >= r["ext4/copy"], "ext4/tar", "ext4/copy")
	check("store's fs: copy no slower than `cp -a`", ratio(r["ext4/cp-a"], r["ext4/copy"]), r["ext4/cp-a"] >= r["ext4/copy"], "ext4/cp-a", "ext4/copy")
	if _, ok := r["ext4/floor"]; ok {
		b.printf("| store's fs: distance of copy to the floor (`cp -al` + `dd`) | %s | (reported) |\n", ratio(r["ext4/copy"], r["ext4/floor"]))
	}
	// The store modes alone: verification reads every source from the
	// cold disk in any mode, and is measured on its own below.
	check("XFS, `verify = false`: reflink ≥ 2× faster than oci-builder copy (which clones too, through copy_file_range)", ratio(r["xfs/copy-unverified"], r["xfs/reflink-unverified"]), r["xfs/copy-unverified"] >= 2*r["xfs/reflink-unverified"], "xfs/copy-unverified", "xfs/reflink-unverified")
	check("XFS, `verify = false`: reflink ≥ 2× faster than a copy writing the bytes (`cp -a --reflink=never`)", ratio(r["xfs/cp-a-never"], r["xfs/reflink-unverified"]), r["xfs/cp-a-never"] >= 2*r["xfs/reflink-unverified"], "xfs/cp-a-never", "xfs/reflink-unverified")
	if _, ok := r["xfs/reflink"]; ok {
		b.printf("| XFS, verified (the default): reflink against `cp -a --reflink=never` | %s | (reported) |\n", ratio(r["xfs/cp-a-never"], r["xfs/reflink"]))
	}
	check("hardlink within 1.5× of `cp -al`", ratio(r["ext4/hardlink"], r["ext4/cp-al"]), r["ext4/hardlink"] <= 1.5*r["ext4/cp-al"], "ext4/hardlink", "ext4/cp-al")
	worst, have := 0.0, false
	for k, v := range r {
		if strings.HasSuffix(k, "/bind") && (k == "ext4/bind" || strings.HasPrefix(k, "scale")) {
			have = true
			worst = max(worst, v)
		}
	}
	if have {
		check("bind under 100 ms of builder time at any size (worst, whole process)", secs(worst), worst < 0.1)
	}
	check("bind ≥ 30× faster end to end than nixpkgs-style", ratio(r["e2e/nixpkgs"], r["e2e/bind"]), r["e2e/nixpkgs"] >= 30*r["e2e/bind"], "e2e/nixpkgs", "e2e/bind")
	if _, ok := r["e2e/floor"]; ok {
		b.printf("| end to end: bind over the floor of a build with this closure | %s | (reported) |\n", ratio(r["e2e/bind"], r["e2e/floor"]))
	}
	check("image (gzip) ≥ 2× faster than `tar -c | gzip -6`", ratio(r["image/tar-gzip"], r["image/image-gzip"]), r["image/tar-gzip"] >= 2*r["image/image-gzip"], "image/tar-gzip", "image/image-gzip")
	b.verifyTargets(check)
	check("incremental image: rebuild after changing the application ≤ 10 % of the full build", fmt.Sprintf("%.1f %%", 100*r["incr/rebuild"]/r["incr/full"]), r["incr/rebuild"] <= 0.1*r["incr/full"], "incr/rebuild", "incr/full")
	check("incremental image: the second push uploads only the application's layer", fmt.Sprintf("%.0f layers uploaded", r["incr/second-push-layers"]), r["incr/second-push-layers"] == 1, "incr/second-push-layers")
	check("incremental image: two versions cost at most one compressed closure in the store (+1 %)", fmt.Sprintf("%.3f×", r["incr/space-ratio"]), r["incr/space-ratio"] <= 1.01, "incr/space-ratio")
	check("peak RSS ≤ 64 MiB on the 1 GiB closure", fmt.Sprintf("%.1f MiB", r["rss"]), r["rss"] <= 64, "rss")
}

// writeFromAttrs does what `oci-builder nix-builder` does with attrsFile,
// in this process.
func writeFromAttrs(ctx context.Context, attrsFile, out string) error {
	attrs, err := nixbuild.ReadAttrs(attrsFile)
	if err != nil {
		return err
	}
	raw, _ := attrs.Raw("container")
	opts, err := container.DecodeOptions(raw)
	if err != nil {
		return err
	}
	g, err := attrs.Graph("/nix/store")
	if err != nil {
		return err
	}
	plan, err := bundle.NewPlan(g, opts, bundle.HostStore{})
	if err != nil {
		return err
	}
	_, err = bundle.Write(ctx, out, plan, bundle.WriteOptions{Workers: runtime.NumCPU()})
	return err
}
