// Package daemon asks a Nix daemon about store paths over its Unix socket,
// in Nix's worker protocol (the one `nix` itself speaks to nix-daemon), so
// that the standalone command line learns a closure without starting a
// `nix` process: the daemon is already running, and a query costs a
// connection and one round trip per store path instead of Nix's start-up.
//
// Only what the command line needs is spoken: the handshake and
// QueryPathInfo. The client offers protocol version 1.25 (Nix 2.4), which
// every daemon from Nix 2.4 on and Lix accept (they negotiate the lower of
// the two versions); it needs at least 1.18, the oldest version current Nix
// still serves. The daemon answers from the same database `nix path-info`
// reads, so the answers are the same.
package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strings"
	"time"

	"github.com/nix-community/go-nix/pkg/wire"
)

// Protocol constants, as Nix's worker-protocol.hh defines them.
const (
	workerMagic1 = 0x6e697863
	workerMagic2 = 0x6478696f

	// clientVersion is the protocol version this client speaks, 1.25.
	clientVersion = 1<<8 | 25
	// minVersion is the oldest daemon protocol accepted, 1.18.
	minVersion = 1<<8 | 18

	opQueryPathInfo = 26

	stderrNext          = 0x6f6c6d67
	stderrRead          = 0x64617461
	stderrWrite         = 0x64617416
	stderrLast          = 0x616c7473
	stderrError         = 0x63787470
	stderrStartActivity = 0x53545254
	stderrStopActivity  = 0x53544f50
	stderrResult        = 0x52534c54
)

// Limits on what the daemon may send, so that a confused peer cannot make
// the client allocate without bound.
const (
	maxString = 1 << 20 // a log line, an error message, a signature
	maxPath   = 4096    // a store path
	maxCount  = 1 << 20 // references of one path, fields of an activity
)

// DefaultSocket is where nix-daemon listens unless told otherwise.
const DefaultSocket = "/nix/var/nix/daemon-socket/socket"

// SocketPath returns the daemon's socket that Nix's client would use, and
// whether the environment lets the local store be reached through it:
// NIX_REMOTE unset, "daemon" or "unix://PATH" (PATH is then the socket);
// any other NIX_REMOTE (a local store with another root, an SSH store)
// names a store this client does not speak to. The socket is
// $NIX_DAEMON_SOCKET_PATH, else daemon-socket/socket in $NIX_STATE_DIR,
// else DefaultSocket.
func SocketPath(getenv func(string) string) (string, bool) {
	socket := DefaultSocket
	if s := getenv("NIX_DAEMON_SOCKET_PATH"); s != "" {
		socket = s
	} else if d := getenv("NIX_STATE_DIR"); d != "" {
		socket = path.Join(d, "daemon-socket/socket")
	}
	switch remote := getenv("NIX_REMOTE"); {
	case remote == "" || remote == "daemon":
		return socket, true
	case strings.HasPrefix(remote, "unix://") && !strings.Contains(remote, "?"):
		return strings.TrimPrefix(remote, "unix://"), true
	default:
		return "", false
	}
}

// Conn is one connection to a Nix daemon. It is not safe for concurrent
// use.
type Conn struct {
	conn    net.Conn
	stop    func() bool // ends the watch on the context
	r       *bufio.Reader
	w       *bufio.Writer
	version uint64 // negotiated protocol version
}

// ErrUnavailable wraps the errors of Dial that mean no daemon answered
// (no socket, nobody listening, no permission, an unknown protocol), as
// opposed to a daemon that answered and failed.
var ErrUnavailable = errors.New("no Nix daemon")

// Dial connects to the daemon listening on socket and exchanges the
// greeting. Its errors wrap ErrUnavailable.
func Dial(ctx context.Context, socket string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// The context's end interrupts whatever the connection is waiting for.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	c := &Conn{conn: nc, stop: stop, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	if err := c.handshake(); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, socket, err)
	}
	return c, nil
}

// Close closes the connection; the daemon ends its worker for it.
func (c *Conn) Close() error {
	c.stop()
	return c.conn.Close()
}

// Version returns the negotiated protocol version as "major.minor".
func (c *Conn) Version() string {
	return fmt.Sprintf("%d.%d", c.version>>8, c.version&0xff)
}

