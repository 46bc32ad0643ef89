// Package daemon asks a Nix daemon about store paths over its Unix socket,
// in Nix's worker protocol (the one `nix` itself speaks to nix-daemon), so
// that the standalone command line learns a closure without starting a
// `nix` process: the daemon is already running, and a query costs a
// connection and one round trip per store path instead of Nix's start-up.
//
// Only what the command line needs is spoken: the handshake and
// QueryPathInfo. The client offers protocol version 1.35 (Nix 2.15), the
// oldest that Lix still serves, and speaks every version down to 1.18, the
// oldest that current Nix serves (a daemon negotiates the lower of its
// version and the client's): Nix 2.8's daemon, for one, speaks 1.34. The
// daemon answers from the same database `nix path-info` reads, so the
// answers are the same.
package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nix-community/go-nix/pkg/wire"
)

// Protocol constants, as Nix's worker-protocol.hh defines them.
const (
	workerMagic1 = 0x6e697863
	workerMagic2 = 0x6478696f

	// clientVersion is the protocol version this client offers, 1.35.
	clientVersion = 1<<8 | 35
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
	maxString   = 1 << 20 // a log line, an error message, a signature
	maxPath     = 4096    // a store path
	maxCount    = 1 << 16 // references of one path, fields of an activity, traces
	maxMessages = 1 << 16 // log and activity messages during one operation
	maxClosure  = 1 << 20 // paths of one closure
)

// DefaultHandshakeTimeout bounds the greeting unless a Dialer says
// otherwise: a peer that accepts the connection and says nothing is no
// daemon to wait for.
const DefaultHandshakeTimeout = 10 * time.Second

// Conn is one connection to a Nix daemon. It is not safe for concurrent
// use.
type Conn struct {
	conn    net.Conn
	ctx     context.Context
	stop    func() bool // ends the watch on the context
	r       *bufio.Reader
	w       *bufio.Writer
	version uint64 // negotiated protocol version
	nix     string // the daemon's Nix version, from protocol 1.33

	mu    sync.Mutex
	ended bool // the context ended: the connection's deadline is past
}

// ErrUnavailable wraps the errors of Dial that mean no daemon answered
// (no socket, nobody listening, no permission, a peer that says nothing or
// speaks another protocol), as opposed to a daemon that answered and
// failed.
var ErrUnavailable = errors.New("no Nix daemon")

// Dialer connects to Nix daemons. The zero value is ready to use.
type Dialer struct {
	// HandshakeTimeout bounds the greeting (DefaultHandshakeTimeout when
	// zero); a daemon that does not finish it in time is unavailable.
	HandshakeTimeout time.Duration
}

// Dial connects with the zero Dialer (see Dialer.Dial).
func Dial(ctx context.Context, socket string) (*Conn, error) {
	return Dialer{}.Dial(ctx, socket)
}

// Dial connects to the daemon listening on socket and exchanges the
// greeting. Its errors wrap ErrUnavailable, but for the end of ctx, which
// ends whatever the connection waits for, now or later.
func (d Dialer) Dial(ctx context.Context, socket string) (*Conn, error) {
	timeout := d.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "unix", socket)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c := &Conn{conn: nc, ctx: ctx, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	nc.SetDeadline(time.Now().Add(timeout))
	c.stop = context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.ended = true
		nc.SetDeadline(time.Now())
	})
	if err := c.handshake(); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, socket, err)
	}
	c.mu.Lock()
	if !c.ended {
		nc.SetDeadline(time.Time{})
	}
	c.mu.Unlock()
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

// NixVersion returns the version of Nix the daemon runs, as it tells from
// protocol 1.33 on, or "" before.
func (c *Conn) NixVersion() string { return c.nix }

// failure returns the end of the context when it has ended (the error
// that the past deadline caused says less), else err.
func (c *Conn) failure(err error) error {
	if c.ctx.Err() != nil {
		return c.ctx.Err()
	}
	return err
}

// handshake exchanges the magic numbers and versions, sends the two
// obsolete settings the daemon still reads (no CPU affinity, no reserved
// space), reads what the daemon tells from 1.33 on (its Nix version, then
// from 1.35 whether it trusts us) and its start-up messages.
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
	if err := writeUints(c.w, clientVersion, 0, 0); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	if c.minor() >= 33 {
		if c.nix, err = wire.ReadString(c.r, 256); err != nil {
			return fmt.Errorf("the daemon's version: %w", err)
		}
	}
	if c.minor() >= 35 {
		// Whether the daemon trusts us: 0 unknown, 1 yes, 2 no. Queries
		// need no trust.
		trust, err := wire.ReadUint64(c.r)
		if err != nil {
			return fmt.Errorf("the daemon's trust: %w", err)
		}
		if trust > 2 {
			return fmt.Errorf("the daemon's trust: unknown value %d", trust)
		}
	}
	return c.processStderr()
}

// minor is the negotiated minor version.
func (c *Conn) minor() uint64 { return c.version & 0xff }

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
	// Message is the daemon's message on one line: without terminal
	// colours or the leading "error:", its lines and traces joined with
	// "; ".
	Message string
}

func (e *Error) Error() string { return "nix daemon: " + e.Message }

// colour matches the terminal escape sequences Nix puts in its messages.
var colour = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// newError cleans up a message of the daemon's: no terminal colours, no
// leading "error:", its lines (and traces) joined with "; " into one.
func newError(msg string) *Error {
	msg = colour.ReplaceAllString(msg, "")
	msg = strings.TrimPrefix(strings.TrimSpace(msg), "error:")
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return &Error{Message: strings.Join(lines, "; ")}
}

// processStderr reads what the daemon sends while it works on an
// operation (log lines, activities) up to the end of the work: nil, or the
// daemon's Error.
func (c *Conn) processStderr() error {
	for n := 0; n < maxMessages; n++ {
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
			return c.readError()
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
	return fmt.Errorf("more than %d messages from the daemon in one operation", maxMessages)
}

// readError reads the error the daemon reports: before protocol 1.26 its
// message and an exit status; from 1.26 its type ("Error"), level, name,
// message, position (none) and traces (each a position, none, and a hint),
// which are added to the message.
func (c *Conn) readError() error {
	if c.minor() < 26 {
		text, err := wire.ReadString(c.r, maxString)
		if err != nil {
			return fmt.Errorf("reading an error: %w", err)
		}
		if _, err := wire.ReadUint64(c.r); err != nil {
			return fmt.Errorf("reading an error: %w", err)
		}
		return newError(text)
	}
	var text string
	read := func() error {
		typ, err := wire.ReadString(c.r, 64)
		if err != nil {
			return err
		}
		if typ != "Error" {
			return fmt.Errorf("error of type %q", typ)
		}
		if err := c.skip("u s"); err != nil { // level, name
			return err
		}
		if text, err = wire.ReadString(c.r, maxString); err != nil {
			return err
		}
		if err := c.noPosition(); err != nil {
			return err
		}
		n, err := c.readCount()
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := c.noPosition(); err != nil {
				return err
			}
			hint, err := wire.ReadString(c.r, maxString)
			if err != nil {
				return err
			}
			text += "\n" + hint
		}
		return nil
	}
	if err := read(); err != nil {
		return fmt.Errorf("reading an error: %w", err)
	}
	return newError(text)
}

// noPosition reads the position flag of an error or trace, which Nix
// always sends as 0 (none).
func (c *Conn) noPosition() error {
	pos, err := wire.ReadUint64(c.r)
	if err != nil {
		return err
	}
	if pos != 0 {
		return fmt.Errorf("error position %d (Nix sends none)", pos)
	}
	return nil
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
