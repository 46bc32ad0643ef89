package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// attackScript is what a hostile container runs, as root inside: for every
// entry of its root filesystem (the bundle's rootfs, the closure in every
// store mode, the store directory, /), it tries to change it: chmod, chown,
// touch, append, create, mkdir, rename and unlink, and prints a line for
// each attempt that succeeded. -xdev keeps find on the root filesystem and
// the bind mounts of store paths (the same device), out of /proc, /sys and
// the tmpfs mounts, which are the container's own.
const attackScript = `
bb=$1
n=0
hit() { echo "CHANGED $*"; n=$((n+1)); }
$bb touch /pwned 2>/dev/null && hit create /pwned
$bb mkdir -p /nix/x 2>/dev/null && hit mkdir /nix/x
tried=0
# The store paths are searched from themselves too: in bind mode each is a
# mount of its own, which find -xdev does not enter from /.
for p in $($bb find / /nix/store/* -xdev 2>/dev/null); do
  case $p in /proc*|/sys*|/dev*|/tmp*|/run*|/var/tmp*) continue;; esac
  # In bind mode the store directory is the container's own tmpfs, which
  # holds only the mountpoints of the store paths (see storeMode "bind").
  [ "$($bb stat -f -c %T "$p")" = tmpfs ] && continue
  case $p in /nix/store/*) tried=$((tried+1));; esac
  if [ -L "$p" ]; then
    $bb ln -sfn /elsewhere "$p" 2>/dev/null && hit relink "$p"
    continue
  fi
  $bb chmod u+w "$p" 2>/dev/null && [ -w "$p" ] && hit chmod "$p"
  $bb chown 1:1 "$p" 2>/dev/null && hit chown "$p"
  $bb touch -c -d 2001-01-01 "$p" 2>/dev/null && hit touch "$p"
  if [ -d "$p" ]; then
    $bb touch "$p/.pwned" 2>/dev/null && hit create "$p/.pwned"
    $bb mkdir "$p/.pwned-dir" 2>/dev/null && hit mkdir "$p/.pwned-dir"
  else
    (echo PWNED >> "$p") 2>/dev/null && hit write "$p"
  fi
  if [ "$p" != / ]; then
    $bb mv "$p" "$p.moved" 2>/dev/null && { hit rename "$p"; $bb mv "$p.moved" "$p"; }
  fi
done
for p in $($bb find / /nix/store/* -xdev -type f 2>/dev/null); do
  case $p in /proc*|/sys*|/dev*|/tmp*|/run*|/var/tmp*) continue;; esac
  $bb rm -f "$p" 2>/dev/null && hit unlink "$p"
done
echo "tmp: $(echo scratch > /tmp/f && echo scratch > /var/tmp/f && echo ok > $HOME/f && $bb cat $HOME/f)"
$bb sed -n 's/^Seccomp:[[:space:]]*/seccomp /p' /proc/self/status
echo "store entries attacked: $tried"
echo "attempts that changed something: $n"
`

// verifyStore runs nix-store --verify-path on the bundle and every path of
// its closure (the store paths it copies, links or bind-mounts).
func verifyStore(t *testing.T, bundle string) {
	t.Helper()
	r := runNix(t, "nix-store", "-qR", bundle)
	if r.err != nil {
		t.Fatal(r)
	}
	paths := strings.Fields(r.out)
	if len(paths) < 2 {
		t.Fatalf("closure of %s: %q", bundle, paths)
	}
	if r := runNix(t, "nix-store", append([]string{"--verify-path"}, paths...)...); r.err != nil || r.log != "" {
		t.Fatalf("the container changed the store: %v", r)
	}
}