// handshake exchanges the magic numbers and versions, sends the two
// obsolete settings the daemon still reads (CPU affinity, reserve space)
// and reads the daemon's start-up messages.
func (c *Conn) handshake() error {
	if err := writeUints(c.w, workerMagic1); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	magic, err := wire.ReadUint64(c.r)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if magic != workerMagic2 {
		return fmt.Errorf("not a Nix daemon (greeting %#x)", magic)
	}
	daemonVersion, err := wire.ReadUint64(c.r)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if daemonVersion>>8 != clientVersion>>8 || daemonVersion < minVersion {
		return fmt.Errorf("daemon protocol %d.%d not supported (need 1.%d or later)", daemonVersion>>8, daemonVersion&0xff, minVersion&0xff)
	}
	c.version = min(daemonVersion, clientVersion)
	// Our version, no CPU affinity, no reserved space.
	if err := writeUints(c.w, clientVersion, 0, 0); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.processStderr()
}

// writeUints writes each number as Nix's wire format does (64-bit little
// endian).
func writeUints(w io.Writer, ns ...uint64) error {
	for _, n := range ns {
		if err := wire.WriteUint64(w, n); err != nil {
			return err
		}
	}
	return nil
}

// Error is an error the daemon reported for an operation.
type Error struct {
	// Message is the daemon's message, without a trailing newline.
	Message string
	// Status is the exit status the daemon attached to it.
	Status uint64
}

func (e *Error) Error() string { return "nix daemon: " + e.Message }

// processStderr reads what the daemon sends while it works on an
// operation (log lines, activities) up to the end of the work: nil, or the
// daemon's Error.
func (c *Conn) processStderr() error {
	for {
		msg, err := wire.ReadUint64(c.r)
		if err != nil {
			return fmt.Errorf("reading the daemon's messages: %w", err)
		}
		switch msg {
		case stderrLast:
			return nil
		case stderrNext:
			if _, err := wire.ReadString(c.r, maxString); err != nil {
				return fmt.Errorf("reading a log line: %w", err)
			}
		case stderrError:
			// Versions before 1.26 send the message and a status.
			text, err := wire.ReadString(c.r, maxString)
			if err != nil {
				return fmt.Errorf("reading an error: %w", err)
			}
			status, err := wire.ReadUint64(c.r)
			if err != nil {
				return fmt.Errorf("reading an error: %w", err)
			}
			return &Error{Message: strings.TrimRight(text, "\n"), Status: status}
		case stderrStartActivity:
			// id, level, type, text, fields, parent
			if err := c.skip("u u u s f u"); err != nil {
				return fmt.Errorf("reading an activity: %w", err)
			}
		case stderrStopActivity:
			if err := c.skip("u"); err != nil {
				return fmt.Errorf("reading an activity: %w", err)
			}
		case stderrResult:
			// id, type, fields
			if err := c.skip("u u f"); err != nil {
				return fmt.Errorf("reading an activity's result: %w", err)
			}
		case stderrRead, stderrWrite:
			return fmt.Errorf("daemon asked for a data transfer (%#x) in a query", msg)
		default:
			return fmt.Errorf("unknown daemon message %#x", msg)
		}
	}
}

// skip reads and drops the items that layout lists, separated by spaces: u
// a number, s a string, f a list of activity fields (a count, then for
// each a type, 0 followed by a number or 1 followed by a string).
func (c *Conn) skip(layout string) error {
	for _, item := range strings.Fields(layout) {
		switch item {
		case "u":
			if _, err := wire.ReadUint64(c.r); err != nil {
				return err
			}
		case "s":
			if _, err := wire.ReadString(c.r, maxString); err != nil {
				return err
			}
		case "f":
			n, err := c.readCount()
			if err != nil {
				return err
			}
			for i := uint64(0); i < n; i++ {
				typ, err := wire.ReadUint64(c.r)
				if err != nil {
					return err
				}
				switch typ {
				case 0:
					_, err = wire.ReadUint64(c.r)
				case 1:
					_, err = wire.ReadString(c.r, maxString)
				default:
					err = fmt.Errorf("unknown field type %d", typ)
				}
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readCount reads the length of a list, at most maxCount.
func (c *Conn) readCount() (uint64, error) {
	n, err := wire.ReadUint64(c.r)
	if err != nil {
		return 0, err
	}
	if n > maxCount {
		return 0, fmt.Errorf("list of %d items (at most %d)", n, maxCount)
	}
	return n, nil
}

// readPath reads a store path and checks that it is an absolute, clean
// path.
func (c *Conn) readPath() (string, error) {
	p, err := wire.ReadString(c.r, maxPath)
	if err != nil {
		return "", err
	}
	if !path.IsAbs(p) || path.Clean(p) != p {
		return "", fmt.Errorf("daemon sent %q, not a store path", p)
	}
	return p, nil
}
