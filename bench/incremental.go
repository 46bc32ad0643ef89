//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// incremental measures issue 14's and 22's rows: on the chain fixture
// (GOROOT and the generated paths, the worst case of Nix's structured
// export) and on the shape fixture (a real package's dependency graph), a
// declared layer derivation of the closure and a small application with a
// nonce in one image: the full build, then rounds of the rebuild after a
// change to the application interleaved with the floor (one derivation
// given the structured export of the same closure); on the chain, also
// pushing both versions to a local docker-registry, the store space of
// the two versions, and a nixpkgs-style `tar | zstd` of the whole closure
// built twice as the baseline.
func (b *bench) incremental(ctx context.Context) error {
	b.printf("\n### Incremental images (issues 14 and 22)\n\n")
	b.printf("A closure as a declared layer derivation (`buildLayer`, zstd, up to 98 layers) and a small application path with a nonce, in one `buildImage` (zstd, `layers = [ deps ]`), through nix-build (sandbox off). The rebuild changes the application's nonce: once the application is built (untimed), nix-build builds one derivation, the image, which gets the structured export of the closure, links the declared layer's blobs and writes (and verifies) the application's layer itself. The floor: one derivation given the structured export of the same closure that writes only its `.attrs.json`. Rebuild and floor alternate, %d rounds, medians.\n\n", b.cfg.e2eReps)
	b.printf("| closure | paths | full build | rebuild | floor | rebuild / floor |\n|---|---:|---:|---:|---:|---:|\n")
	type shapeRun struct {
		key, name, root string
	}
	var chainV1, chainV2, nonce string
	runs := []shapeRun{
		{"chain", "chain (GOROOT and the generated paths)", "b.bigRoot"},
		{"shape", "shape (Debian's kde-full)", "b.shapeRoot"},
	}
	if b.cfg.incrShape {
		runs = runs[1:]
	}
	for _, sh := range runs {
		r, err := b.incrementalRounds(ctx, sh.root, sh.key)
		if err != nil {
			return err
		}
		b.printf("| %s | %d | %s | %s | %s | %.2f× |\n", sh.name, r.paths, secs(r.full), secs(r.rebuild), secs(r.floor), r.rebuild/r.floor)
		b.results["incr/"+sh.key+"/full"] = r.full
		b.results["incr/"+sh.key+"/rebuild"] = r.rebuild
		b.results["incr/"+sh.key+"/floor"] = r.floor
		if sh.key == "chain" {
			chainV1, chainV2, nonce = r.v1, r.v2, r.nonce
			b.results["incr/full"] = r.full
			b.results["incr/rebuild"] = r.rebuild
		}
	}
	if b.cfg.incrShape {
		// The chain's rows alone follow; the targets table judges the
		// shape's.
		return nil
	}
	v1, v2 := chainV1, chainV2
	baseline := func(app string) string {
		return fmt.Sprintf("b.tarZstd { nonce = %q; appNonce = %q; }", nonce+"-"+app, app)
	}
	b.logf("incremental: baseline")
	base1, baseFull, err := b.nixBuild(ctx, baseline("1"))
	if err != nil {
		return err
	}
	base2, baseRebuild, err := b.nixBuild(ctx, baseline("2"))
	if err != nil {
		return err
	}
	compressed, err := dirSize(base1)
	if err != nil {
		return err
	}

	// Store space: what the two images (and the baseline's two outputs)
	// add to the store beyond the applications' closures (the
	// uncompressed closure, there without them), shared paths counted
	// once. (A compressed blob may refer to a store path whose hash it
	// holds verbatim.)
	var apps []string
	for _, a := range []string{"1", "2"} {
		p, _, err := b.nixBuild(ctx, fmt.Sprintf("b.app { appNonce = %q; }", a))
		if err != nil {
			return err
		}
		apps = append(apps, p)
	}
	added, err := storeBytes(ctx, []string{v1, v2}, apps)
	if err != nil {
		return err
	}
	baseAdded, err := storeBytes(ctx, []string{base1, base2}, apps)
	if err != nil {
		return err
	}

	b.printf("\nOn the chain (%s): the baseline, a nixpkgs-style derivation doing `tar -c | zstd -3 -T0` of the whole closure, which every change rebuilds; pushes; store space.\n\n", gib(closureFileBytes(ctx, v1)))
	b.printf("| step | time | note |\n|---|---|---|\n")
	b.printf("| baseline `tar \\| zstd`, first build | %s | %s compressed |\n", secs(baseFull.Seconds()), size(compressed))
	b.printf("| baseline `tar \\| zstd`, rebuild after changing the application | %s | a full rebuild |\n", secs(baseRebuild.Seconds()))
	b.results["incr/baseline-rebuild"] = baseRebuild.Seconds()

	pushed := false
	if _, err := exec.LookPath("docker-registry"); err != nil {
		b.printf("| push | not measured | docker-registry missing |\n")
	} else {
		up1, up2, t1, t2, err := b.pushTwice(ctx, v1, v2)
		if err != nil {
			return err
		}
		b.printf("| push v1 to a local docker-registry (`oci-builder copy`) | %s | %d layers uploaded |\n", secs(t1.Seconds()), up1)
		b.printf("| push the rebuilt v2 | %s | %d layer uploaded |\n", secs(t2.Seconds()), up2)
		b.results["incr/second-push-layers"] = float64(up2)
		pushed = true
	}
	b.printf("| store space of the two image versions | %s | beyond the uncompressed closure, shared paths once; %.2f× one compressed closure (%s) |\n", size(added), float64(added)/float64(compressed), size(compressed))
	b.printf("| store space of the two baseline outputs | %s | %.2f× one compressed closure |\n", size(baseAdded), float64(baseAdded)/float64(compressed))
	b.results["incr/space-ratio"] = float64(added) / float64(compressed)
	if !b.cfg.smoke {
		b.printf("\nTargets:\n\n")
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "missed"
		}
		for _, k := range []string{"chain", "shape"} {
			rb, fl := b.results["incr/"+k+"/rebuild"], b.results["incr/"+k+"/floor"]
			b.printf("- %s: rebuild ≤ 1.2× the floor (issue 22): **%s** (%.2f×)\n", k, verdict(rb <= 1.2*fl), rb/fl)
		}
		full, rebuild := b.results["incr/full"], b.results["incr/rebuild"]
		b.printf("- chain: rebuild ≤ 10 %% of the full build (issue 14): **%s** (%.1f %%)\n", verdict(rebuild <= 0.1*full), 100*rebuild/full)
		if pushed {
			up := b.results["incr/second-push-layers"]
			b.printf("- second push uploads only the application's layer: **%s** (%.0f uploaded)\n", verdict(up == 1), up)
		}
		ratio := float64(added) / float64(compressed)
		b.printf("- two versions cost at most one copy of the compressed closure (+1 %%): **%s** (%.3f×)\n", verdict(ratio <= 1.01), ratio)
	}
	b.printf("\n")
	return nil
}