// TestStoreImmutable runs a hostile container in every store mode, with the
// sandbox on and off, with default options (and with capabilities that
// override file permissions), then checks with nix-store --verify-path that
// the bundle and every closure path are unchanged. Hard-link mode is built
// without build users too (--option build-users-group ""), so that the
// rootfs really shares its files' inodes with the host's store.
func TestStoreImmutable(t *testing.T) {
	need(t)
	t.Parallel()
	type variant struct {
		name, extra string
		sandbox     bool
		nixArgs     []string
	}
	var variants []variant
	for _, mode := range []string{"copy", "reflink", "hardlink", "bind"} {
		for _, sandbox := range []bool{true, false} {
			variants = append(variants, variant{name: fmt.Sprintf("%s-sandbox-%v", mode, sandbox), extra: fmt.Sprintf("storeMode = %q;", mode), sandbox: sandbox})
		}
	}
	overrideCaps := `capabilities = [ "CAP_DAC_OVERRIDE" "CAP_FOWNER" "CAP_CHOWN" "CAP_FSETID" "CAP_LINUX_IMMUTABLE" ];`
	variants = append(variants,
		variant{name: "hardlink-root-builder", extra: `storeMode = "hardlink";`, nixArgs: []string{"--option", "build-users-group", ""}},
		variant{name: "hardlink-root-builder-caps", extra: `storeMode = "hardlink"; ` + overrideCaps, nixArgs: []string{"--option", "build-users-group", ""}},
		variant{name: "copy-caps", extra: overrideCaps, sandbox: true},
		variant{name: "bind-caps", extra: `storeMode = "bind"; ` + overrideCaps},
		variant{name: "nixpkgs-readonly-false", extra: `readonly = false;`, sandbox: true},
		variant{name: "readonly-true", extra: `readonly = true; storeMode = "hardlink";`, nixArgs: []string{"--option", "build-users-group", ""}},
	)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			bundle, log := hostileBundle(t, v.name, v.extra, v.sandbox, v.nixArgs...)
			if strings.Contains(v.extra, "hardlink") && len(v.nixArgs) > 0 && !strings.Contains(log, "mode hardlink, ") {
				t.Fatalf("no hard links were made:\n%s", log)
			}
			if v.name == "nixpkgs-readonly-false" && !strings.Contains(log, "readonly = false: the root filesystem stays read-only") {
				t.Fatalf("no warning for readonly = false:\n%s", log)
			}
			out := run(t, bundle)
			checkAttack(t, out)
			verifyStore(t, bundle)
		})
	}
}

// hostileBundle builds a container that runs attackScript.
func hostileBundle(t *testing.T, name, extra string, sandbox bool, nixArgs ...string) (string, string) {
	t.Helper()
	r := nixBuild(t, fmt.Sprintf(`
ociTools.buildContainer {
  name = "attack-%s-${nonce}";
  args = [ "${busybox}/bin/sh" (builtins.toFile "attack.sh" %q) "${busybox}/bin/busybox" ];
  %s
}`, name, attackScript, extra), sandbox, nixArgs...)
	if r.err != nil {
		t.Fatal(r)
	}
	return r.out, r.log
}

// checkAttack checks the hostile script's report: nothing changed, the
// writable places were writable, and the seccomp filter was on.
func checkAttack(t *testing.T, out string) {
	t.Helper()
	var tried int
	for _, line := range strings.Split(out, "\n") {
		fmt.Sscanf(line, "store entries attacked: %d", &tried)
	}
	// The closure (busybox: a directory, bin, bin/busybox, bin/sh; the
	// script) must have been attacked, not skipped.
	if tried < 5 || !strings.Contains(out, "attempts that changed something: 0\n") || !strings.Contains(out, "tmp: ok\n") ||
		!strings.Contains(out, "seccomp 2\n") {
		t.Fatalf("hostile container:\n%s", out)
	}
}

