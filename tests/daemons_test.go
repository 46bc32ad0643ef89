package tests

// Reusable helpers that start the image loaders' daemons for the tests:
// one dockerd and one containerd per test binary (started by the first
// test that needs it, stopped when the binary ends, see stopDaemons), each
// with its own directories and socket, so that nothing of the machine's
// own Docker or containerd is read or changed. podman needs no daemon (see
// podman in stream_test.go).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oci-builder/oci-builder/internal/watchdog"
	nixdaemon "github.com/oci-builder/oci-builder/pkg/store/daemon"
	"github.com/oci-builder/oci-builder/pkg/store/daemon/daemontest"
)

// daemon is a daemon a test binary started.
type daemon struct {
	name string
	dir  string // its directories and socket; removed when it stops
	sock string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	// group runs it in a process group of its own (stopping it stops
	// what it started), under a watchdog that stops it if the test
	// binary ends without doing so.
	group *watchdog.Group
}

var (
	daemonsMu sync.Mutex
	daemons   = map[string]*daemon{}
	// daemonErrs remembers a start that failed, so that every test
	// needing that daemon fails the same way without trying again.
	daemonErrs = map[string]error{}
)

// needDaemonTool skips the test without the daemon's programs, or fails
// it under CI.
func needDaemonTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CI is set but %s is missing", tool)
			}
			t.Skipf("missing %s", tool)
		}
	}
}

// startDaemon starts the daemon name once per test binary: args(dir,
// sock) is its command line, ready(d) tells when it serves (polled for a
// minute).
func startDaemon(t *testing.T, name string, args func(dir, sock string) []string, ready func(d *daemon) error) *daemon {
	t.Helper()
	daemonsMu.Lock()
	defer daemonsMu.Unlock()
	if d := daemons[name]; d != nil {
		return d
	}
	if err := daemonErrs[name]; err != nil {
		t.Fatal(err)
	}
	d, err := launch(name, args, ready)
	if err != nil {
		daemonErrs[name] = err
		t.Fatal(err)
	}
	daemons[name] = d
	return d
}

func launch(name string, args func(dir, sock string) []string, ready func(d *daemon) error) (*daemon, error) {
	// Short: a unix socket's path has at most 107 bytes.
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, err
	}
	d := &daemon{name: name, dir: dir, sock: filepath.Join(dir, "sock"), log: &bytes.Buffer{}}
	argv := args(dir, d.sock)
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if d.group, err = watchdog.StartGroup(d.cmd, dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := ready(d)
		if err == nil {
			return d, nil
		}
		select {
		case <-d.group.Done():
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%s exited at start: %v\n%s", name, d.cmd.ProcessState, tail(d.log.String()))
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("%s did not serve within a minute: %v\n%s", name, err, tail(d.log.String()))
		}
	}
}

// tail is the end of a daemon's log, for messages.
func tail(log string) string {
	if len(log) > 4000 {
		return "..." + log[len(log)-4000:]
	}
	return log
}

// stop stops the daemon's watchdog, then the daemon (SIGTERM, then SIGKILL
// after 30 s, to its process group, unless it has exited already: its
// group number may then be another's), and removes its directories.
func (d *daemon) stop() {
	d.group.Stop(30 * time.Second)
	// Mounts a daemon may leave (containerd's, dockerd's) go first.
	removeWithMounts(d.dir)
}

// removeWithMounts removes dir after detaching the mounts left below it
// (the runtimes' storage: dockerd's data root mounted on itself, podman's
// overlay directory made a private mount), deepest first; `umount -R dir`
// would not, dir itself not being a mount point.
func removeWithMounts(dir string) {
	if info, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var points []string
		for _, line := range strings.Split(string(info), "\n") {
			// The fifth field is the mount point, octal-escaped.
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
				points = append(points, f[4])
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(points)))
		for _, p := range points {
			detachMount(p)
		}
	}
	os.RemoveAll(dir)
}

// stopDaemons stops every daemon the test binary started (TestMain).
func stopDaemons() {
	daemonsMu.Lock()
	defer daemonsMu.Unlock()
	for name, d := range daemons {
		d.stop()
		delete(daemons, name)
	}
}

// run runs a client of the daemon (docker, ctr) with env, stdin from the
// file in when not empty, and returns its stdout; it fails the test on an
// error, with the daemon's log.
func (d *daemon) run(t *testing.T, env []string, in string, argv ...string) string {
	t.Helper()
	out, err := d.try(env, in, argv...)
	if err != nil {
		t.Fatalf("%s: %v\n%s\n%s log:\n%s", strings.Join(argv, " "), err, out, d.name, tail(d.log.String()))
	}
	return out
}

