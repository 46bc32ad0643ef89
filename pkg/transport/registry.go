package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	rtransport "github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/internal/units"
)

// pushImage uploads the image of s to a registry, counting the layers it
// already had, then its artifacts (pushReferrers). The layers' readers check them (blobReader): an upload of a
// blob that is not what its digest says fails before its last bytes are
// sent, and the manifest, sent last, is never sent.
func pushImage(ctx context.Context, s *source, dest Ref, opts Options, sum *Summary) error {
	img, err := s.image()
	if err != nil {
		return err
	}
	ref, err := opts.parseReference(dest.Name)
	if err != nil {
		return err
	}
	if opts.Log != nil {
		// The library warns from its upload goroutines while progress
		// lines are written: one lock for both. Its retry warnings quote
		// upload URLs, whose query (_state) is the upload's secret.
		opts.Log = &lockedWriter{w: opts.Log}
		logs.Warn = log.New(redactingWriter{opts.Log}, "oci-builder: warning: ", 0)
	}
	ropts, from, err := registryOptions(ctx, ref.Context(), opts)
	if err != nil {
		return err
	}
	repo := ref.Context()
	seen := map[v1.Hash]bool{}
	for _, l := range s.m.Layers {
		if seen[l.Digest] {
			continue
		}
		seen[l.Digest] = true
		rl, err := remote.Layer(repo.Digest(l.Digest.String()), ropts...)
		if err != nil {
			return explain(err, ref.Context().RegistryStr(), from, opts.FlagPrefix)
		}
		exists, err := rl.(interface{ Exists() (bool, error) }).Exists()
		if err != nil {
			return explain(err, ref.Context().RegistryStr(), from, opts.FlagPrefix)
		}
		if exists {
			sum.Existed++
			continue
		}
		sum.Uploaded++
		sum.UploadedBytes += l.Size
	}
	updates := make(chan v1.Update, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reportProgress(updates, opts)
	}()
	// The image by digest first, untagged, then its documents (whose
	// subject it is), then the tag, a manifest PUT of its own: an
	// interrupted or failed push never leaves the tag naming an image
	// without its documents.
	err = remote.Write(repo.Digest(s.desc.Digest.String()), img, append(ropts, remote.WithProgress(updates))...)
	<-done
	if err != nil {
		return explain(err, ref.Context().RegistryStr(), from, opts.FlagPrefix)
	}
	if err := pushReferrers(repo, s.referrers, ropts); err != nil {
		return explain(err, ref.Context().RegistryStr(), from, opts.FlagPrefix)
	}
	if tag, ok := ref.(name.Tag); ok {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := remote.Put(tag, rawManifest{s.manifest, s.desc.MediaType}, ropts...); err != nil {
			return explain(err, ref.Context().RegistryStr(), from, opts.FlagPrefix)
		}
	}
	return nil
}

// roundTripper is the HTTP transport to registries: Transport, else the
// library's default, without certificate verification when Insecure.
func (o Options) roundTripper() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	t := remote.DefaultTransport.(*http.Transport).Clone()
	if o.Insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // --insecure asks for it
	}
	return t
}

// reportProgress prints the updates at most once per interval.
func reportProgress(updates <-chan v1.Update, opts Options) {
	interval := opts.ProgressInterval
	if interval == 0 {
		interval = time.Second
	}
	start := time.Now()
	last := start
	for u := range updates {
		if opts.Log == nil || u.Error != nil || u.Total == 0 {
			continue
		}
		if now := time.Now(); now.Sub(last) >= interval && u.Complete < u.Total {
			last = now
			fmt.Fprintf(opts.Log, "oci-builder: uploading: %s of %s (%.0f%%), %.0f s\n",
				units.Bytes(uint64(u.Complete)), units.Bytes(uint64(u.Total)), 100*float64(u.Complete)/float64(u.Total), now.Sub(start).Seconds())
		}
	}
}

// authenticator gives the credentials for the repository repo: Username
// and Password, else those of AuthFile, else of $REGISTRY_AUTH_FILE (as
// skopeo and podman read it), else of Docker's configuration, else none.
// from names where they came from, for messages ("" when anonymous).
func authenticator(repo name.Repository, opts Options) (_ authn.Authenticator, from string, _ error) {
	if opts.Username != "" {
		return &authn.Basic{Username: opts.Username, Password: opts.Password}, opts.CredentialsFlag, nil
	}
	if opts.AuthFile != "" {
		flag := opts.CredentialsFlag
		if flag == "" {
			flag = "--" + opts.FlagPrefix + "authfile"
		}
		auth, err := fromAuthFile(opts.AuthFile, repo)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", flag, err)
		}
		if auth == nil {
			return authn.Anonymous, "", nil
		}
		return auth, flag + " " + opts.AuthFile, nil
	}
	if file := opts.getenv("REGISTRY_AUTH_FILE"); file != "" {
		auth, err := fromAuthFile(file, repo)
		if errors.Is(err, os.ErrNotExist) {
			return authn.Anonymous, "", nil // no one logged in yet
		}
		if err != nil {
			return nil, "", fmt.Errorf("$REGISTRY_AUTH_FILE: %w", err)
		}
		if auth == nil {
			return authn.Anonymous, "", nil
		}
		return auth, "$REGISTRY_AUTH_FILE " + file, nil
	}
	auth, err := authn.DefaultKeychain.Resolve(repo)
	if err != nil || auth == authn.Anonymous {
		return auth, "", err
	}
	return auth, "Docker's configuration", nil
}

