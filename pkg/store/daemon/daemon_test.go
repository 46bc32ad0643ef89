package daemon_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/store/daemon"
)

func TestSocketPath(t *testing.T) {
	tests := []struct {
		env    map[string]string
		socket string
		ok     bool
	}{
		{nil, daemon.DefaultSocket, true},
		{map[string]string{"NIX_REMOTE": "daemon"}, daemon.DefaultSocket, true},
		{map[string]string{"NIX_DAEMON_SOCKET_PATH": "/run/nix.sock"}, "/run/nix.sock", true},
		{map[string]string{"NIX_STATE_DIR": "/var/nix"}, "/var/nix/daemon-socket/socket", true},
		{map[string]string{"NIX_STATE_DIR": "/var/nix", "NIX_DAEMON_SOCKET_PATH": "/run/nix.sock"}, "/run/nix.sock", true},
		{map[string]string{"NIX_REMOTE": "unix:///tmp/s", "NIX_DAEMON_SOCKET_PATH": "/run/nix.sock"}, "/tmp/s", true},
		{map[string]string{"NIX_REMOTE": "unix:///tmp/s?trusted=1"}, "", false},
		{map[string]string{"NIX_REMOTE": "local"}, "", false},
		{map[string]string{"NIX_REMOTE": "/tmp/root"}, "", false},
		{map[string]string{"NIX_REMOTE": "ssh://host"}, "", false},
	}
	for _, tc := range tests {
		socket, ok := daemon.SocketPath(func(k string) string { return tc.env[k] })
		if socket != tc.socket || ok != tc.ok {
			t.Errorf("SocketPath(%v) = %q, %v; want %q, %v", tc.env, socket, ok, tc.socket, tc.ok)
		}
	}
}

// nixDaemon starts a nix-daemon on a socket of its own for the test and
// returns the socket. Without nix-daemon the test is skipped, or fails
// under CI.
func nixDaemon(t *testing.T) string {
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
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		os.RemoveAll(dir)
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(socket); err == nil {
			return socket
		}
		if time.Now().After(deadline) {
			t.Fatalf("nix-daemon did not listen within 30 s:\n%s", log.String())
		}
	}
}

// addedPaths adds two files to the store with builtins.toFile, the first
// referring to the second, and returns them.
func addedPaths(t *testing.T) (referrer, referee string) {
	t.Helper()
	// The test's name and time make them new paths, not ones another
	// run registered differently.
	tag := t.Name() + strconv.FormatInt(time.Now().UnixNano(), 10)
	expr := `let b = builtins.toFile "daemon-test-b" "` + tag + `"; in "${builtins.toFile "daemon-test-a" "refers to ${b}"} ${b}"`
	out, err := exec.Command("nix-instantiate", "--eval", "--read-write-mode", "-E", expr).Output()
	if err != nil {
		t.Fatalf("nix-instantiate: %v", err)
	}
	s, err := strconv.Unquote(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("nix-instantiate printed %q", out)
	}
	f := strings.Fields(s)
	return f[0], f[1]
}

// TestClosureMatchesPathInfo asks a real nix-daemon for a closure and
// compares it with `nix path-info --json --recursive`'s.
func TestClosureMatchesPathInfo(t *testing.T) {
	socket := nixDaemon(t)
	a, b := addedPaths(t)
	c, err := daemon.Dial(context.Background(), socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v := c.Version(); v != "1.25" {
		t.Errorf("negotiated protocol %s, want 1.25", v)
	}
	got, err := c.Closure([]string{a, a})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("nix", "--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive", a).Output()
	if err != nil {
		t.Fatalf("nix path-info: %v", err)
	}
	want, err := store.ParsePathInfo(out, "/nix/store")
	if err != nil {
		t.Fatal(err)
	}
	g, err := store.NewGraph(got, "/nix/store")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Paths(), []string{b, a}) && !reflect.DeepEqual(g.Paths(), []string{a, b}) {
		t.Fatalf("closure %v, want %s and %s", g.Paths(), a, b)
	}
	for _, p := range want.Paths() {
		w, _ := want.Lookup(p)
		d, ok := g.Lookup(p)
		if !ok {
			t.Fatalf("the daemon's closure lacks %s", p)
		}
		// nix path-info writes the hash as SRI or nix-base32, depending
		// on its version.
		if !sameHash(t, d.NarHash, w.NarHash) {
			t.Errorf("%s: NAR hash %s, nix path-info says %s", p, d.NarHash, w.NarHash)
		}
		if d.NarSize != w.NarSize || !reflect.DeepEqual(d.References, w.References) || d.CA != w.CA {
			t.Errorf("%s: daemon %+v, nix path-info %+v", p, d, w)
		}
	}
	// A second query on the same connection.
	info, err := c.PathInfo(b)
	if err != nil || info.Path != b || len(info.References) != 0 {
		t.Fatalf("PathInfo(%s) = %+v, %v", b, info, err)
	}
}

