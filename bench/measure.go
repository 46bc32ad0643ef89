//go:build linux

// Measuring candidates: interleaved repetitions, checks of what each
// wrote, medians and ratios.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

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

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
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

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
}
