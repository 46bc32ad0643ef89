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

// incremental measures issue 14's rows on the realistic closure (GOROOT and
// the generated paths as a declared layer derivation, a small application
// with a nonce): the full image build, the rebuild after a change to the
// application, pushing both to a local docker-registry, the store space of
// the two versions, and a nixpkgs-style `tar | zstd` of the whole closure
// built twice as the baseline.
func (b *bench) incremental(ctx context.Context) error {
	var n [6]byte
	if _, err := rand.Read(n[:]); err != nil {
		return err
	}
	nonce := hex.EncodeToString(n[:])
	image := func(app string) string {
		return fmt.Sprintf("b.incrementalImage { nonce = %q; appNonce = %q; }", nonce, app)
	}
	baseline := func(app string) string {
		return fmt.Sprintf("b.tarZstd { nonce = %q; appNonce = %q; }", nonce+"-"+app, app)
	}
	b.logf("incremental: full image build")
	v1, full, err := b.nixBuild(ctx, image("1"))
	if err != nil {
		return err
	}
	b.logf("incremental: full build %.2f s; rebuild after changing the application", full.Seconds())
	v2, rebuild, err := b.nixBuild(ctx, image("2"))
	if err != nil {
		return err
	}
	b.logf("incremental: rebuild %.2f s; baseline", rebuild.Seconds())
	base1, baseFull, err := b.nixBuild(ctx, baseline("1"))
	if err != nil {
		return err
	}
	base2, baseRebuild, err := b.nixBuild(ctx, baseline("2"))
	if err != nil {
		return err
	}
	// The floor of every derivation that gets the closure graph: Nix
	// exports it (structured attributes) and the builder writes nothing.
	_, floor, err := b.nixBuild(ctx, fmt.Sprintf("b.nixFloor { root = b.app %q; nonce = %q; }", "1", nonce+"-incremental"))
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
		p, _, err := b.nixBuild(ctx, fmt.Sprintf("b.app %q", a))
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

	b.printf("\n### Incremental images (issue 14)\n\n")
	b.printf("The realistic closure (the big fixture: GOROOT and the generated paths, %s) as a declared layer derivation (`buildLayer`, zstd, up to 98 layers) and a small application path with a nonce, in one `buildImage` (zstd, `layers = [ deps ]`), through nix-build (sandbox off). The rebuild changes the application's nonce: nix-build builds the application, its layer derivation and the image. Baseline: a nixpkgs-style derivation doing `tar -c | zstd -3 -T0` of the whole closure, which every change rebuilds.\n\n", gib(closureFileBytes(ctx, v1)))
	b.printf("| step | time | note |\n|---|---|---|\n")
	b.printf("| full image build (deps layer derivation, the application's, the image) | %s | |\n", secs(full.Seconds()))
	b.printf("| rebuild after changing the application | %s | %.1f %% of the full build |\n", secs(rebuild.Seconds()), 100*rebuild.Seconds()/full.Seconds())
	b.printf("| floor: one derivation given the closure graph (structured `exportReferencesGraph`) that writes only its `.attrs.json` | %s | the rebuild builds two such derivations (the application's layer derivation and the image) |\n", secs(floor.Seconds()))
	b.printf("| baseline `tar \\| zstd`, first build | %s | %s compressed |\n", secs(baseFull.Seconds()), size(compressed))
	b.printf("| baseline `tar \\| zstd`, rebuild after changing the application | %s | a full rebuild |\n", secs(baseRebuild.Seconds()))
	b.results["incr/full"] = full.Seconds()
	b.results["incr/rebuild"] = rebuild.Seconds()
	b.results["incr/floor"] = floor.Seconds()
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
		b.printf("\nTargets (issue 14):\n\n")
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "missed"
		}
		b.printf("- rebuild ≤ 10 %% of the full build: **%s** (%.1f %%)\n", verdict(rebuild.Seconds() <= 0.1*full.Seconds()), 100*rebuild.Seconds()/full.Seconds())
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
