// Package daemontest starts a real nix-daemon for tests and benchmarks, on
// a socket of its own, adds store paths for tests to ask it about, and
// scripts peers that greet as a daemon.
package daemontest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oci-builder/oci-builder/internal/watchdog"
	"github.com/oci-builder/oci-builder/pkg/store/daemon"
)

// Start starts a nix-daemon (Launch) on a socket of the test's, stopped
// when the test ends, and returns the socket. Without nix-daemon or root
// the test is skipped, or fails under CI.
func Start(t testing.TB) string {
	t.Helper()
	need := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s", why)
		}
		t.Skip(why)
	}
	if _, err := exec.LookPath("nix-daemon"); err != nil {
		need("nix-daemon is missing")
	}
	if os.Geteuid() != 0 {
		need("a nix-daemon of the local store needs root")
	}
	dir, err := os.MkdirTemp("", "nix-daemon-") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "sock")
	stop, err := Launch(socket)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		os.RemoveAll(dir)
	})
	return socket
}

// Env is the environment, beside the caller's, of a nix-daemon listening
// on socket whose workers open the local store: never a daemon, which
// could be their own socket (a non-root user's "auto", NIX_REMOTE=daemon),
// whatever NIX_REMOTE or NIX_CONFIG say. The local store needs root.
func Env(socket string) []string {
	return []string{"NIX_DAEMON_SOCKET_PATH=" + socket, "NIX_REMOTE=local",
		"NIX_CONFIG=" + os.Getenv("NIX_CONFIG") + "\nstore = local"}
}

// Launch starts a nix-daemon serving the machine's store (Env) on socket,
// in a process group of its own under a watchdog that stops it and removes
// socket's directory if this process dies first (watchdog.StartGroup), and
// waits up to 30 s until it completes a greeting. The function it returns
// stops it (SIGTERM to its process group unless it has exited, SIGKILL
// 30 s later). An error carries the daemon's output.
func Launch(socket string) (stop func(), err error) {
	cmd := exec.Command("nix-daemon")
	cmd.Env = append(os.Environ(), Env(socket)...)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	g, err := watchdog.StartGroup(cmd, filepath.Dir(socket))
	if err != nil {
		return nil, fmt.Errorf("start nix-daemon: %w", err)
	}
	stop = func() { g.Stop(30 * time.Second) }
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := daemon.Dial(context.Background(), socket)
		if err == nil {
			c.Close()
			return stop, nil
		}
		select {
		case <-g.Done():
			return nil, fmt.Errorf("nix-daemon exited at start:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("nix-daemon did not serve on %s within 30 s: %v\n%s", socket, err, log.String())
		}
	}
}

// syncBuffer is a bytes.Buffer that the daemon's output goroutine and the
// test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("nix-instantiate: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("nix-instantiate: %v", err)
	}
	s, err := strconv.Unquote(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("nix-instantiate printed %q", out)
	}
	return strings.Fields(s)
}

// Msg is what a peer sends in Nix's wire format: numbers as 64-bit little
// endian, strings with their length and padding to 8 bytes.
type Msg []byte

// U appends the numbers.
func (m Msg) U(ns ...uint64) Msg {
	for _, n := range ns {
		m = binary.LittleEndian.AppendUint64(m, n)
	}
	return m
}

// S appends the strings.
func (m Msg) S(ss ...string) Msg {
	for _, s := range ss {
		m = m.U(uint64(len(s)))
		m = append(m, s...)
		m = append(m, make([]byte, (8-len(s)%8)%8)...)
	}
	return m
}

// Peer listens on a socket of the test's and serves each connection with
// serve, on a goroutine of its own, until the test ends (when it waits for
// them), and returns the socket: a scripted daemon.
func Peer(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() { l.Close(); wg.Wait() })
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return socket
}

// ReadRequest reads a request of one operation and one string (as
// QueryPathInfo is) from the client.
func ReadRequest(c net.Conn) error {
	head := make([]byte, 16)
	if _, err := io.ReadFull(c, head); err != nil {
		return err
	}
	n := binary.LittleEndian.Uint64(head[8:])
	_, err := io.ReadFull(c, make([]byte, (n+7)/8*8))
	return err
}

// Refusing listens on a socket of the test's, as a daemon of protocol 1.35
// that completes the greeting and then answers every QueryPathInfo with
// the error message, and returns the socket.
func Refusing(t testing.TB, message string) string {
	t.Helper()
	const stderrLast, stderrError = 0x616c7473, 0x63787470
	return Peer(t, func(c net.Conn) {
		// Magic; version, CPU affinity, reserved space.
		if _, err := io.ReadFull(c, make([]byte, 8)); err != nil {
			return
		}
		c.Write(Msg{}.U(0x6478696f, 1<<8|35))
		if _, err := io.ReadFull(c, make([]byte, 24)); err != nil {
			return
		}
		// Nix version, trust, end of the start-up messages.
		c.Write(Msg{}.S("2.99.0").U(0, stderrLast))
		for ReadRequest(c) == nil {
			// A structured error (1.26 on): type, level, name,
			// message, no position, no traces.
			c.Write(Msg{}.U(stderrError).S("Error").U(0).S("Error", message).U(0, 0))
		}
	})
}
