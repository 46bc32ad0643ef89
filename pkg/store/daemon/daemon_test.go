package daemon_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/store/daemon"
	"github.com/oci-builder/oci-builder/pkg/store/daemon/daemontest"
)

func TestSocketPath(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		files  map[string]string
		socket string
		ok     bool
	}{
		{name: "default", socket: daemon.DefaultSocket, ok: true},
		{name: "daemon", env: map[string]string{"NIX_REMOTE": "daemon"}, socket: daemon.DefaultSocket, ok: true},
		{name: "auto", env: map[string]string{"NIX_REMOTE": "auto"}, socket: daemon.DefaultSocket, ok: true},
		{name: "socket path", env: map[string]string{"NIX_DAEMON_SOCKET_PATH": "/run/nix.sock"}, socket: "/run/nix.sock", ok: true},
		{name: "state dir", env: map[string]string{"NIX_STATE_DIR": "/var/nix"}, socket: "/var/nix/daemon-socket/socket", ok: true},
		{name: "socket path first", env: map[string]string{"NIX_STATE_DIR": "/var/nix", "NIX_DAEMON_SOCKET_PATH": "/run/nix.sock"}, socket: "/run/nix.sock", ok: true},
		{name: "unix URL", env: map[string]string{"NIX_REMOTE": "unix:///tmp/s", "NIX_DAEMON_SOCKET_PATH": "/run/nix.sock"}, socket: "/tmp/s", ok: true},
		{name: "unix URL without path", env: map[string]string{"NIX_REMOTE": "unix://"}, socket: daemon.DefaultSocket, ok: true},
		{name: "unix URL with settings", env: map[string]string{"NIX_REMOTE": "unix:///tmp/s?trusted=1"}},
		{name: "local", env: map[string]string{"NIX_REMOTE": "local"}},
		{name: "root", env: map[string]string{"NIX_REMOTE": "/tmp/root"}},
		{name: "ssh", env: map[string]string{"NIX_REMOTE": "ssh://host"}},
		{name: "system nix.conf", files: map[string]string{"/etc/nix/nix.conf": "# comment\nstore = ssh-ng://builder # remote\n"}},
		{name: "NIX_CONF_DIR", env: map[string]string{"NIX_CONF_DIR": "/cfg"}, files: map[string]string{"/etc/nix/nix.conf": "store = local", "/cfg/nix.conf": "sandbox = false"}, socket: daemon.DefaultSocket, ok: true},
		{name: "nix.conf over NIX_REMOTE", env: map[string]string{"NIX_REMOTE": "local"}, files: map[string]string{"/etc/nix/nix.conf": "store = daemon"}, socket: daemon.DefaultSocket, ok: true},
		{name: "user's over system's", env: map[string]string{"HOME": "/home/u"}, files: map[string]string{"/etc/nix/nix.conf": "store = daemon", "/home/u/.config/nix/nix.conf": "store = local?root=/x"}},
		{name: "XDG_CONFIG_HOME", env: map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "/xdg"}, files: map[string]string{"/home/u/.config/nix/nix.conf": "store = local", "/xdg/nix/nix.conf": "store = unix:///x/s"}, socket: "/x/s", ok: true},
		{name: "XDG_CONFIG_DIRS", env: map[string]string{"XDG_CONFIG_DIRS": "/a:/b"}, files: map[string]string{"/a/nix/nix.conf": "store = daemon", "/b/nix/nix.conf": "store = local"}, socket: daemon.DefaultSocket, ok: true},
		{name: "NIX_USER_CONF_FILES", env: map[string]string{"HOME": "/home/u", "NIX_USER_CONF_FILES": "/u1:/u2"}, files: map[string]string{"/home/u/.config/nix/nix.conf": "store = daemon", "/u2": "store = local"}},
		{name: "NIX_USER_CONF_FILES, the first wins", env: map[string]string{"NIX_USER_CONF_FILES": "/u1:/u2"}, files: map[string]string{"/u1": "store = daemon", "/u2": "store = local"}, socket: daemon.DefaultSocket, ok: true},
		{name: "XDG_CONFIG_HOME over XDG_CONFIG_DIRS", env: map[string]string{"XDG_CONFIG_HOME": "/h", "XDG_CONFIG_DIRS": "/a"}, files: map[string]string{"/h/nix/nix.conf": "store = daemon", "/a/nix/nix.conf": "store = local"}, socket: daemon.DefaultSocket, ok: true},
		{name: "NIX_CONFIG last", env: map[string]string{"NIX_CONFIG": "store = daemon"}, files: map[string]string{"/etc/nix/nix.conf": "store = local"}, socket: daemon.DefaultSocket, ok: true},
	}
	for _, tc := range tests {
		getenv := func(k string) string { return tc.env[k] }
		readFile := func(f string) ([]byte, error) {
			if c, ok := tc.files[f]; ok {
				return []byte(c), nil
			}
			return nil, os.ErrNotExist
		}
		socket, ok := daemon.SocketPath(getenv, readFile)
		if socket != tc.socket || ok != tc.ok {
			t.Errorf("%s: SocketPath = %q, %v; want %q, %v", tc.name, socket, ok, tc.socket, tc.ok)
		}
	}
}