// sameHash tells whether two hashes, in any of Nix's notations, are the
// same SHA-256.
func sameHash(t *testing.T, a, b string) bool {
	t.Helper()
	sha256 := nixhash.SHA256
	ha, err := nixhash.ParseAny(a, &sha256)
	if err != nil {
		t.Fatalf("hash %q: %v", a, err)
	}
	hb, err := nixhash.ParseAny(b, &sha256)
	if err != nil {
		t.Fatalf("hash %q: %v", b, err)
	}
	return bytes.Equal(ha.Digest(), hb.Digest())
}

func TestClosureNotValid(t *testing.T) {
	socket := nixDaemon(t)
	c, err := daemon.Dial(context.Background(), socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	missing := "/nix/store/" + strings.Repeat("0", 32) + "-not-there"
	_, err = c.Closure([]string{missing})
	var nv *daemon.NotValidError
	if !errors.As(err, &nv) || nv.Path != missing {
		t.Fatalf("Closure of a path that is not valid: %v", err)
	}
	// The daemon refuses a path outside its store; the connection then
	// ends.
	_, err = c.PathInfo("/tmp/x")
	var de *daemon.Error
	if !errors.As(err, &de) || !strings.Contains(de.Message, "/tmp/x") {
		t.Fatalf("PathInfo(/tmp/x): %v", err)
	}
}

func TestDialUnavailable(t *testing.T) {
	dir := t.TempDir()
	// A socket nobody listens on any more, and no socket at all.
	stale := filepath.Join(dir, "stale")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	for _, socket := range []string{stale, filepath.Join(dir, "absent")} {
		_, err := daemon.Dial(context.Background(), socket)
		if !errors.Is(err, daemon.ErrUnavailable) {
			t.Errorf("Dial(%s): %v, want ErrUnavailable", socket, err)
		}
	}
}

// msg builds what a daemon sends: numbers as 64-bit little endian, strings
// with their length and padding to 8 bytes.
type msg []byte

func (m msg) u(ns ...uint64) msg {
	for _, n := range ns {
		m = binary.LittleEndian.AppendUint64(m, n)
	}
	return m
}

func (m msg) s(ss ...string) msg {
	for _, s := range ss {
		m = m.u(uint64(len(s)))
		m = append(m, s...)
		m = append(m, make([]byte, (8-len(s)%8)%8)...)
	}
	return m
}

const (
	magic2      = 0x6478696f
	stderrLast  = 0x616c7473
	stderrNext  = 0x6f6c6d67
	stderrError = 0x63787470
	startAct    = 0x53545254
	stopAct     = 0x53544f50
	result      = 0x52534c54
)

// fakeDaemon serves one connection on a socket of the test's: it reads the
// client's magic number and sends greeting; then, unless startup is nil
// (it closes the connection), it reads the client's version and the two
// obsolete settings and sends startup; then it reads one request (an
// operation and a string) and sends answer, and closes the connection (with
// a nil answer, it waits for the client to close it).
func fakeDaemon(t *testing.T, greeting, startup, answer msg) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := io.ReadFull(c, make([]byte, 8)); err != nil {
			return
		}
		c.Write(greeting)
		if startup == nil {
			return
		}
		if _, err := io.ReadFull(c, make([]byte, 24)); err != nil {
			return
		}
		c.Write(startup)
		head := make([]byte, 16)
		if _, err := io.ReadFull(c, head); err != nil {
			return
		}
		n := binary.LittleEndian.Uint64(head[8:])
		if _, err := io.ReadFull(c, make([]byte, (n+7)/8*8)); err != nil {
			return
		}
		if answer == nil {
			// Never answers: the client's context has to end the wait.
			io.Copy(io.Discard, c)
			return
		}
		c.Write(answer)
	}()
	return socket
}

