// Package daemontest starts a real nix-daemon for tests, on a socket of its
// own, and adds store paths for them to ask it about.
package daemontest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oci-builder/oci-builder/internal/watchdog"
)

// Start starts a nix-daemon serving the machine's store on a socket of the
// test's (NIX_DAEMON_SOCKET_PATH), stopped when the test ends, and returns
// the socket. Without nix-daemon the test is skipped, or fails under CI.
func Start(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("nix-daemon"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but nix-daemon is missing")
		}
		t.Skip("no nix-daemon")
	}
	dir, err := os.MkdirTemp("", "nix-daemon-") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "sock")
	cmd := exec.Command("nix-daemon")
	cmd.Env = append(os.Environ(), "NIX_DAEMON_SOCKET_PATH="+socket)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	// The watchdog stops it if the test binary dies first (a panic).
	wd, err := watchdog.Start(cmd.Process.Pid, dir)
	t.Cleanup(func() {
		if wd != nil {
			wd.Stop()
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("watchdog: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(socket); err == nil {
			return socket
		}
		if time.Now().After(deadline) {
			t.Fatal("nix-daemon did not listen within 30 s")
		}
	}
}

// AddPaths adds n+1 new files to the store with builtins.toFile: a root
// that refers to the n others, which refer to nothing. It returns the
// root, then the others.
func AddPaths(t testing.TB, n int) []string {
	t.Helper()
	// The test's name and the time make them new paths.
	tag := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	expr := `let
  leaves = builtins.genList (i: builtins.toFile "daemontest-leaf-${toString i}" "` + tag + ` ${toString i}") ` + strconv.Itoa(n) + `;
  root = builtins.toFile "daemontest-root" (builtins.concatStringsSep " " leaves);
in builtins.concatStringsSep " " ([ root ] ++ leaves)`
	out, err := exec.Command("nix-instantiate", "--eval", "--read-write-mode", "-E", expr).Output()
	if err != nil {
		t.Fatalf("nix-instantiate: %v", err)
	}
	s, err := strconv.Unquote(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("nix-instantiate printed %q", out)
	}
	return strings.Fields(s)
}
