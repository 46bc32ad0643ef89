package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// shellContainer builds a container that runs script with busybox's sh,
// with extra buildContainer arguments, and returns the bundle.
func shellContainer(t *testing.T, name, extra, script string, sandbox bool) string {
	t.Helper()
	return mustBuild(t, fmt.Sprintf(`
ociTools.buildContainer {
  name = "%s-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" %q ];
  %s
}`, name, script, extra), sandbox)
}

// run runs the bundle and returns its stdout, failing on a non-zero exit.
func run(t *testing.T, bundle string) string {
	t.Helper()
	validate(t, bundle)
	r := runc(t, bundle)
	if r.code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestEnvAndPath(t *testing.T) {
	need(t)
	t.Parallel()
	bundle := mustBuild(t, `
let
  data = builtins.toFile "data.txt" "data from an env store path";
in
ociTools.buildContainer {
  name = "env-${nonce}";
  env = { GREETING = "hello env"; DATA = data; NUMBER = 42; };
  args = [ "${busybox}/bin/sh" "-c" "echo $GREETING $NUMBER; busybox cat $DATA; echo; echo HOME=$HOME; echo PATH=$PATH" ];
}`, true)
	out := run(t, bundle)
	// busybox is found through the default PATH, made of the closure's bin
	// directories; the env store path is in the rootfs.
	m := regexp.MustCompile(`^hello env 42\ndata from an env store path\nHOME=/root\nPATH=(/nix/store/[a-z0-9]{32}-busybox/bin)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stdout %q", out)
	}
}

func TestWorkingDirHostnameTerminalless(t *testing.T) {
	need(t)
	t.Parallel()
	out := run(t, shellContainer(t, "cwd", `workingDir = "/srv/app"; hostname = "web-1";`,
		"busybox pwd; busybox hostname; busybox tty || true", false))
	if out != "/srv/app\nweb-1\nnot a tty\n" {
		t.Fatalf("stdout %q", out)
	}
	// Without a hostname the container is "container", not the host's.
	if out := run(t, shellContainer(t, "nohost", ``, "busybox hostname", true)); out != "container\n" {
		t.Fatalf("stdout %q", out)
	}
}

func TestUsers(t *testing.T) {
	need(t)
	t.Parallel()
	tests := []struct {
		name, extra, want string
	}{
		{"default root", ``, "uid=0(root) gid=0(root)|root|/root|"},
		// busybox id lists the supplementary groups, which are those that
		// name the user as a member.
		{"named user", `user = "app"; extraGroups.audio = { gid = 29; members = [ "app" ]; };`,
			"uid=1000(app) gid=1000(app) groups=29(audio)|app|/home/app|"},
		{"numeric user and group", `user = 4242; group = "staff"; extraGroups.staff = { gid = 50; };`,
			"uid=4242(user) gid=50(staff)|user|/home/user|"},
		{"nobody", `user = "nobody";`, "uid=65534(nobody) gid=65534(nobody)|nobody|/var/empty|"},
		{"extra user", `user = "svc"; extraUsers.svc = { uid = 900; gid = 65534; home = "/var/lib/svc"; };`,
			"uid=900(svc) gid=65534(nobody)|svc|/var/lib/svc|"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Every user can write to /tmp, also with a read-only root.
			out := run(t, shellContainer(t, "user", tc.extra+` readonly = true;`,
				`echo "$(busybox id)|$(busybox whoami)|$HOME|"; echo written > /tmp/f && busybox cat /tmp/f; busybox stat -c %a /dev/tmp`, true))
			if out != tc.want+"\nwritten\n1777\n" {
				t.Fatalf("stdout %q, want %q", out, tc.want+"\nwritten\n1777\n")
			}
		})
	}
}

// maskedScript prints, for each path that exists, whether it is a file or a
// directory and its size or number of entries.
func maskedScript(paths []string) string {
	return `for p in ` + strings.Join(paths, " ") + `; do
  if [ -d $p ]; then echo "$p dir $(busybox ls -A $p | busybox wc -l)"
  elif [ -e $p ]; then echo "$p file $(busybox wc -c < $p)"; fi
done`
}

// runcMaskedPaths are `runc spec`'s maskedPaths.
var runcMaskedPaths = []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}

// maskedWant is what maskedScript prints for masked paths: those that exist
// on the host, empty.
func maskedWant(t *testing.T, paths []string) string {
	t.Helper()
	var want strings.Builder
	for _, p := range paths {
		st, err := os.Stat(p)
		switch {
		case err != nil:
		case st.IsDir():
			fmt.Fprintf(&want, "%s dir 0\n", p)
		default:
			fmt.Fprintf(&want, "%s file 0\n", p)
		}
	}
	return want.String()
}

func TestSecurityDefaults(t *testing.T) {
	need(t)
	t.Parallel()
	// Masking matters: the host's /proc/timer_list has content.
	if data, err := os.ReadFile("/proc/timer_list"); err != nil || len(data) == 0 {
		t.Fatalf("host /proc/timer_list: %v, %d bytes", err, len(data))
	}
	script := `busybox grep -E '^(CapEff|CapPrm|CapBnd|CapInh|CapAmb|NoNewPrivs)' /proc/self/status | busybox tr -d '\t'
echo nofile=$(ulimit -n)
echo 1 > /proc/sys/kernel/panic 2>/dev/null || echo proc-sys-readonly
` + maskedScript(runcMaskedPaths)
	masked := maskedWant(t, runcMaskedPaths)
	tests := []struct {
		name, extra, want string
	}{
		// runc spec's set: CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
		{"defaults", ``, "CapInh:0000000000000000\nCapPrm:0000000020000420\nCapEff:0000000020000420\nCapBnd:0000000020000420\nCapAmb:0000000000000000\nNoNewPrivs:1\nnofile=1024\nproc-sys-readonly\n" + masked},
		{"options", `capabilities = [ "chown" ]; rlimits.nofile = 4096; noNewPrivileges = false;`,
			"CapInh:0000000000000000\nCapPrm:0000000000000001\nCapEff:0000000000000001\nCapBnd:0000000000000001\nCapAmb:0000000000000000\nNoNewPrivs:0\nnofile=4096\nproc-sys-readonly\n" + masked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, shellContainer(t, "sec", tc.extra, script, false))
			if out != tc.want {
				t.Fatalf("stdout\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
}

// interfaces lists network interface names from /proc/net/dev text.
func interfaces(procNetDev string) []string {
	var out []string
	for _, line := range strings.Split(procNetDev, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			out = append(out, strings.TrimSpace(name))
		}
	}
	sort.Strings(out)
	return out
}

func TestNetwork(t *testing.T) {
	need(t)
	t.Parallel()
	hostDev, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	hostIfaces := interfaces(string(hostDev))
	if len(hostIfaces) < 2 {
		t.Fatalf("host has interfaces %v; the test needs one besides lo", hostIfaces)
	}
	private := run(t, shellContainer(t, "netpriv", ``, "busybox cat /proc/net/dev", true))
	if got := interfaces(private); strings.Join(got, ",") != "lo" {
		t.Fatalf("private network has %v", got)
	}
	host := run(t, shellContainer(t, "nethost", `network = "host";`,
		"busybox cat /proc/net/dev; echo ===; busybox cat /etc/resolv.conf /etc/hosts", true))
	dev, files, _ := strings.Cut(host, "===\n")
	if got := interfaces(dev); strings.Join(got, ",") != strings.Join(hostIfaces, ",") {
		t.Fatalf("host network shows %v, host has %v", got, hostIfaces)
	}
	var want []byte
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, data...)
	}
	if files != string(want) {
		t.Fatalf("container's resolv.conf and hosts %q, host's %q", files, want)
	}
}

func TestResources(t *testing.T) {
	need(t)
	t.Parallel()
	// 64 MiB of zeros through a 64 MiB buffer needs more than a 32 MiB limit.
	hog := "busybox dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null && echo survived"
	free := run(t, shellContainer(t, "nolimit", ``, hog, false))
	if free != "survived\n" {
		t.Fatalf("without a limit: %q", free)
	}
	bundle := shellContainer(t, "limits", `resources = { memory = "32M"; cpu = 0.5; pids = 64; };`,
		`busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max
`+hog, false)
	validate(t, bundle)
	r := runc(t, bundle)
	if r.stdout != "33554432\n50000\n64\n" || r.code == 0 {
		t.Fatalf("with limits: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestAnnotationsAndExtraConfig(t *testing.T) {
	need(t)
	t.Parallel()
	bundle := shellContainer(t, "extra", `annotations."org.example.owner" = "team";
  extraConfig = { process.oomScoreAdj = 300; linux.maskedPaths = [ "/proc/keys" ]; };`,
		"busybox cat /proc/self/oom_score_adj; busybox wc -c < /proc/keys; busybox wc -c < /proc/timer_list", true)
	config := validate(t, bundle)
	if !strings.Contains(string(config), `"org.example.owner": "team"`) {
		t.Fatalf("annotation missing:\n%s", config)
	}
	// extraConfig replaced the masked paths: /proc/keys is masked,
	// /proc/timer_list no longer.
	if out := run(t, bundle); !strings.HasPrefix(out, "300\n0\n") || strings.HasSuffix(out, "\n0\n0\n") {
		t.Fatalf("stdout %q", out)
	}
	// A typo in extraConfig fails the build, naming the field.
	r := nixBuild(t, `ociTools.buildContainer {
  name = "typo-${nonce}";
  args = [ "${busybox}/bin/sh" ];
  extraConfig.process.oomScoreAjd = 1;
}`, true)
	if line := errorLine(r.log); r.err == nil || !strings.HasPrefix(line, `oci-builder: error: extraConfig: unknown field "oomScoreAjd" in /process`) {
		t.Fatalf("error line %q\n%v", line, r)
	}
}

// TestRootless runs bundles as an unprivileged user: one made from a root
// bundle with `oci-builder rootless`, one built with rootless = { uid; gid; }.
func TestRootless(t *testing.T) {
	need(t)
	const name = "ocib-rootless"
	u, err := user.Lookup(name)
	if err != nil {
		if out, err := exec.Command("useradd", "--create-home", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v\n%s", err, out)
		}
		if u, err = user.Lookup(name); err != nil {
			t.Fatal(err)
		}
	}
	as := func(args ...string) (string, error) {
		cmd := exec.Command("runuser", append([]string{"-u", name, "--"}, args...)...)
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Groups: the supplementary groups. An unprivileged runc 1.1 cannot
	// drop those of the user running it, and the bundle must map that
	// user's group to container group 0 (runc chowns its stdio pipes to
	// it): a known limitation, which the build warns about.
	script := `echo "$(busybox id -u):$(busybox id -g) $(busybox whoami) groups=$(busybox sed -n 's/^Groups:[[:space:]]*//p' /proc/self/status | busybox tr -d ' ')"; echo ok > /tmp/f && busybox cat /tmp/f`
	dir, err := os.MkdirTemp("", "ocib-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, mustAtoi(t, u.Uid), mustAtoi(t, u.Gid)); err != nil {
		t.Fatal(err)
	}

	t.Run("oci-builder rootless", func(t *testing.T) {
		for _, extra := range []string{``, `user = "app";`} {
			bundle := shellContainer(t, "rl", extra, script, true)
			variant := filepath.Join(dir, "variant"+fmt.Sprint(len(extra)))
			out, err := as(filepath.Join(h.builder, "bin", "oci-builder"), "rootless", bundle, variant)
			if err != nil {
				t.Fatalf("oci-builder rootless: %v\n%s", err, out)
			}
			validate(t, variant)
			want := "0:0 root groups=0\nok\n"
			if extra != "" {
				want = "1000:1000 app groups=0\nok\n"
			}
			out, err = as("runc", "--root", filepath.Join(dir, "state"), "run", "--bundle", variant, "rl-"+h.nonce+fmt.Sprint(len(extra)))
			if err != nil || out != want {
				t.Fatalf("rootless run: %v\n%q, want %q", err, out, want)
			}
		}
	})
	t.Run("rootless option, bind mode", func(t *testing.T) {
		// The unprivileged runtime makes the mountpoints in the tmpfs at
		// /nix/store inside the container's user namespace.
		bundle := shellContainer(t, "rlbind", fmt.Sprintf(`rootless = { uid = %s; gid = %s; }; storeMode = "bind";`, u.Uid, u.Gid),
			`busybox ls /nix/store | busybox wc -l; busybox touch $0 2>&1 | busybox sed 's/.*: //'`, false)
		validate(t, bundle)
		out, err := as("runc", "--root", filepath.Join(dir, "state"), "run", "--bundle", bundle, "rlbind-"+h.nonce)
		if err != nil || out != "1\nRead-only file system\n" {
			t.Fatalf("rootless bind run: %v\n%q", err, out)
		}
	})
	t.Run("rootless option", func(t *testing.T) {
		bundle := shellContainer(t, "rlopt", fmt.Sprintf(`rootless = { uid = %s; gid = %s; };`, u.Uid, u.Gid), script, false)
		validate(t, bundle)
		out, err := as("runc", "--root", filepath.Join(dir, "state"), "run", "--bundle", bundle, "rlopt-"+h.nonce)
		if err != nil || out != "0:0 root groups=0\nok\n" {
			t.Fatalf("rootless run: %v\n%q", err, out)
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOptionEvaluationErrors(t *testing.T) {
	need(t)
	tests := []struct {
		name, args, want string
	}{
		{"env value", `env.A = [ "x" ];`, "'env.A' must be a string, got a list"},
		{"env not attrs", `env = [ "A=B" ];`, "'env' must be an attribute set, got a list"},
		{"user list", `user = [ "x" ];`, "'user' must be a name or a number, got a list"},
		{"capabilities", `capabilities = "CAP_KILL";`, "'capabilities' must be a list of capability names or an attribute set of capability sets, got a string"},
		{"network", `network = "bridge";`, `'network' must be one of "private", "host", got "bridge"`},
		{"rootless gid", `rootless = { uid = 1000; };`, "'rootless' needs 'gid'"},
		{"resources key", `resources = { mem = "1G"; };`, "'resources' has unknown attribute 'mem' (known: cpu, memory, pids)"},
		{"extraUsers uid", `extraUsers.app = { uid = "1000"; };`, "'extraUsers.app.uid' must be an integer, got a string"},
		{"tmp", `tmp = "yes";`, "'tmp' must be a boolean, got a string"},
		{"extraConfig", `extraConfig = "{}";`, "'extraConfig' must be an attribute set, got a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runNix(t, "nix-instantiate", writeExpr(t, `ociTools.buildContainer { args = [ "x" ]; `+tc.args+` }`))
			if r.err == nil || !strings.Contains(r.log, "ociTools.buildContainer: "+tc.want) {
				t.Fatalf("want error %q, got %v", tc.want, r)
			}
		})
	}
}

func TestTerminalAndNoTmp(t *testing.T) {
	need(t)
	t.Parallel()
	// The bundle says arm64 but runs here: the default seccomp filter,
	// made for the bundle's architecture, would refuse every x86_64 system
	// call (busybox could not even start), hence unconfined.
	bundle := shellContainer(t, "tty", `terminal = true; tmp = false; arch = "aarch64"; seccomp = "unconfined";`,
		"busybox tty; echo TERM=$TERM; busybox ls -d /tmp 2>&1; exit 0", true)
	config := validate(t, bundle)
	if !strings.Contains(string(config), `"org.opencontainers.image.architecture": "arm64"`) {
		t.Fatalf("arch annotation missing:\n%s", config)
	}
	// runc needs a terminal to give the container one: script(1) makes it.
	id := "tty-" + h.nonce
	cmd := exec.Command("script", "--quiet", "--return", "--command", "runc run --bundle "+bundle+" "+id, "/dev/null")
	out, err := cmd.CombinedOutput()
	exec.Command("runc", "delete", "--force", id).Run()
	text := strings.ReplaceAll(string(out), "\r", "")
	if err != nil || !strings.Contains(text, "/dev/pts/0\nTERM=xterm\nls: /tmp: No such file or directory\n") {
		t.Fatalf("%v\n%q", err, text)
	}
}