// incrementalRun is what incrementalRounds measured: medians in seconds,
// the two first image versions, the nonce of their derivations and the
// closure's number of paths.
type incrementalRun struct {
	full, rebuild, floor float64
	v1, v2, nonce        string
	paths                int
}

// incrementalRounds builds the incremental image of root (a bench.nix
// expression) once, then e2eReps rounds of a rebuild after a new
// application nonce and of the floor, alternating which comes first.
func (b *bench) incrementalRounds(ctx context.Context, root, label string) (incrementalRun, error) {
	var r incrementalRun
	var n [6]byte
	if _, err := rand.Read(n[:]); err != nil {
		return r, err
	}
	r.nonce = hex.EncodeToString(n[:])
	image := func(app string) string {
		return fmt.Sprintf("b.incrementalImage { root = %s; nonce = %q; appNonce = %q; }", root, r.nonce, app)
	}
	// The application is built first, untimed: what is measured is what
	// the image costs (its layer derivation and itself).
	app, _, err := b.nixBuild(ctx, fmt.Sprintf("b.app { root = %s; appNonce = \"1\"; }", root))
	if err != nil {
		return r, err
	}
	if out, err := exec.CommandContext(ctx, "nix-store", "--query", "--requisites", app).Output(); err == nil {
		r.paths = len(strings.Fields(string(out)))
	}
	b.logf("incremental %s: full image build", label)
	v1, full, err := b.nixBuild(ctx, image("1"))
	if err != nil {
		return r, err
	}
	r.v1, r.full = v1, full.Seconds()
	var rebuilds, floors []time.Duration
	for rep := 0; rep < b.cfg.e2eReps; rep++ {
		steps := []string{"rebuild", "floor"}
		if rep%2 == 1 {
			steps = []string{"floor", "rebuild"}
		}
		for _, step := range steps {
			syncFS()
			if step == "rebuild" {
				appNonce := fmt.Sprint(rep + 2)
				if _, _, err := b.nixBuild(ctx, fmt.Sprintf("b.app { root = %s; appNonce = %q; }", root, appNonce)); err != nil {
					return r, err
				}
				syncFS()
				v, d, err := b.nixBuild(ctx, image(appNonce))
				if err != nil {
					return r, err
				}
				if rep == 0 {
					r.v2 = v
				}
				b.logf("incremental %s: rebuild %.2f s", label, d.Seconds())
				rebuilds = append(rebuilds, d)
				continue
			}
			_, d, err := b.nixBuild(ctx, fmt.Sprintf("b.nixFloor { root = b.app { root = %s; appNonce = \"1\"; }; nonce = %q; }", root, fmt.Sprintf("%s-floor-%d", r.nonce, rep)))
			if err != nil {
				return r, err
			}
			b.logf("incremental %s: floor %.2f s", label, d.Seconds())
			floors = append(floors, d)
		}
	}
	r.rebuild, r.floor = median(rebuilds), median(floors)
	return r, nil
}

