//go:build linux

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
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
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
	incrShape  bool // the incremental rows on the shape closure only
	pause      time.Duration
	goroot     string
	bigPaths   int
	sizePct    int
	shapePaths int // 0: every node of the shape
	shapePct   int
	scaleSizes []int
}

// bench holds what the steps share.
type bench struct {
	cfg     config
	repo    string
	work    string
	builder string // directory holding bin/oci-builder
	// builderStore is builder added to the store, which the expressions
	// take.
	builderStore string
	gen          string // directory holding bin/fixturegen
	busybox      string // directory holding bin/busybox and bin/sh
	goroot       string // the store path of cfg.goroot, or ""
	report       *bytes.Buffer
	results      map[string]float64 // medians by key, for the targets
	rss          map[string]int64   // peak RSS in KiB by mode
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
	flag.BoolVar(&cfg.incrShape, "incremental-shape-only", false, "the incremental rows on the shape closure only: its rebuild against its floor (no chain, baseline, pushes or store space)")
	flag.DurationVar(&cfg.pause, "pause", 0, "idle time before each measurement on the store's filesystem, for virtual disks that throttle sustained I/O")
	//lint:ignore SA1019 the default GOROOT of the machine that runs the benchmark is what it measures (go.mod says go 1.25 since go-containerregistry)
	flag.StringVar(&cfg.goroot, "goroot", runtime.GOROOT(), "directory added to the store as one path of the big fixture")
	flag.Parse()
	if cfg.onlyIncr {
		cfg.skipXFS, cfg.skipE2E, cfg.skipScale, cfg.skipAsm, cfg.skipImage, cfg.skipVerify = true, true, true, true, true, true
	}
	cfg.bigPaths, cfg.sizePct, cfg.scaleSizes, cfg.shapePaths, cfg.shapePct = 2048, 100, []int{10, 100, 1000, 5000}, 0, 25
	if cfg.smoke {
		cfg.reps, cfg.e2eReps = 1, 1
		cfg.bigPaths, cfg.sizePct, cfg.scaleSizes, cfg.goroot = 40, 5, []int{5, 20}, ""
		cfg.shapePaths, cfg.shapePct = 60, 1
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

// prepare builds oci-builder and fixturegen and copies busybox.
func (b *bench) prepare(ctx context.Context) error {
	b.builder = filepath.Join(b.work, "oci-builder")
	if err := goBuild(ctx, b.repo, "./cmd/oci-builder", filepath.Join(b.builder, "bin/oci-builder")); err != nil {
		return err
	}
	// Added once, as users have it (a package in the store): imported in
	// the expression, its 16 MB would be hashed again at every
	// evaluation of an image, a cost the floor does not pay.
	out, err := exec.CommandContext(ctx, "nix-store", "--add", b.builder).Output()
	if err != nil {
		return fmt.Errorf("nix-store --add %s: %w", b.builder, err)
	}
	b.builderStore = strings.TrimSpace(string(out))
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
	shapePaths := "null"
	if b.cfg.shapePaths > 0 {
		shapePaths = fmt.Sprint(b.cfg.shapePaths)
	}
	return fmt.Sprintf(`let b = import %s/bench/bench.nix {
  gen = %s; busybox = %s; oci-builder = %s; goroot = %s;
  bigPaths = %d; sizePercent = %d; scalePaths = %d;
  shapePaths = %s; shapePercent = %d;
}; in %s`, b.repo, b.gen, b.busybox, fmt.Sprintf("%q", b.builderStore), goroot, b.cfg.bigPaths, b.cfg.sizePct, b.cfg.scaleSizes[len(b.cfg.scaleSizes)-1], shapePaths, b.cfg.shapePct, body)
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
		if err := b.endToEnd(ctx, big, "b.bigRoot", "e2e", "the chain closure", true); err != nil {
			return err
		}
		shape, err := b.loadClosure(ctx, "shape", "b.shapeRoot")
		if err != nil {
			return err
		}
		if err := b.endToEnd(ctx, shape, "b.shapeRoot", "e2e-shape", "the shape closure (Debian's kde-full: "+shape.describe()+")", false); err != nil {
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
	check("bind ≥ 30× faster end to end than nixpkgs-style (chain)", ratio(r["e2e/nixpkgs"], r["e2e/bind"]), r["e2e/nixpkgs"] >= 30*r["e2e/bind"], "e2e/nixpkgs", "e2e/bind")
	if _, ok := r["e2e/floor"]; ok {
		b.printf("| end to end: bind over the floor of a build with this closure (chain) | %s | (reported) |\n", ratio(r["e2e/bind"], r["e2e/floor"]))
	}
	check("bind ≥ 30× faster end to end than nixpkgs-style (shape)", ratio(r["e2e-shape/nixpkgs"], r["e2e-shape/bind"]), r["e2e-shape/nixpkgs"] >= 30*r["e2e-shape/bind"], "e2e-shape/nixpkgs", "e2e-shape/bind")
	if _, ok := r["e2e-shape/floor"]; ok {
		b.printf("| end to end: bind over the floor (shape) | %s | (reported) |\n", ratio(r["e2e-shape/bind"], r["e2e-shape/floor"]))
	}
	check("image (gzip) ≥ 2× faster than `tar -c | gzip -6`", ratio(r["image/tar-gzip"], r["image/image-gzip"]), r["image/tar-gzip"] >= 2*r["image/image-gzip"], "image/tar-gzip", "image/image-gzip")
	b.verifyTargets(check)
	for _, k := range []string{"chain", "shape"} {
		rb, fl := r["incr/"+k+"/rebuild"], r["incr/"+k+"/floor"]
		check("incremental image ("+k+"): rebuild after changing the application ≤ 1.2× the floor", fmt.Sprintf("%.2f×", rb/fl), rb <= 1.2*fl, "incr/"+k+"/rebuild", "incr/"+k+"/floor")
	}
	check("incremental image: rebuild after changing the application ≤ 10 % of the full build (chain)", fmt.Sprintf("%.1f %%", 100*r["incr/rebuild"]/r["incr/full"]), r["incr/rebuild"] <= 0.1*r["incr/full"], "incr/rebuild", "incr/full")
	check("incremental image: the second push uploads only the application's layer", fmt.Sprintf("%.0f layers uploaded", r["incr/second-push-layers"]), r["incr/second-push-layers"] == 1, "incr/second-push-layers")
	check("incremental image: two versions cost at most one compressed closure in the store (+1 %)", fmt.Sprintf("%.3f×", r["incr/space-ratio"]), r["incr/space-ratio"] <= 1.01, "incr/space-ratio")
	check("peak RSS ≤ 64 MiB on the 1 GiB closure", fmt.Sprintf("%.1f MiB", r["rss"]), r["rss"] <= 64, "rss")
}
