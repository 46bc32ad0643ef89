package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
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

// verifyAttrs writes the .attrs.json of a container of c in mode with the
// verify option set, as builderAttrs does, and returns the file.
func (b *bench) verifyAttrs(c *closure, mode string, verify bool, out string) (string, error) {
	file, err := b.builderAttrs(c, mode, out, "")
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var attrs map[string]any
	if err := json.Unmarshal(data, &attrs); err != nil {
		return "", err
	}
	attrs["container"].(map[string]any)["verify"] = verify
	if data, err = json.Marshal(attrs); err != nil {
		return "", err
	}
	return file, os.WriteFile(file, data, 0o644)
}

// runVerifyCase runs the builder on the case's .attrs.json, as runBuilder
// does, and returns its wall time and CPU time (user + system), checking
// from its summary that it verified every path exactly when asked to.
func (b *bench) runVerifyCase(ctx context.Context, c *closure, vc verifyCase, out string) (time.Duration, time.Duration, error) {
	attrs, err := b.verifyAttrs(c, vc.mode, vc.verify, out)
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(attrs)
	cmd := exec.CommandContext(ctx, filepath.Join(b.builder, "bin/oci-builder"), "nix-builder")
	cmd.Env = []string{"NIX_ATTRS_JSON_FILE=" + attrs, "NIX_BUILD_TOP=" + b.work, "NIX_BUILD_CORES=0", "PATH=/path-not-set"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, 0, fmt.Errorf("oci-builder nix-builder (%s): %v\n%s", vc.name, err, tail(stderr.String(), 2000))
	}
	want := "; not verified\n"
	if vc.verify {
		want = fmt.Sprintf("; verified %d of %d store paths against their NAR hashes\n", len(c.paths), len(c.paths))
	}
	if !strings.Contains(stderr.String(), want) {
		return d, 0, fmt.Errorf("oci-builder nix-builder (%s): the summary lacks %q:\n%s", vc.name, want, tail(stderr.String(), 2000))
	}
	return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
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
		if err := os.MkdirAll(b.cfg.profileDir, 0o755); err != nil {
			return err
		}
		for _, vc := range verifyCases[:2] {
			out := filepath.Join(tmpfs, "profiled")
			attrs, err := b.verifyAttrs(big, vc.mode, vc.verify, out)
			if err != nil {
				return err
			}
			pf := filepath.Join(b.cfg.profileDir, vc.key+"-tmpfs.pprof")
			f, err := os.Create(pf)
			if err != nil {
				return err
			}
			pprof.StartCPUProfile(f)
			err = writeFromAttrs(ctx, attrs, out)
			pprof.StopCPUProfile()
			f.Close()
			os.Remove(attrs)
			if err != nil {
				return err
			}
			removeAll(out)
			top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", pf).CombinedOutput()
			if err != nil {
				return fmt.Errorf("go tool pprof: %v: %s", err, top)
			}
			os.WriteFile(strings.TrimSuffix(pf, ".pprof")+".txt", top, 0o644)
			b.logf("profile of %s into tmpfs: %s", vc.key, pf)
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