// try is run without failing: stdout (and stderr on an error) and the
// error.
func (d *daemon) try(env []string, in string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return "", err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// overlayStorage tells whether an overlay filesystem mounts in the
// temporary directory, where the runtimes keep their storage: not so where
// that directory is itself on overlayfs (a container's root). Then the
// runtimes use their overlay storage (Docker's overlay2, podman's overlay,
// containerd's overlayfs snapshotter), which stacks each layer on its
// parent, else their copying one (vfs, native), which copies the whole tree
// below each layer (the dockerTools examples' runtimes took 155 s with
// them, 135 s with overlay). Probed once per test binary.
var overlayStorage = sync.OnceValue(func() bool {
	dir, err := os.MkdirTemp("", "overlay-probe-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return false
		}
	}
	return overlayMounts(filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged"))
})

// storageFor is the storage driver (or snapshotter) to give a runtime:
// overlay when overlayStorage, else copying.
func storageFor(overlay, copying string) string {
	if overlayStorage() {
		return overlay
	}
	return copying
}

// ctrSnapshotter is the containerd snapshotter for ctr images import and
// ctr run (see overlayStorage).
func ctrSnapshotter() string { return storageFor("overlayfs", "native") }

// dockerDaemon is the test binary's dockerd (Debian's docker.io): its own
// data root, exec root, pid file and socket, no iptables, no bridge, the
// overlay2 storage driver, or vfs where overlay does not mount (see
// overlayStorage).
func dockerDaemon(t *testing.T) *daemon {
	t.Helper()
	needDaemonTool(t, "dockerd", "docker")
	return startDaemon(t, "dockerd", func(dir, sock string) []string {
		return []string{"dockerd",
			"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
			"--pidfile", filepath.Join(dir, "pid"), "-H", "unix://" + sock,
			"--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver", storageFor("overlay2", "vfs"),
			"--log-level", "warn"}
	}, func(d *daemon) error {
		_, err := d.try(d.dockerEnv(), "", "docker", "version")
		return err
	})
}

func (d *daemon) dockerEnv() []string {
	return []string{"DOCKER_HOST=unix://" + d.sock, "DOCKER_CONFIG=" + filepath.Join(d.dir, "client")}
}

// docker runs the docker client against the daemon; a foreground
// "docker run" is run as runAgainOn137 runs it.
func (d *daemon) docker(t *testing.T, in string, args ...string) string {
	t.Helper()
	argv := append([]string{"docker"}, args...)
	if len(args) > 0 && args[0] == "run" && !slices.Contains(args, "-d") {
		return d.runAgainOn137(t, d.dockerEnv(), in, argv...)
	}
	return d.run(t, d.dockerEnv(), in, argv...)
}

// runAgainOn137 is run, but a client that exits 137 is run once more.
// Besides a SIGKILL, 137 is the code containerd gives a task whose shim
// disconnected before reporting its exit (cleanupAfterDeadShim; containerd
// issue 8381), which Docker 20.10 does now and then on these VMs, with
// nothing printed (ci on stop 31: a "test 755 = ... && echo ok" printed
// nothing and exited 137). A program the kernel kills (out of memory, say)
// is killed again, and fails; a container the first run left behind makes
// the second fail, saying so.
func (d *daemon) runAgainOn137(t *testing.T, env []string, in string, argv ...string) string {
	t.Helper()
	out, err := d.try(env, in, argv...)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 137 {
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s log:\n%s", strings.Join(argv, " "), err, out, d.name, tail(d.log.String()))
		}
		return out
	}
	t.Logf("%s: exit status 137 with output %q; running it once more (a shim that disconnected early?)", strings.Join(argv, " "), out)
	return d.run(t, env, in, argv...)
}

// containerdDaemon is the test binary's containerd: its own root, state
// and socket, the CRI plugin disabled.
func containerdDaemon(t *testing.T) *daemon {
	t.Helper()
	needDaemonTool(t, "containerd", "ctr")
	return startDaemon(t, "containerd", func(dir, sock string) []string {
		config := filepath.Join(dir, "config.toml")
		os.WriteFile(config, []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc", filepath.Join(dir, "debug.sock"))), 0o644)
		return []string{"containerd", "--config", config, "--log-level", "warn"}
	}, func(d *daemon) error {
		_, err := d.try(nil, "", "ctr", "-a", d.sock, "version")
		return err
	})
}

// ctr runs ctr against the daemon, in the namespace "oci-builder-tests";
// a "ctr run --rm" is run as runAgainOn137 runs it.
func (d *daemon) ctr(t *testing.T, args ...string) string {
	t.Helper()
	argv := append([]string{"ctr", "-a", d.sock, "-n", "oci-builder-tests"}, args...)
	if len(args) > 0 && args[0] == "run" && slices.Contains(args, "--rm") {
		return d.runAgainOn137(t, nil, "", argv...)
	}
	return d.run(t, nil, "", argv...)
}

// nixDaemonTest is the test binary's nix-daemon, listening on a socket of
// its own (NIX_DAEMON_SOCKET_PATH), for the command line to ask the
// closure of, as it does in multi-user installs. It serves the machine's
// store: the same database the tests' nix-build writes.
func nixDaemonTest(t *testing.T) *daemon {
	t.Helper()
	needDaemonTool(t, "nix-daemon")
	return startDaemon(t, "nix-daemon", func(dir, sock string) []string {
		// Its workers open the local store, never a daemon: not their
		// own socket.
		return append(append([]string{"env"}, daemontest.Env(sock)...), "nix-daemon")
	}, func(d *daemon) error {
		c, err := nixdaemon.Dial(context.Background(), d.sock)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// nixDaemonEnv is the environment that sends the command line's closure
// queries to the daemon.
func (d *daemon) nixDaemonEnv() []string {
	return []string{"NIX_REMOTE=daemon", "NIX_DAEMON_SOCKET_PATH=" + d.sock}
}
