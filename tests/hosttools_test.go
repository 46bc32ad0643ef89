package tests

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The stand-in nixpkgs' dynamically linked tools: fakeroot works by
// LD_PRELOAD, which a static executable (the stand-in's busybox) ignores,
// so its stdenv gets this machine's bash, coreutils, tar and the rest, and
// its fakeroot and proot are this machine's too (Debian's): copied with
// their shared libraries and the dynamic loader into the stand-in's
// hosttools directory, which tests/standin-nixpkgs imports into the store
// (hostTools in default.nix: each program run through the loader, since
// the build sandbox has no /lib64).

// hostToolPrograms are the programs copied: what the stand-in's stdenv
// offers (as nixpkgs' stdenv: bash, coreutils, findutils, sed, grep,
// tar, gzip, diff) and what fakeroot's script and dockerTools' shell
// arguments run.
var hostToolPrograms = []string{
	"bash", "sh:bash",
	// coreutils
	"[", "basename", "cat", "chgrp", "chmod", "chown", "cksum", "comm", "cp", "cut", "date", "dd", "df",
	"dirname", "du", "echo", "env", "expr", "false", "head", "id", "install", "join", "link", "ln", "ls",
	"md5sum", "mkdir", "mkfifo", "mknod", "mktemp", "mv", "nproc", "od", "paste", "printf", "pwd",
	"readlink", "realpath", "rm", "rmdir", "seq", "sha1sum", "sha256sum", "sleep", "sort", "split",
	"stat", "sync", "tail", "tee", "test", "touch", "tr", "true", "truncate", "uname", "uniq", "wc",
	"whoami", "yes",
	"tar", "gzip", "sed", "grep", "find", "xargs", "diff", "cmp", "getopt",
	"faked-sysv", "proot",
}

// hostToolLibDirs are where the programs' libraries are looked for.
var hostToolLibDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"}

// addHostTools fills dir with libexec/PROGRAM (each program, a name:target
// entry naming the program target copied as name), lib/ (their libraries,
// libfakeroot-sysv.so, the loader as lib/ld.so) and libexec/fakeroot-sysv
// (Debian's fakeroot script).
func addHostTools(dir string) error {
	libexec, lib := filepath.Join(dir, "libexec"), filepath.Join(dir, "lib")
	for _, d := range []string{libexec, lib} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	libs := map[string]bool{}
	interp := ""
	var needed []string
	for _, p := range hostToolPrograms {
		name, target, _ := strings.Cut(p, ":")
		if target == "" {
			target = name
		}
		path, err := exec.LookPath(target)
		if err != nil {
			return fmt.Errorf("the stand-in's stdenv needs %s: %w", target, err)
		}
		deps, in, err := elfDeps(path)
		if err != nil {
			return err
		}
		if in != "" {
			interp = in
		}
		needed = append(needed, deps...)
		if err := copyFile(path, filepath.Join(libexec, name), 0o555); err != nil {
			return err
		}
	}
	fakerootLib, err := findLib("libfakeroot/libfakeroot-sysv.so")
	if err != nil {
		return fmt.Errorf("fakeroot's preload library: %w", err)
	}
	needed = append(needed, "libfakeroot/libfakeroot-sysv.so")
	if interp == "" {
		return fmt.Errorf("no dynamically linked program among %v", hostToolPrograms)
	}
	// The libraries and theirs.
	for len(needed) > 0 {
		n := needed[0]
		needed = needed[1:]
		if libs[n] {
			continue
		}
		libs[n] = true
		path := fakerootLib
		if n != "libfakeroot/libfakeroot-sysv.so" {
			if path, err = findLib(n); err != nil {
				return err
			}
		}
		deps, _, err := elfDeps(path)
		if err != nil {
			return err
		}
		needed = append(needed, deps...)
		if err := copyFile(path, filepath.Join(lib, filepath.Base(n)), 0o555); err != nil {
			return err
		}
	}
	if err := copyFile(interp, filepath.Join(lib, "ld.so"), 0o555); err != nil {
		return err
	}
	script, err := exec.LookPath("fakeroot-sysv")
	if err != nil {
		return fmt.Errorf("the stand-in's fakeroot: %w", err)
	}
	return copyFile(script, filepath.Join(libexec, "fakeroot-sysv"), 0o555)
}

// elfDeps are the libraries an ELF file needs (DT_NEEDED) and its
// interpreter.
func elfDeps(path string) ([]string, string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return nil, "", fmt.Errorf("%s: interpreter: %w", path, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	return libs, interp, nil
}

// findLib finds a library by name in hostToolLibDirs, links resolved.
func findLib(name string) (string, error) {
	for _, d := range hostToolLibDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return filepath.EvalSymlinks(p)
		}
	}
	return "", fmt.Errorf("library %s not found in %v", name, hostToolLibDirs)
}

// copyFile copies src (links followed) to dst with mode.
func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
