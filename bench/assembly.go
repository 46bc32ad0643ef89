//go:build linux

// The rootfs assembly rows: store modes against the floors, XFS, end to
// end through nix-build, memory, scaling and profiles.

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

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
func (b *bench) endToEnd(ctx context.Context, big *closure, root, prefix, title string, withCopy bool) error {
	type e2e struct{ name, key, expr string }
	kinds := []e2e{
		{"nixpkgs-style (`xargs tar c \\| tar -x`, host tools)", "nixpkgs", "b.nixpkgsStyle { root = " + root + "; nonce = %q; }"},
		{"oci-builder, storeMode copy", "copy", "b.container { root = " + root + "; storeMode = \"copy\"; nonce = %q; }"},
		{"oci-builder, storeMode bind (text export of the graph)", "bind", "b.container { root = " + root + "; storeMode = \"bind\"; nonce = %q; }"},
		{"floor: a derivation given the structured export of the closure graph that writes only its `.attrs.json`", "floor", "b.nixFloor { root = " + root + "; nonce = %q; }"},
	}
	if !withCopy {
		kinds = append(kinds[:1], kinds[2:]...)
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
	b.printf("### End to end: `nix-build` of a container of %s (sandbox off, %d repetitions)\n\n", title, b.cfg.e2eReps)
	b.printf("| derivation | time | nixpkgs-style over it | bundle size |\n|---|---:|---:|---:|\n")
	np := median(times["nixpkgs"])
	for _, k := range kinds {
		m := median(times[k.key])
		b.results[prefix+"/"+k.key] = m
		b.printf("| %s | %s | %s | %s |\n", k.name, secs(m), ratio(np, m), size(sizes[k.key]))
	}
	b.printf("\n")
	return nil
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
