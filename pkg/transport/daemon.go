package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DaemonOptions say how a docker-daemon destination is reached: the
// Docker Engine API, which dockerd and podman (podman system service)
// serve.
type DaemonOptions struct {
	// Host is the daemon's address, as DOCKER_HOST names it:
	// unix:///PATH or tcp://HOST:PORT. Empty: $DOCKER_HOST, else
	// unix:///var/run/docker.sock (for Podman, podman's socket).
	Host string
	// Podman makes the default host podman's: $CONTAINER_HOST, else
	// /run/podman/podman.sock for root and
	// $XDG_RUNTIME_DIR/podman/podman.sock for others.
	Podman bool
}

// daemonHost is the address of the daemon to load into.
func daemonHost(opts Options) string {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if opts.Daemon.Host != "" {
		return opts.Daemon.Host
	}
	if opts.Daemon.Podman {
		if h := getenv("CONTAINER_HOST"); h != "" {
			return h
		}
		if os.Geteuid() != 0 {
			if d := getenv("XDG_RUNTIME_DIR"); d != "" {
				return "unix://" + filepath.Join(d, "podman", "podman.sock")
			}
		}
		return "unix:///run/podman/podman.sock"
	}
	if h := getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock"
}

// daemonClient is an HTTP client of the daemon at host, and the base URL
// of its API.
func daemonClient(host string, getenv func(string) string) (*http.Client, string, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, "", fmt.Errorf("daemon address %q: %w", host, err)
	}
	t := &http.Transport{DisableCompression: true, ResponseHeaderTimeout: 0}
	base := "http://docker"
	switch u.Scheme {
	case "unix":
		sock := u.Path
		if sock == "" {
			return nil, "", fmt.Errorf("daemon address %q names no socket", host)
		}
		t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
	case "tcp", "http", "https":
		if u.Host == "" {
			return nil, "", fmt.Errorf("daemon address %q names no host", host)
		}
		base = "http://" + u.Host
		if u.Scheme == "https" || getenv("DOCKER_TLS_VERIFY") != "" {
			cfg, err := daemonTLS(getenv)
			if err != nil {
				return nil, "", err
			}
			t.TLSClientConfig = cfg
			base = "https://" + u.Host
		}
	default:
		return nil, "", fmt.Errorf("daemon address %q: only unix:// and tcp:// daemons are reached (set DOCKER_HOST)", host)
	}
	return &http.Client{Transport: t}, base, nil
}