// TestStoreImmutableRootless runs the hostile container rootless: built
// with the rootless option, and made by oci-builder rootless, as root and
// as a user of its own; then oci-builder writable's copy, whose root the
// container may change, without changing the store.
func TestStoreImmutableRootless(t *testing.T) {
	need(t)
	t.Parallel()
	const name = "ocib-attack"
	u, err := user.Lookup(name)
	if err != nil {
		if out, err := exec.Command("useradd", "--create-home", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v\n%s", err, out)
		}
		if u, err = user.Lookup(name); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "ocib-attack-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, mustAtoi(t, u.Uid), mustAtoi(t, u.Gid)); err != nil {
		t.Fatal(err)
	}
	as := func(args ...string) (string, error) {
		cmd := exec.Command("runuser", append([]string{"-u", name, "--"}, args...)...)
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, mode := range []string{"copy", "bind"} {
		t.Run("option-"+mode, func(t *testing.T) {
			bundle, _ := hostileBundle(t, "rl-"+mode, fmt.Sprintf(`storeMode = %q; rootless = { uid = %s; gid = %s; };`, mode, u.Uid, u.Gid), false)
			validate(t, bundle)
			out, err := as("runc", "--root", filepath.Join(dir, "state"), "run", "--bundle", bundle, "attack-rl-"+mode+"-"+h.nonce)
			if err != nil {
				t.Fatalf("rootless run: %v\n%s", err, out)
			}
			checkAttack(t, out)
			verifyStore(t, bundle)
		})
	}
	t.Run("oci-builder rootless", func(t *testing.T) {
		bundle, _ := hostileBundle(t, "rlcmd", `user = "app";`, true)
		variant := filepath.Join(dir, "variant")
		if out, err := as(builderBin(), "rootless", bundle, variant); err != nil {
			t.Fatalf("oci-builder rootless: %v\n%s", err, out)
		}
		out, err := as("runc", "--root", filepath.Join(dir, "state"), "run", "--bundle", variant, "attack-rlcmd-"+h.nonce)
		if err != nil {
			t.Fatalf("rootless run: %v\n%s", err, out)
		}
		checkAttack(t, out)
		verifyStore(t, bundle)
	})
	t.Run("oci-builder writable", func(t *testing.T) {
		// The copy's root is the container's to change; in bind mode the
		// store paths stay read-only bind mounts.
		script := `bb=%s/bin/busybox
echo x > /pwned && echo root: writable
echo x >> /etc/passwd && echo etc: writable
$bb touch %s/new 2>/dev/null && echo store: writable || echo store: read-only`
		for _, mode := range []string{"hardlink", "bind"} {
			bundle := mustBuild(t, fmt.Sprintf(`
ociTools.buildContainer {
  name = "writable-%s-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" ''%s'' ];
  storeMode = %q;
}`, mode, fmt.Sprintf(script, "${busybox}", "${busybox}"), mode), false)
			copyDir := filepath.Join(dir, "writable-"+mode)
			if out, err := exec.Command(builderBin(), "writable", bundle, copyDir).CombinedOutput(); err != nil {
				t.Fatalf("oci-builder writable: %v\n%s", err, out)
			}
			validate(t, copyDir)
			r := runc(t, copyDir)
			want := "root: writable\netc: writable\nstore: writable\n"
			if mode == "bind" {
				want = "root: writable\netc: writable\nstore: read-only\n"
			}
			if r.code != 0 || r.stdout != want {
				t.Fatalf("%s: writable copy run: exit %d\n%s\n%s", mode, r.code, r.stdout, r.stderr)
			}
			verifyStore(t, bundle)
		}
	})
}

// TestSeccomp: Docker's default filter is on (Seccomp: 2 in
// /proc/self/status, unshare -U refused, which the kernel otherwise allows
// root without CAP_SYS_ADMIN), rootless too, and "unconfined" turns it off.
func TestSeccomp(t *testing.T) {
	need(t)
	t.Parallel()
	script := `busybox sed -n 's/^Seccomp:[[:space:]]*/seccomp /p' /proc/self/status; busybox unshare -U true 2>/dev/null && echo unshare allowed || echo unshare refused`
	tests := []struct{ extra, want string }{
		{``, "seccomp 2\nunshare refused\n"},
		{`storeMode = "bind";`, "seccomp 2\nunshare refused\n"},
		{`seccomp = "unconfined";`, "seccomp 0\nunshare allowed\n"},
		{`seccomp = "default"; capabilities = [ "CAP_SYS_ADMIN" ];`, "seccomp 2\nunshare allowed\n"},
	}
	for i, tc := range tests {
		bundle := shellContainer(t, fmt.Sprintf("seccomp%d", i), tc.extra, script, i%2 == 0)
		if out := run(t, bundle); out != tc.want {
			t.Errorf("%s: %q, want %q", tc.extra, out, tc.want)
		}
	}
}

// mountAttackScript is what a hostile container runs against the mounts
// given as arguments, each a host source that reaches the store (the root,
// /proc/self/root/nix/store, "..", "rootfs"): for the closure's victim
// paths (a store path of this test alone, so that a failure cannot spoil
// what other tests share), as found under each mount, and each of their
// files and directories; for the bundles of this run
// where the mount shows the store; and /proc/sys/kernel/core_pattern under
// the host's root (opened for appending, nothing written), it tries to
// change it and prints a line for each attempt that succeeded.
const mountAttackScript = `
bb=$1
shift
n=0
tried=0
hit() { echo "CHANGED $*"; n=$((n+1)); }
attack() {
  p=$1
  [ -e "$p" ] || return 0
  tried=$((tried+1))
  if [ -d "$p" ]; then
    ( : > "$p/.pwned" ) 2>/dev/null && hit create "$p/.pwned"
  else
    (echo PWNED >> "$p") 2>/dev/null && hit write "$p"
  fi
  $bb chmod u+w "$p" 2>/dev/null && [ -w "$p" ] && hit chmod "$p"
  $bb touch -c -d 2001-01-01 "$p" 2>/dev/null && hit touch "$p"
}
for m in "$@"; do
  for c in $($bb ls /nix/store | $bb grep -e -victim-); do
    for p in "$m/nix/store/$c" "$m/$c"; do
      [ -e "$p" ] || continue
      attack "$p"
      for f in $($bb find "$p" -type f -o -type d 2>/dev/null); do attack "$f"; done
    done
  done
  for b in "$m"/*-mnt-attack-*-$NONCE "$m"/nix/store/*-mnt-attack-*-$NONCE; do
    attack "$b"
    attack "$b/config.json"
    attack "$b/rootfs"
  done
  if [ -e "$m/proc/sys/kernel/core_pattern" ]; then
    tried=$((tried+1))
    ( : >> "$m/proc/sys/kernel/core_pattern" ) 2>/dev/null && hit open-for-writing "$m/proc/sys/kernel/core_pattern"
  fi
done
echo "mount entries attacked: $tried"
echo "attempts that changed something: $n"
`

// TestStoreMountsImmutable gives a hostile container, in every store mode,
// the mount sources that reach the store (the host's root, a path through
// /proc/self/root, "..", the bundle's own rootfs: all recursively
// read-only) with the capabilities that override permissions, then checks
// nothing changed, also with /nix a mount of its own below the root
// (in a private mount namespace); the writable sources the build cannot
// judge (a symlink to the store, the store's block device) keep the
// container from starting; CAP_SYS_ADMIN and CAP_DAC_READ_SEARCH with a
// writable mount are refused in hardlink and bind mode and warned in copy
// and reflink mode; extraConfig's weakenings warn, and validate reports
// them. Every bundle and its closure, the victim the container attacked
// on the host among them, are then checked with nix-store --verify-path.
func TestStoreMountsImmutable(t *testing.T) {
	need(t)
	t.Parallel()
	dir := t.TempDir()
	link := filepath.Join(dir, "store-link")
	if err := os.Symlink("/nix/store", link); err != nil {
		t.Fatal(err)
	}
	device := storeDevice(t)
	modes := []string{"copy", "reflink", "hardlink", "bind"}
	overrideCaps := `capabilities = [ "CAP_DAC_OVERRIDE" "CAP_FOWNER" "CAP_CHOWN" "CAP_FSETID" "CAP_LINUX_IMMUTABLE" ];`
	var attrs, names []string
	for _, mode := range modes {
		attrs = append(attrs, fmt.Sprintf(`
  %[1]s = ociTools.buildContainer {
    name = "mnt-attack-%[1]s-${nonce}";
    args = [ "${busybox}/bin/sh" (builtins.toFile "mount-attack.sh" %[2]q) "${busybox}/bin/busybox" "/h" "/p" "/r" "/f" ];
    env = { VICTIM = "${victim}"; NONCE = nonce; };
    storeMode = %[1]q;
    %[3]s
    mounts."/h".source = "/";
    mounts."/p".source = "/proc/self/root/nix/store";
    mounts."/r".source = "..";
    mounts."/f".source = "rootfs";
  };
  %[1]s-link = ociTools.buildContainer {
    name = "mnt-link-%[1]s-${nonce}";
    args = [ "${busybox}/bin/sh" "-c" "echo started" ];
    storeMode = %[1]q;
    mounts."/s".source = %[4]q;
  };
  %[1]s-device = ociTools.buildContainer {
    name = "mnt-device-%[1]s-${nonce}";
    args = [ "${busybox}/bin/sh" "-c" "echo started" ];
    storeMode = %[1]q;
    mounts."/x" = { source = %[5]q; type = "ext4"; };
  };`, mode, mountAttackScript, overrideCaps, link, device))
		names = append(names, mode, mode+"-link", mode+"-device")
	}
	victim := `victim = derivation {
    name = "mnt-victim-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "${busybox}/bin/busybox mkdir -p $out/bin && echo victim > $out/bin/file" ];
  };`
	file := writeExpr(t, "let\n  "+victim+"\nin {\n  inherit victim;"+strings.Join(attrs, "\n")+"\n}")
	args := []string{"--option", "build-users-group", "", "-A", "victim"}
	for _, n := range names {
		args = append(args, "-A", n)
	}
	r := nixBuildFile(t, file, false, args...)
	if r.err != nil {
		t.Fatal(r)
	}
	outs := strings.Fields(r.out)
	if len(outs) != len(names)+1 {
		t.Fatalf("built %q for victim and %q", outs, names)
	}
	victimPath, outs := outs[0], outs[1:]
	for i, mode := range modes {
		bundle, linked, dev := outs[3*i], outs[3*i+1], outs[3*i+2]
		t.Run(mode, func(t *testing.T) {
			if mode == "hardlink" && !strings.Contains(r.log, "mode hardlink, ") {
				t.Fatalf("no hard links were made:\n%s", r.log)
			}
			config := validate(t, bundle)
			for _, dest := range []string{"/h", "/p", "/r", "/f"} {
				if !strings.Contains(string(config), fmt.Sprintf("%q", dest)) {
					t.Fatalf("no mount at %s", dest)
				}
			}
			res := runc(t, bundle)
			checkMountAttack(t, res)
			// /nix a mount of its own: what is below "/" on the host is
			// read-only too.
			id := fmt.Sprintf("ocib-%s-nixmnt-%s", h.nonce, mode)
			out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
				`mount --bind /nix /nix && exec runc run --bundle "$1" "$2"`, "sh", bundle, id).CombinedOutput()
			exec.Command("runc", "delete", "--force", id).Run()
			if err != nil {
				t.Fatalf("with /nix a mount of its own: %v\n%s", err, out)
			}
			checkMountAttack(t, runcResult{stdout: string(out)})
			for _, c := range []struct{ bundle, want string }{
				{linked, "mount source " + link + " is the store /nix/store"},
				{dev, "mount source " + device + " is the block device of the filesystem of the store /nix/store"},
			} {
				res := runc(t, c.bundle)
				if res.code == 0 || strings.Contains(res.stdout, "started") || !strings.Contains(res.stderr, c.want) {
					t.Errorf("%s: exit %d, stdout %q, stderr %s", c.bundle, res.code, res.stdout, res.stderr)
				}
			}
			verifyStore(t, bundle)
		})
	}
	// The host's store paths reached through /h, /p and /r.
	if v := runNix(t, "nix-store", "--verify-path", victimPath); v.err != nil || v.log != "" {
		t.Fatalf("the container changed the store: %v", v)
	}

	t.Run("capabilities", func(t *testing.T) {
		for _, c := range []struct{ name, extra, want string }{
			{"CAP_SYS_ADMIN", `capabilities = [ "CAP_SYS_ADMIN" ];`, "process.capabilities has CAP_SYS_ADMIN"},
			{"CAP_DAC_READ_SEARCH", `capabilities = [ "CAP_DAC_READ_SEARCH" ]; mounts."/data".source = "/var/lib/ocib-absent-${nonce}";`, "process.capabilities has CAP_DAC_READ_SEARCH with the writable mount /data: open_by_handle_at"},
		} {
			for _, mode := range modes {
				r := nixBuild(t, fmt.Sprintf(`ociTools.buildContainer {
  name = "caps-%s-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" "true" ];
  storeMode = %q;
  %s
}`, mode, mode, c.extra), false)
				refused := mode == "hardlink" || mode == "bind"
				switch {
				case refused && (r.err == nil || !strings.Contains(errorLine(r.log), fmt.Sprintf("storeMode %q refuses this: %s", mode, c.want))):
					t.Errorf("%s, %s: not refused: %v", c.name, mode, r)
				case !refused && (r.err != nil || !strings.Contains(r.log, "oci-builder: warning: "+c.want)):
					t.Errorf("%s, %s: no warning: %v", c.name, mode, r)
				}
			}
		}
	})

	// Filesystem mounts write through their sources and the paths their
	// options name: an overlay's upperdir and workdir (the kernel writes
	// into the workdir as it mounts it, before the start check runs), a
	// device named by a path relative to the bundle.
	t.Run("filesystems", func(t *testing.T) {
		for _, c := range []struct{ mount, want string }{
			{`{ type = "overlay"; source = "overlay"; options = [ "lowerdir=/srv" "upperdir=${busybox}" "workdir=/var/tmp/ocib-work" ]; }`, "mount /x: a filesystem (type overlay) through the host path /nix/store/"},
			{`{ type = "overlay"; source = "overlay"; options = [ "lowerdir=/srv" "upperdir=/var/tmp/ocib-up" "workdir=/var/tmp/ocib-work" ]; }`, "mount /x: a filesystem (type overlay) through the host path /var/tmp/ocib-up, which may reach the store (an overlay's workdir is written as it is mounted"},
			{`{ type = "ext4"; source = "../../../dev/vda"; }`, "mount /x: a filesystem (type ext4) through the host path ../../../dev/vda, which may reach the store (a relative source"},
		} {
			r := nixBuild(t, fmt.Sprintf(`ociTools.buildContainer {
  name = "fs-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" "true" ];
  mounts."/x" = %s;
}`, c.mount), false)
			if r.err == nil || !strings.Contains(errorLine(r.log), c.want) {
				t.Errorf("%s: not refused with %q: %v", c.mount, c.want, r)
			}
		}
	})

	t.Run("extraConfig", func(t *testing.T) {
		r := nixBuild(t, `ociTools.buildContainer {
  name = "weak-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" "true" ];
  extraConfig = {
    linux.readonlyPaths = [ ];
    linux.maskedPaths = [ ];
    hooks.prestart = [ { path = "/bin/true"; } ];
    linux.devices = [ { path = "/dev/disk"; type = "b"; major = 254; minor = 0; } ];
    mounts = [
      { destination = "/s"; type = "none"; source = "/nix/store"; options = [ "rbind" "rw" ]; }
      { destination = "/o"; type = "overlay"; source = "overlay"; options = [ "lowerdir=/srv" "upperdir=/var/tmp/ocib-up" "workdir=/var/tmp/ocib-work" ]; }
    ];
  };
}`, false)
		if r.err != nil {
			t.Fatal(r)
		}
		wants := []string{
			"mounts[0] (/s): source /nix/store may reach the store (it is or holds the store) and is mounted writable",
			"mounts[1] (/o): a filesystem (type overlay) from the host's /var/tmp/ocib-up, which may reach the store (an overlay's workdir is written as it is mounted",
			"hooks.prestart[0] runs /bin/true on the host",
			"linux.readonlyPaths lacks /proc/bus, /proc/fs, /proc/irq, /proc/sys, /proc/sysrq-trigger",
			"linux.maskedPaths lacks /proc/acpi",
			"linux.devices[0] makes the host's device b 254:0 at /dev/disk: a block device may be the store's disk",
		}
		out, err := exec.Command(builderBin(), "validate", r.out).CombinedOutput()
		if err != nil {
			t.Fatalf("validate: %v\n%s", err, out)
		}
		for _, w := range wants {
			if !strings.Contains(r.log, "oci-builder: warning: "+w) {
				t.Errorf("the build does not warn %q:\n%s", w, r.log)
			}
			if !strings.Contains(string(out), r.out+": warning: "+w) {
				t.Errorf("validate does not report %q:\n%s", w, out)
			}
		}
	})
}

