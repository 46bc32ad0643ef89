package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
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
