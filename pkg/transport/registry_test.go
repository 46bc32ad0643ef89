package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// timeoutError is a network error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// TestExplainNamesTheRegistry: every message of an unreachable registry
// names its host, whatever the network error holds (a DNS error inside a
// dial's, an address or none).
func TestExplainNamesTheRegistry(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "nonexistent.invalid", Server: "10.0.0.53:53", IsNotFound: true}
	inURL := func(err error) error { return &url.Error{Op: "Get", URL: "https://nonexistent.invalid/v2/", Err: err} }
	tests := []struct {
		name, host string
		err        error
		want       string
	}{
		{"DNS error in a dial's", "nonexistent.invalid",
			inURL(&net.OpError{Op: "dial", Net: "tcp", Err: dns}),
			"cannot reach the registry nonexistent.invalid: no such host"},
		{"DNS error alone", "nonexistent.invalid:5000", inURL(dns),
			"cannot reach the registry nonexistent.invalid:5000: no such host"},
		{"a proxy's name unknown", "r.example.org",
			inURL(&net.OpError{Op: "proxyconnect", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "proxy.invalid", IsNotFound: true}}),
			"cannot reach the registry r.example.org: no such host proxy.invalid"},
		{"DNS server failing", "r.example.org",
			inURL(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", Name: "r.example.org", IsTemporary: true}}),
			"cannot reach the registry r.example.org: cannot look up r.example.org: server misbehaving"},
		{"DNS timeout", "r.example.org",
			inURL(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", Name: "r.example.org", IsTimeout: true}}),
			"cannot reach the registry r.example.org: timed out"},
		{"refused, no address", "h.example.org:5000",
			inURL(&net.OpError{Op: "dial", Net: "tcp", Err: &net.OpError{Op: "connect", Err: syscall.ECONNREFUSED}}),
			"cannot reach the registry h.example.org:5000: connection refused"},
		{"refused at the host's address", "127.0.0.1:5000",
			inURL(&net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, Err: syscall.ECONNREFUSED}),
			"cannot reach the registry 127.0.0.1:5000: connection refused"},
		{"refused at another address", "localhost:5000",
			inURL(&net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, Err: syscall.ECONNREFUSED}),
			"cannot reach the registry localhost:5000 (127.0.0.1:5000): connection refused"},
		{"timed out", "h.example.org",
			inURL(&net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}),
			"cannot reach the registry h.example.org: timed out"},
		{"other network error", "h.example.org",
			inURL(&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}),
			"cannot reach the registry h.example.org: network error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := explain(tc.err, tc.host, "", "dest-"); got == nil || got.Error() != tc.want {
				t.Fatalf("explain(%v) = %v, want %q", tc.err, got, tc.want)
			}
		})
	}
}

// dnsFailure is an HTTP transport for which no host exists, as a
// resolver that knows none says.
type dnsFailure struct{}

func (dnsFailure) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp",
		Err: &net.DNSError{Err: "no such host", Name: r.URL.Hostname(), Server: "10.0.0.53:53", IsNotFound: true}}
}

// TestUnknownRegistryHost: a registry whose host does not exist fails a
// push, a pull and a document's read with one line naming the image and
// the host.
func TestUnknownRegistryHost(t *testing.T) {
	src := writeSource(t, randomImage(t, 1), "v1")
	opts := pushOptions
	opts.Transport = dnsFailure{}
	tests := []struct {
		name, want string
		run        func() error
	}{
		{"push", "copy to docker://nonexistent.invalid/r:t: cannot reach the registry nonexistent.invalid: no such host", func() error {
			_, err := copyTo(t, "oci:"+src, "docker://nonexistent.invalid/r:t", opts)
			return err
		}},
		{"pull", "source docker://nonexistent.invalid/r:t: cannot reach the registry nonexistent.invalid: no such host", func() error {
			_, err := copyTo(t, "docker://nonexistent.invalid/r:t", "oci:"+t.TempDir()+"/out", opts)
			return err
		}},
		{"sbom", "docker://nonexistent.invalid/r:t: cannot reach the registry nonexistent.invalid: no such host", func() error {
			ref, err := ParseImage("docker://nonexistent.invalid/r:t")
			if err != nil {
				t.Fatal(err)
			}
			_, err = ReadDocument(context.Background(), ref, "application/vnd.cyclonedx+json", opts)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAuthFileErrors: a credentials file that cannot be read is named
// with the flag (or variable) that gave it, a colon after it.
func TestAuthFileErrors(t *testing.T) {
	repo, err := name.NewRepository("r.example.org/app")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nonexist")
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"--dest-authfile", Options{AuthFile: missing, FlagPrefix: "dest-"},
			"--dest-authfile: open " + missing + ": no such file or directory"},
		{"--src-authfile", Options{AuthFile: missing, FlagPrefix: "src-"},
			"--src-authfile: open " + missing + ": no such file or directory"},
		{"--authfile", Options{AuthFile: missing, CredentialsFlag: "--authfile"},
			"--authfile: open " + missing + ": no such file or directory"},
		{"--dest-authfile of bad JSON", Options{AuthFile: bad, FlagPrefix: "dest-"},
			"--dest-authfile: " + bad + ": "},
		{"$REGISTRY_AUTH_FILE of bad JSON", Options{Getenv: func(k string) string {
			if k == "REGISTRY_AUTH_FILE" {
				return bad
			}
			return ""
		}}, "$REGISTRY_AUTH_FILE: " + bad + ": "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := authenticator(repo, tc.opts)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