// checkMountAttack checks the mount attack's report: many entries
// attacked, none changed.
func checkMountAttack(t *testing.T, r runcResult) {
	t.Helper()
	var tried int
	for _, line := range strings.Split(r.stdout, "\n") {
		fmt.Sscanf(line, "mount entries attacked: %d", &tried)
	}
	if r.code != 0 || tried < 15 || !strings.Contains(r.stdout, "attempts that changed something: 0\n") {
		t.Fatalf("mount attack: exit %d, %d entries attacked\n%s\n%s", r.code, tried, r.stdout, r.stderr)
	}
}

// storeDevice is the block device in /dev of the store's filesystem.
func storeDevice(t *testing.T) string {
	t.Helper()
	// The store exists once something is built: the chroot's may be new.
	f := filepath.Join(t.TempDir(), "store-device-"+h.nonce)
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runNix(t, "nix-store", "--add", f); r.err != nil {
		t.Fatal(r)
	}
	var store syscall.Stat_t
	if err := syscall.Stat("/nix/store", &store); err != nil {
		t.Fatal(err)
	}
	dev := store.Dev
	entries, err := os.ReadDir("/dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		var st syscall.Stat_t
		p := filepath.Join("/dev", e.Name())
		if syscall.Lstat(p, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFBLK && st.Rdev == dev {
			return p
		}
	}
	t.Fatalf("no block device in /dev for the store's filesystem (device %d)", dev)
	return ""
}