// TestProtocol checks the client against daemons' answers a real daemon
// gives only in rare states: log lines and activities while it works, its
// errors, versions and messages the client does not speak.
func TestProtocol(t *testing.T) {
	hello := msg{}.u(magic2, 1<<8|37)
	// The answer to QueryPathInfo for a valid path with one reference.
	hash := strings.Repeat("ab", 32)
	info := msg{}.u(1).s("", hash).u(1).s("/nix/store/"+strings.Repeat("b", 32)+"-b").u(1700000000, 4242, 0, 1).s("sig", "")
	p := "/nix/store/" + strings.Repeat("a", 32) + "-a"
	tests := []struct {
		name      string
		greeting  msg
		startup   msg
		answer    msg
		dialErr   string // the error of Dial, wrapping ErrUnavailable
		queryErr  string // else the error of PathInfo, or none
		narHash   string
		reference string
	}{
		{name: "not a daemon", greeting: msg{}.u(0x1234, 1<<8|37), dialErr: "not a Nix daemon"},
		{name: "too old", greeting: msg{}.u(magic2, 1<<8|17), dialErr: "daemon protocol 1.17 not supported"},
		{name: "major 2", greeting: msg{}.u(magic2, 2<<8|1), dialErr: "daemon protocol 2.1 not supported"},
		{name: "closes at once", greeting: msg{}.u(magic2), dialErr: "greeting: "},
		{name: "start-up error", greeting: hello, startup: msg{}.u(stderrError).s("no access\n").u(1), dialErr: "nix daemon: no access"},
		{
			name: "logs and activities", greeting: hello, startup: msg{}.u(stderrNext).s("starting\n").u(stderrLast),
			answer: append(msg{}.u(startAct, 7, 3, 105).s("querying").u(2, 0, 5, 1).s("x").u(0).
				u(result, 7, 104, 1, 0, 99).u(stopAct, 7).u(stderrLast), info...),
			narHash:   nixBase32(t, hash),
			reference: "/nix/store/" + strings.Repeat("b", 32) + "-b",
		},
		{name: "query error", greeting: hello, startup: msg{}.u(stderrLast), answer: msg{}.u(stderrError).s("database is locked").u(1), queryErr: "path info of " + p + ": nix daemon: database is locked"},
		{name: "unknown message", greeting: hello, startup: msg{}.u(stderrLast), answer: msg{}.u(0x42), queryErr: "unknown daemon message 0x42"},
		{name: "data transfer", greeting: hello, startup: msg{}.u(stderrLast), answer: msg{}.u(0x64617461, 8), queryErr: "data transfer"},
		{name: "not valid", greeting: hello, startup: msg{}.u(stderrLast), answer: msg{}.u(stderrLast, 0), queryErr: p + " is not valid in the store"},
		{name: "bad hash", greeting: hello, startup: msg{}.u(stderrLast), answer: msg{}.u(stderrLast, 1).s("", "abc"), queryErr: `NAR hash "abc" is not a base16 SHA-256`},
		{name: "huge list", greeting: hello, startup: msg{}.u(stderrLast), answer: msg{}.u(stderrLast, 1).s("", hash).u(1 << 40), queryErr: "list of 1099511627776 items"},
		{name: "relative reference", greeting: hello, startup: msg{}.u(stderrLast), answer: msg{}.u(stderrLast, 1).s("", hash).u(1).s("nix/store/x"), queryErr: `daemon sent "nix/store/x", not a store path`},
		{name: "cut short", greeting: hello, startup: msg{}.u(stderrLast), answer: msg{}.u(stderrLast, 1).s("", hash), queryErr: "EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			socket := fakeDaemon(t, tc.greeting, tc.startup, tc.answer)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := daemon.Dial(ctx, socket)
			if tc.dialErr != "" {
				if !errors.Is(err, daemon.ErrUnavailable) || !strings.Contains(err.Error(), tc.dialErr) {
					t.Fatalf("Dial: %v, want ErrUnavailable and %q", err, tc.dialErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := c.PathInfo(p)
			if tc.queryErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.queryErr) {
					t.Fatalf("PathInfo: %v, want %q", err, tc.queryErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := &store.PathInfo{Path: p, NarHash: tc.narHash, NarSize: 4242, References: []string{tc.reference}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("PathInfo = %+v, want %+v", got, want)
			}
		})
	}
}

// nixBase32 converts a base16 SHA-256 to Nix's "sha256:<nix-base32>".
func nixBase32(t *testing.T, base16 string) string {
	t.Helper()
	digest, err := hex.DecodeString(base16)
	if err != nil {
		t.Fatal(err)
	}
	return nixhash.MustNewHash(nixhash.SHA256, digest).Format(nixhash.NixBase32, true)
}

// TestInterrupted: the end of the context ends a query the daemon does not
// answer.
func TestInterrupted(t *testing.T) {
	socket := fakeDaemon(t, msg{}.u(magic2, 1<<8|37), msg{}.u(stderrLast), nil)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := daemon.Dial(ctx, socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.PathInfo("/nix/store/" + strings.Repeat("a", 32) + "-a"); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("PathInfo after the context ended: %v after %v", err, time.Since(start))
	}
}