// TestClosureMatchesPathInfo asks a real nix-daemon for a closure wider
// than the window of requests in flight and compares it with `nix path-info
// --json --recursive`'s.
func TestClosureMatchesPathInfo(t *testing.T) {
	socket := daemontest.Start(t)
	paths := daemontest.AddPaths(t, 150)
	c, err := daemon.Dial(context.Background(), socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Nix 2.8's daemon speaks 1.34, 2.15 to 2.26's 1.35 to 1.37: the
	// lower of that and 1.35, and the Nix version from 1.33.
	if v := c.Version(); v != "1.34" && v != "1.35" {
		t.Errorf("negotiated protocol %s", v)
	}
	if c.NixVersion() == "" {
		t.Error("no Nix version from the daemon")
	}
	// The root, and a leaf for the second query below (before sorting:
	// the paths' names are new each run, so the root may sort anywhere).
	root, leaf := paths[0], paths[1]
	got, err := c.Closure([]string{root, root})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("nix", "--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive", root).Output()
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
	sort.Strings(paths)
	if !reflect.DeepEqual(g.Paths(), paths) || !reflect.DeepEqual(want.Paths(), paths) {
		t.Fatalf("closure of %d paths, nix path-info's %d, want the %d added", g.Len(), want.Len(), len(paths))
	}
	for _, p := range want.Paths() {
		w, _ := want.Lookup(p)
		d, _ := g.Lookup(p)
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
	info, err := c.PathInfo(leaf)
	if err != nil || info.Path != leaf || len(info.References) != 0 {
		t.Fatalf("PathInfo(%s) = %+v, %v", leaf, info, err)
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
	socket := daemontest.Start(t)
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
	// The daemon refuses a path outside its store, in a message without
	// terminal colours; the connection then ends.
	_, err = c.PathInfo("/tmp/x")
	var de *daemon.Error
	if !errors.As(err, &de) || !strings.Contains(de.Message, "'/tmp/x' is not in the Nix store") || strings.ContainsAny(de.Message, "\x1b") || strings.HasPrefix(de.Message, "error") {
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
	// A peer that accepts and says nothing.
	silent := filepath.Join(dir, "silent")
	sl, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	go func() {
		if c, err := sl.Accept(); err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	d := daemon.Dialer{HandshakeTimeout: 200 * time.Millisecond}
	for _, socket := range []string{stale, filepath.Join(dir, "absent"), silent} {
		_, err := d.Dial(context.Background(), socket)
		if !errors.Is(err, daemon.ErrUnavailable) {
			t.Errorf("Dial(%s): %v, want ErrUnavailable", socket, err)
		}
	}
}

// msg is what the scripted daemons send.
type msg = daemontest.Msg

const (
	magic2      = 0x6478696f
	stderrLast  = 0x616c7473
	stderrNext  = 0x6f6c6d67
	stderrError = 0x63787470
	startAct    = 0x53545254
	stopAct     = 0x53544f50
	result      = 0x52534c54
)

// fakeDaemon serves connections on a socket of the test's: it reads the
// client's magic number and sends greeting; then, unless startup is nil
// (it closes the connection), it reads the client's version and the two
// obsolete settings and sends startup; then it reads one request (an
// operation and a string) and sends answer, and closes the connection (with
// a nil answer, it waits for the client to close it).
func fakeDaemon(t *testing.T, greeting, startup, answer msg) string {
	t.Helper()
	return daemontest.Peer(t, func(c net.Conn) {
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
		if daemontest.ReadRequest(c) != nil {
			return
		}
		if answer == nil {
			// Never answers: the client's context has to end the wait.
			io.Copy(io.Discard, c)
			return
		}
		c.Write(answer)
	})
}

// speaks is what the fake daemon of protocol version 1.minor sends after
// the client's version and settings (its Nix version from 1.33, its trust
// from 1.35, for the version negotiated with the client's 1.35), then then.
func speaks(minor uint64, then msg) msg {
	m := msg{}
	if min(minor, 35) >= 33 {
		m = m.S("2.99.0")
	}
	if min(minor, 35) >= 35 {
		m = m.U(1)
	}
	return append(m, then...)
}

// daemonError is STDERR_ERROR with text, as the daemon of protocol version
// 1.minor sends it to this client: before 1.26 the text and an exit status,
// from 1.26 a structured error with one trace.
func daemonError(minor uint64, text string) msg {
	if min(minor, 35) < 26 {
		return msg{}.U(stderrError).S(text).U(1)
	}
	return msg{}.U(stderrError).S("Error").U(0).S("Error").S(text).U(0, 1, 0).S("while querying")
}

// TestProtocol checks the client against daemons' answers a real daemon
// gives only in rare states or versions: log lines and activities while it
// works, its errors in both formats, every version from 1.18 on, and
// versions, messages and values the client does not speak.
func TestProtocol(t *testing.T) {
	// The answer to QueryPathInfo for a valid path with one reference.
	hash := strings.Repeat("ab", 32)
	ref := "/nix/store/" + strings.Repeat("b", 32) + "-b"
	info := msg{}.U(1).S("", hash).U(1).S(ref).U(1700000000, 4242, 0, 1).S("sig", "")
	p := "/nix/store/" + strings.Repeat("a", 32) + "-a"
	hello := func(minor uint64) msg { return msg{}.U(magic2, 1<<8|minor) }
	type testCase struct {
		name     string
		greeting msg
		startup  msg
		answer   msg
		dialErr  string // the error of Dial, wrapping ErrUnavailable
		queryErr string // else the error of PathInfo, or none
		version  string // the negotiated version
	}
	var tests []testCase
	for _, v := range []uint64{18, 21, 25, 26, 33, 34, 35, 37} {
		negotiated := fmt.Sprintf("1.%d", min(v, 35))
		errText := "nix daemon: database is locked"
		if min(v, 35) >= 26 {
			errText += "; while querying"
		}
		tests = append(tests,
			testCase{
				name: fmt.Sprintf("1.%d logs and activities", v), greeting: hello(v),
				startup: speaks(v, msg{}.U(stderrNext).S("starting\n").U(stderrLast)),
				answer: append(msg{}.U(startAct, 7, 3, 105).S("querying").U(2, 0, 5, 1).S("x").U(0).
					U(result, 7, 104, 1, 0, 99).U(stopAct, 7).U(stderrLast), info...),
				version: negotiated,
			},
			testCase{
				name: fmt.Sprintf("1.%d query error", v), greeting: hello(v), startup: speaks(v, msg{}.U(stderrLast)),
				answer: daemonError(v, "\x1b[31;1merror:\x1b[0m database is locked\n"), queryErr: "path info of " + p + ": " + errText,
			},
			testCase{
				name: fmt.Sprintf("1.%d start-up error", v), greeting: hello(v), startup: speaks(v, daemonError(v, "no access")),
				dialErr: "nix daemon: no access",
			},
		)
	}
	ok := speaks(37, msg{}.U(stderrLast))
	tests = append(tests, []testCase{
		{name: "not a daemon", greeting: msg{}.U(0x1234, 1<<8|37), dialErr: "not a Nix daemon"},
		{name: "too old", greeting: hello(17), dialErr: "daemon protocol 1.17 not supported"},
		{name: "major 2", greeting: msg{}.U(magic2, 2<<8|1), dialErr: "daemon protocol 2.1 not supported"},
		{name: "closes at once", greeting: msg{}.U(magic2), dialErr: "greeting: "},
		{name: "unknown trust", greeting: hello(37), startup: msg{}.S("2.99.0").U(7), dialErr: "unknown value 7"},
		{name: "error of another type", greeting: hello(37), startup: ok, answer: msg{}.U(stderrError).S("Panic"), queryErr: `error of type "Panic"`},
		{name: "error with a position", greeting: hello(37), startup: ok, answer: msg{}.U(stderrError).S("Error").U(0).S("Error").S("x").U(1), queryErr: "error position 1"},
		{name: "unknown message", greeting: hello(37), startup: ok, answer: msg{}.U(0x42), queryErr: "unknown daemon message 0x42"},
		{name: "data transfer", greeting: hello(37), startup: ok, answer: msg{}.U(0x64617461, 8), queryErr: "data transfer"},
		{name: "endless log", greeting: hello(37), startup: ok, answer: bytes.Repeat(msg{}.U(stderrNext).S("x"), 1<<16+1), queryErr: "more than 65536 messages"},
		{name: "not valid", greeting: hello(37), startup: ok, answer: msg{}.U(stderrLast, 0), queryErr: p + " is not valid in the store"},
		{name: "bad hash", greeting: hello(37), startup: ok, answer: msg{}.U(stderrLast, 1).S("", "abc"), queryErr: `NAR hash "abc" is not a base16 SHA-256`},
		{name: "huge list", greeting: hello(37), startup: ok, answer: msg{}.U(stderrLast, 1).S("", hash).U(1 << 40), queryErr: "list of 1099511627776 items (at most 65536)"},
		{name: "relative reference", greeting: hello(37), startup: ok, answer: msg{}.U(stderrLast, 1).S("", hash).U(1).S("nix/store/x"), queryErr: `reference "nix/store/x" is not a store path in /nix/store`},
		{name: "reference elsewhere", greeting: hello(37), startup: ok, answer: msg{}.U(stderrLast, 1).S("", hash).U(1).S("/gnu/store/" + strings.Repeat("b", 32) + "-b"), queryErr: "is not a store path in /nix/store"},
		{name: "reference without hash", greeting: hello(37), startup: ok, answer: msg{}.U(stderrLast, 1).S("", hash).U(1).S("/nix/store/b"), queryErr: `reference "/nix/store/b" is not a store path`},
		{name: "cut short", greeting: hello(37), startup: ok, answer: msg{}.U(stderrLast, 1).S("", hash), queryErr: "EOF"},
	}...)
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
			if v := c.Version(); v != tc.version {
				t.Errorf("negotiated %s, want %s", v, tc.version)
			}
			want := &store.PathInfo{Path: p, NarHash: nixBase32(t, hash), NarSize: 4242, References: []string{ref}}
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
	socket := fakeDaemon(t, msg{}.U(magic2, 1<<8|37), speaks(37, msg{}.U(stderrLast)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := daemon.Dial(ctx, socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.PathInfo("/nix/store/" + strings.Repeat("a", 32) + "-a"); !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("PathInfo after the context ended: %v after %v, want context.Canceled", err, time.Since(start))
	}
}