// daemonTLS is the TLS configuration DOCKER_CERT_PATH's ca.pem, cert.pem
// and key.pem give, as the docker client reads them.
func daemonTLS(getenv func(string) string) (*tls.Config, error) {
	dir := getenv("DOCKER_CERT_PATH")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("DOCKER_TLS_VERIFY: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("DOCKER_TLS_VERIFY: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("DOCKER_TLS_VERIFY: %s holds no certificate", filepath.Join(dir, "ca.pem"))
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// loadIntoDaemon loads img into the daemon as dest.Name (POST
// /images/load with a docker-archive, written as it is sent) and gives
// what the daemon said it loaded.
func loadIntoDaemon(ctx context.Context, img v1.Image, dest Ref, opts Options) (string, error) {
	tag, err := name.NewTag(dest.Name)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w", dest.Name, err)
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	host := daemonHost(opts)
	client, base, err := daemonClient(host, getenv)
	if err != nil {
		return "", err
	}
	img, err = forDaemon(img)
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := tarball.Write(tag, img, pw)
		pw.CloseWithError(err)
		written <- err
	}()
	// sent stops the archive's writer, if the daemon has not read it
	// whole, and gives its error: a source blob that is not what its
	// digest says is the culprit of a failed load, and fails a load the
	// daemon reports done; io.ErrClosedPipe says the daemon stopped
	// reading before the end.
	sent := func() error {
		pr.Close()
		return <-written
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/images/load?quiet=1", pr)
	if err != nil {
		sent()
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if werr := sent(); werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
			return "", werr
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("cannot reach the daemon at %s: %w (is it running? set DOCKER_HOST)", host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg := daemonMessage(resp)
		if werr := sent(); werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
			return "", werr
		}
		return "", fmt.Errorf("the daemon at %s refused the image: %s", host, msg)
	}
	loaded, err := readLoadReply(resp.Body)
	switch werr := sent(); {
	case errors.Is(werr, io.ErrClosedPipe):
		return "", fmt.Errorf("the daemon at %s answered before the image was sent whole", host)
	case werr != nil:
		return "", werr
	}
	if err != nil {
		return "", fmt.Errorf("the daemon at %s: %w", host, err)
	}
	if loaded == "" {
		loaded = tag.String()
	}
	if opts.Log != nil {
		fmt.Fprintf(opts.Log, "oci-builder: the daemon at %s loaded %s in %.2f s\n", host, loaded, time.Since(start).Seconds())
	}
	return loaded, nil
}

// daemonMessage is the message of an error reply.
func daemonMessage(resp *http.Response) string {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var m struct{ Message string }
	if json.Unmarshal(data, &m) == nil && m.Message != "" {
		return m.Message
	}
	if s := strings.TrimSpace(string(data)); s != "" {
		return s
	}
	return resp.Status
}

// readLoadReply reads the JSON messages of /images/load: an error among
// them fails the load; "Loaded image: NAME" names what was loaded.
func readLoadReply(r io.Reader) (string, error) {
	dec := json.NewDecoder(bufio.NewReader(io.LimitReader(r, 16<<20)))
	loaded := ""
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		err := dec.Decode(&m)
		if err == io.EOF {
			return loaded, nil
		}
		if err != nil {
			return "", fmt.Errorf("unreadable reply to the load: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return "", errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return "", errors.New(m.Error)
		}
		for _, line := range strings.Split(m.Stream, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Loaded image: "); ok {
				loaded = v
			}
		}
	}
}

// forDaemon gives img with its zstd layers sent uncompressed: Docker
// before 23 cannot read zstd layers (its load fails "unexpected EOF").
// Their uncompressed size, which the archive's tar header needs first, is
// counted by decompressing them once.
func forDaemon(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	m = m.DeepCopy()
	changed := false
	for i, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		if mt != types.OCILayerZStd {
			continue
		}
		size, err := uncompressedSize(l)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		diffID, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		layers[i] = &uncompressedLayer{Layer: l, size: size, diffID: diffID}
		m.Layers[i] = v1.Descriptor{MediaType: types.OCIUncompressedLayer, Digest: diffID, Size: size}
		changed = true
	}
	if !changed {
		return img, nil
	}
	return &daemonImage{Image: img, manifest: m, layers: layers}, nil
}

// uncompressedSize reads l's uncompressed bytes to count them.
func uncompressedSize(l v1.Layer) (int64, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

// daemonImage is an image whose manifest and layers forDaemon changed.
type daemonImage struct {
	v1.Image
	manifest *v1.Manifest
	layers   []v1.Layer
}

func (d *daemonImage) Manifest() (*v1.Manifest, error) { return d.manifest, nil }
func (d *daemonImage) Layers() ([]v1.Layer, error)     { return d.layers, nil }

// uncompressedLayer is a layer sent as its uncompressed tar.
type uncompressedLayer struct {
	v1.Layer
	size   int64
	diffID v1.Hash
}

func (l *uncompressedLayer) Digest() (v1.Hash, error) { return l.diffID, nil }
func (l *uncompressedLayer) Size() (int64, error)     { return l.size, nil }
func (l *uncompressedLayer) MediaType() (types.MediaType, error) {
	return types.OCIUncompressedLayer, nil
}
func (l *uncompressedLayer) Compressed() (io.ReadCloser, error) { return l.Layer.Uncompressed() }