// closureFileBytes is the size of the files of the closure of the image's
// application (what the image packs), for the description.
func closureFileBytes(ctx context.Context, img string) int64 {
	out, err := exec.CommandContext(ctx, "nix-store", "--query", "--references", img).Output()
	if err != nil {
		return 0
	}
	var total int64
	for _, p := range strings.Fields(string(out)) {
		if !strings.Contains(p, "-bench-app") {
			continue
		}
		all, err := exec.CommandContext(ctx, "nix-store", "--query", "--requisites", p).Output()
		if err != nil {
			return 0
		}
		for _, q := range strings.Fields(string(all)) {
			n, _ := dirSize(q)
			total += n
		}
	}
	return total
}

// storeBytes sums the NAR sizes of the closure of roots less the closure
// of exclude.
func storeBytes(ctx context.Context, roots, exclude []string) (int64, error) {
	req := func(paths ...string) (map[string]bool, error) {
		set := map[string]bool{}
		if len(paths) == 0 {
			return set, nil
		}
		out, err := exec.CommandContext(ctx, "nix-store", append([]string{"--query", "--requisites"}, paths...)...).Output()
		if err != nil {
			return nil, fmt.Errorf("nix-store --query --requisites: %w", err)
		}
		for _, p := range strings.Fields(string(out)) {
			set[p] = true
		}
		return set, nil
	}
	all, err := req(roots...)
	if err != nil {
		return 0, err
	}
	skip, err := req(exclude...)
	if err != nil {
		return 0, err
	}
	var total int64
	for p := range all {
		if skip[p] {
			continue
		}
		out, err := exec.CommandContext(ctx, "nix-store", "--query", "--size", p).Output()
		if err != nil {
			return 0, fmt.Errorf("nix-store --query --size %s: %w", p, err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

var pushSummary = regexp.MustCompile(`oci-builder: copied sha256:[0-9a-f]{64} to \S+: \d+ layers?, (\d+) uploaded`)

// pushTwice starts a docker-registry on 127.0.0.1 and pushes v1, then v2,
// with oci-builder copy; it returns the layers each uploaded and the times.
func (b *bench) pushTwice(ctx context.Context, v1, v2 string) (up1, up2 int, t1, t2 time.Duration, err error) {
	dir := filepath.Join(b.work, "registry")
	if err = os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	addr := l.Addr().String()
	l.Close()
	config := filepath.Join(dir, "config.yml")
	err = os.WriteFile(config, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "storage"), addr)), 0o644)
	if err != nil {
		return
	}
	reg := exec.CommandContext(ctx, "docker-registry", "serve", config)
	var regLog bytes.Buffer
	reg.Stdout, reg.Stderr = &regLog, &regLog
	if err = reg.Start(); err != nil {
		return
	}
	defer func() {
		_ = reg.Process.Kill()
		_ = reg.Wait()
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, derr := net.Dial("tcp", addr)
		if derr == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			err = fmt.Errorf("docker-registry did not listen on %s:\n%s", addr, regLog.String())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	push := func(img, tag string) (int, time.Duration, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(b.builder, "bin/oci-builder"), "copy", "--insecure", img, "docker://"+addr+"/bench:"+tag)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, 0, fmt.Errorf("oci-builder copy %s: %v\n%s", img, err, tail(stderr.String(), 2000))
		}
		d := time.Since(start)
		sc := bufio.NewScanner(&stderr)
		for sc.Scan() {
			if m := pushSummary.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[1])
				return n, d, nil
			}
		}
		return 0, d, fmt.Errorf("oci-builder copy %s: no summary line", img)
	}
	if up1, t1, err = push(v1, "v1"); err != nil {
		return
	}
	up2, t2, err = push(v2, "v2")
	return
}