// fromAuthFile reads the credentials for repo from file, in the format of
// containers-auth.json (Docker's config.json): the entry of "auths" whose
// key is the most specific match, HOST/NAMESPACE/REPO, then shorter
// prefixes down to HOST (and its legacy forms, https://HOST/v1/). It
// returns nil when the file has none.
func fromAuthFile(file string, repo name.Repository) (authn.Authenticator, error) {
	data, err := readlimit.File(file, "a registry authentication file", readlimit.Credentials)
	if err != nil {
		return nil, err
	}
	cf, err := config.LoadFromReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, key := range authKeys(repo) {
		ac, ok := cf.AuthConfigs[key]
		if !strings.Contains(key, "/") {
			// The registry: Docker's lookup, with its legacy keys and
			// credential helpers.
			if ac, err = cf.GetAuthConfig(key); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			ok = true
		}
		cfg := authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
			IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
		if ok && cfg != (authn.AuthConfig{}) {
			return authn.FromConfig(cfg), nil
		}
	}
	return nil, nil
}

// authKeys lists the keys of an authentication file that may hold repo's
// credentials, most specific first.
func authKeys(repo name.Repository) []string {
	host := repo.RegistryStr()
	if host == name.DefaultRegistry {
		host = "docker.io"
	}
	parts := strings.Split(repo.RepositoryStr(), "/")
	var keys []string
	for i := len(parts); i > 0; i-- {
		keys = append(keys, host+"/"+strings.Join(parts[:i], "/"))
	}
	keys = append(keys, host)
	if host == "docker.io" {
		keys = append(keys, authn.DefaultAuthKey)
	}
	return keys
}

// explain turns the failures users meet (authentication, an unreachable
// registry) into short messages; others keep the library's words, without
// the query of the URLs they quote. registry is the registry's host (and
// port), named in the messages of a registry that cannot be reached; from
// names where the credentials came from, "" when none were given; prefix
// is Options.FlagPrefix.
func explain(err error, registry, from, prefix string) error {
	var te *rtransport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized:
			if from != "" {
				return fmt.Errorf("authentication failed: the registry refused the credentials of %s", from)
			}
			return fmt.Errorf("authentication required (give --%[1]sauthfile FILE or --%[1]susername USER --%[1]spassword-stdin, or log in: $REGISTRY_AUTH_FILE, ~/.docker/config.json)", prefix)
		case http.StatusForbidden:
			return errors.New("access denied: the credentials do not allow pushing to this repository")
		}
		return redacted{err}
	}
	// A failed lookup comes inside a dial's error (a *net.OpError): the
	// lookup's is the one that says what failed.
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound && de.Name != "" && de.Name != hostOf(registry):
			// Another host's name: a proxy's.
			return fmt.Errorf("cannot reach the registry %s: no such host %s", registry, de.Name)
		case de.IsNotFound:
			return fmt.Errorf("cannot reach the registry %s: no such host", registry)
		case de.IsTimeout:
			return fmt.Errorf("cannot reach the registry %s: timed out", registry)
		}
		return fmt.Errorf("cannot reach the registry %s: cannot look up %s: %s", registry, de.Name, de.Err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		what := "network error"
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			what = "connection refused"
		case oe.Timeout():
			what = "timed out"
		}
		where := registry
		if oe.Addr != nil && oe.Addr.String() != registry {
			where += " (" + oe.Addr.String() + ")"
		}
		return fmt.Errorf("cannot reach the registry %s: %s", where, what)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return errors.New("the registry speaks plain HTTP: add --insecure")
	}
	if strings.Contains(err.Error(), "x509:") {
		return fmt.Errorf("%w (add --insecure to skip certificate verification)", redacted{err})
	}
	return redacted{err}
}

// hostOf is the host of HOST[:PORT].
func hostOf(hostPort string) string {
	if h, _, err := net.SplitHostPort(hostPort); err == nil {
		return h
	}
	return hostPort
}

// urlQuery matches the query of a URL in a message.
var urlQuery = regexp.MustCompile(`https?://[^\s"'?]*\?[^\s"']*`)

// redactURLs removes the queries of the URLs in s: an upload's URL holds
// its state (_state), which lets whoever has it write to the upload.
func redactURLs(s string) string {
	return urlQuery.ReplaceAllStringFunc(s, func(u string) string {
		base, query, _ := strings.Cut(u, "?")
		if strings.HasSuffix(query, ":") { // "PUT URL: message"
			return base + ":"
		}
		return base
	})
}

// redacted is an error whose message has no URL queries.
type redacted struct{ err error }

func (r redacted) Error() string { return redactURLs(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }

// redactingWriter writes lines without URL queries.
type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, redactURLs(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
