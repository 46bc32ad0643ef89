//go:build linux

// The machine under the benchmark: mounts, caches, discards and the
// store's filesystem.

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func isMountpoint(p string) bool {
	return exec.Command("mountpoint", "-q", p).Run() == nil
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
