//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// verifyCase is a run of oci-builder nix-builder with the verify option set.
type verifyCase struct {
	name, key, mode string
	verify          bool
}

// verifyCases are the rows of the verification table: copy with and without
// verification (the target compares them), and bind reading the closure to
// verify it.
var verifyCases = []verifyCase{
	{"oci-builder copy, `verify = false`", "copy-unverified", "copy", false},
	{"oci-builder copy, verified (the default)", "copy-verified", "copy", true},
	{"oci-builder bind, `verify = true` (reads the closure)", "bind-verified", "bind", true},
}

// runVerifyCase runs the builder on a container of c with the case's store
// mode and verify option, returning its wall time and CPU time, and checks
// from its summary that it verified every path exactly when asked to.
func (b *bench) runVerifyCase(ctx context.Context, c *closure, vc verifyCase, out string) (time.Duration, time.Duration, error) {
	r, err := b.runBuilder(ctx, c, vc.mode, out, "", map[string]any{"verify": vc.verify})
	if err != nil {
		return r.wall, 0, err
	}
	want := "; not verified\n"
	if vc.verify {
		want = fmt.Sprintf("; verified %d of %d store paths against their NAR hashes\n", len(c.paths), len(c.paths))
	}
	if !strings.Contains(r.stderr, want) {
		return r.wall, 0, fmt.Errorf("oci-builder nix-builder (%s): the summary lacks %q:\n%s", vc.name, want, tail(r.stderr, 2000))
	}
	return r.wall, r.cpu, nil
}

// verification measures what verifying the closure while copying it costs:
// oci-builder copy with and without verification into the store's
// filesystem and into a tmpfs (wall time and the builder's CPU time), and
// bind mode reading the closure to verify it. With -profile it also writes
// CPU profiles of both copies into the tmpfs.
func (b *bench) verification(ctx context.Context, big *closure) error {
	tmpfs := filepath.Join(b.work, "verify-tmpfs")
	if err := os.Mkdir(tmpfs, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16g", "tmpfs", tmpfs).CombinedOutput(); err != nil {
		return fmt.Errorf("mount tmpfs: %v: %s", err, out)
	}
	defer exec.Command("umount", tmpfs).Run()
	targets := []struct{ name, dir string }{{"ext4", filepath.Join(b.work, "verify-ext4")}, {"tmpfs", tmpfs}}
	wall := map[string]map[string]float64{}
	cpu := map[string]map[string]float64{}
	for _, t := range targets {
		cpuTimes := map[string][]time.Duration{}
		var cands []candidate
		for _, vc := range verifyCases {
			vc := vc
			cands = append(cands, candidate{name: vc.name, key: vc.key, storeDir: "rootfs/nix/store", checkFiles: vc.mode != "bind",
				run: func(ctx context.Context, dir string) (time.Duration, error) {
					d, c, err := b.runVerifyCase(ctx, big, vc, dir)
					cpuTimes[vc.key] = append(cpuTimes[vc.key], c)
					return d, err
				}})
		}
		times, err := b.measure(ctx, "verify "+t.name, t.dir, big, cands, b.settle)
		if err != nil {
			return err
		}
		wall[t.name], cpu[t.name] = map[string]float64{}, map[string]float64{}
		for _, vc := range verifyCases {
			wall[t.name][vc.key] = median(times[vc.name])
			// The warm-up run's CPU time is the first of its candidate's.
			ct := cpuTimes[vc.key]
			if len(ct) > len(times[vc.name]) {
				ct = ct[1:]
			}
			cpu[t.name][vc.key] = median(ct)
			b.results["verify/"+t.name+"/"+vc.key] = wall[t.name][vc.key]
			b.results["verify-cpu/"+t.name+"/"+vc.key] = cpu[t.name][vc.key]
		}
	}
	b.printf("### Verification against the closure's NAR hashes (source pages cached)\n\n")
	b.printf("Wall time and the builder's CPU time (user + system), medians; overhead: over the unverified copy into the same filesystem.\n\n")
	b.printf("| candidate | store's fs (ext4) | CPU | overhead | tmpfs | CPU | overhead |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, vc := range verifyCases {
		row := "| " + vc.name
		for _, t := range targets {
			w, c := wall[t.name][vc.key], cpu[t.name][vc.key]
			over := "–"
			if vc.key == "copy-verified" {
				over = overhead(w, wall[t.name]["copy-unverified"])
			}
			row += fmt.Sprintf(" | %s | %s | %s", secs(w), secs(c), over)
		}
		b.printf("%s |\n", row)
	}
	b.printf("\nThe verified copy hashes every byte of the closure (%s of NAR) with SHA-256 once, reading each file once; `verify = false` copies with `copy_file_range`.\n\n", gib(int64(totalNarSize(big))))

	if b.cfg.profileDir != "" {
		for _, vc := range verifyCases[:2] {
			if err := b.profileOne(ctx, big, vc.mode, tmpfs, vc.key+"-tmpfs", map[string]any{"verify": vc.verify}); err != nil {
				return err
			}
		}
	}
	return nil
}

// overhead formats how much longer a took than b, in percent.
func overhead(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%+.0f%%", (a/b-1)*100)
}

// totalNarSize is the sum of the NAR sizes of c's paths, from its graph.
func totalNarSize(c *closure) uint64 {
	var graph []struct {
		NarSize uint64 `json:"narSize"`
	}
	json.Unmarshal(c.attrs["closure"], &graph)
	var n uint64
	for _, g := range graph {
		n += g.NarSize
	}
	return n
}

// verifyTargets judges the verification target from this run.
func (b *bench) verifyTargets(check func(name, measured string, ok bool, keys ...string)) {
	r := b.results
	for _, fs := range []string{"ext4", "tmpfs"} {
		v, u := "verify/"+fs+"/copy-verified", "verify/"+fs+"/copy-unverified"
		name := map[string]string{"ext4": "store's fs", "tmpfs": "tmpfs"}[fs]
		check(name+": verification costs at most 15% over an unverified copy", overhead(r[v], r[u]), r[v] <= 1.15*r[u], v, u)
	}
}
