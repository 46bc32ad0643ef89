package transport

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	rtransport "github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/oci-builder/oci-builder/internal/units"
	"github.com/oci-builder/oci-builder/pkg/staging"
)

// refNameAnnotation is the index annotation holding a layout's tag.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Options are how a copy talks to registries and reports.
type Options struct {
	// Insecure allows plain HTTP and unverified TLS certificates.
	Insecure bool
	// Creds is USER:PASS for the destination registry; when empty the
	// credentials come from $REGISTRY_AUTH_FILE, else from Docker's
	// configuration (~/.docker/config.json, $DOCKER_CONFIG).
	Creds string
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// Log receives progress lines and retry warnings (none when nil).
	Log io.Writer
	// ProgressInterval is the least time between two progress lines
	// (1 s when zero).
	ProgressInterval time.Duration
	// Retry is the backoff of retried requests (3 tries 1 s and 3 s apart
	// when zero).
	Retry remote.Backoff
	// Transport is the HTTP transport to registries (tests); the default
	// one when nil.
	Transport http.RoundTripper
}

// Summary is what a copy did.
type Summary struct {
	// Digest is the manifest's digest.
	Digest string
	// Layers is the number of layers of the image.
	Layers int
	// Uploaded and Existed count the layers sent to a registry and those it
	// already had (registry destinations only).
	Uploaded, Existed int
	// UploadedBytes is the compressed size of the uploaded layers.
	UploadedBytes int64
	// Referrers is the number of artifacts whose subject is the image
	// (its SBOMs and provenance) copied with it.
	Referrers int
}

// Copy copies the image src names to dest.
func Copy(ctx context.Context, src, dest Ref, opts Options) (Summary, error) {
	var sum Summary
	img, tag, err := ReadImage(src)
	if err != nil {
		return sum, err
	}
	digest, err := img.Digest()
	if err != nil {
		return sum, fmt.Errorf("%s: %w", src, err)
	}
	sum.Digest = digest.String()
	layers, err := img.Layers()
	if err != nil {
		return sum, fmt.Errorf("%s: %w", src, err)
	}
	sum.Layers = len(layers)
	// The image's SBOMs and provenance go with it where there is a place
	// for them: registries and layouts (a docker-archive has none).
	refs, refDescs, err := LayoutReferrers(src.Path, digest)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", src, err)
	}
	if dest.Transport != DockerArchive {
		sum.Referrers = len(refs)
	}
	switch dest.Transport {
	case Docker:
		err = pushImage(ctx, img, layers, dest, opts, &sum, refs)
	case OCI:
		if dest.Tag == "" {
			dest.Tag = tag
		}
		err = writeLayout(img, dest, refs, refDescs)
	case OCIArchive:
		err = writeOCIArchive(img, tag, dest.Path, refs, refDescs)
	case DockerArchive:
		err = writeDockerArchive(img, dest)
	default:
		err = fmt.Errorf("unknown transport %q", dest.Transport)
	}
	if err != nil {
		return sum, fmt.Errorf("copy to %s: %w", dest, err)
	}
	return sum, nil
}

// ReadImage opens the image of an OCI layout: the one tagged src.Tag, else
// the layout's only image. It returns the image and its tag.
func ReadImage(src Ref) (v1.Image, string, error) {
	if src.Transport != OCI {
		return nil, "", fmt.Errorf("source %s: only image layouts can be copied", src)
	}
	if _, err := os.Stat(filepath.Join(src.Path, "index.json")); err != nil {
		return nil, "", fmt.Errorf("source %s is not an OCI image layout: %w", src, err)
	}
	idx, err := layout.ImageIndexFromPath(src.Path)
	if err != nil {
		return nil, "", fmt.Errorf("source %s: %w", src, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, "", fmt.Errorf("source %s: %w", src, err)
	}
	var found []v1.Descriptor
	var tags []string
	for _, d := range im.Manifests {
		if isArtifact(d) {
			// An image's SBOM or provenance (LayoutReferrers).
			continue
		}
		t := d.Annotations[refNameAnnotation]
		tags = append(tags, t)
		if src.Tag == "" || t == src.Tag {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0 && src.Tag != "":
		return nil, "", fmt.Errorf("source %s: no image tagged %q (the layout has %s)", src, src.Tag, strings.Join(tags, ", "))
	case len(found) == 0:
		return nil, "", fmt.Errorf("source %s: the layout holds no image", src)
	case len(found) > 1:
		return nil, "", fmt.Errorf("source %s: the layout holds %d images: name one with oci:DIR:TAG (tags: %s)", src, len(found), strings.Join(tags, ", "))
	}
	d := found[0]
	if !d.MediaType.IsImage() {
		return nil, "", fmt.Errorf("source %s: %s is a %s, not an image manifest", src, d.Digest, d.MediaType)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("source %s: %w", src, err)
	}
	if m, err := img.Manifest(); err == nil && hasLinkedBlobs(src.Path, m) {
		// Layers linked to layer derivations' outputs (linked.go).
		raw, err := img.RawManifest()
		if err != nil {
			return nil, "", fmt.Errorf("source %s: %w", src, err)
		}
		if img, err = readLinkedImage(src.Path, raw, d.MediaType); err != nil {
			return nil, "", fmt.Errorf("source %s: %w", src, err)
		}
	}
	return img, d.Annotations[refNameAnnotation], nil
}

// pushImage uploads img to a registry, counting the layers it already had.
func pushImage(ctx context.Context, img v1.Image, layers []v1.Layer, dest Ref, opts Options, sum *Summary, refs []v1.Image) error {
	var nameOpts []name.Option
	if opts.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(dest.Name, nameOpts...)
	if err != nil {
		return err
	}
	auth, err := authenticator(ref.Context().Registry, opts)
	if err != nil {
		return err
	}
	if opts.Log != nil {
		// The library warns from its upload goroutines while progress
		// lines are written: one lock for both.
		opts.Log = &lockedWriter{w: opts.Log}
		logs.Warn = log.New(opts.Log, "oci-builder: warning: ", 0)
	}
	rt := opts.Transport
	if rt == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		if opts.Insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // --insecure asks for it
		}
		rt = t
	}
	backoff := opts.Retry
	if backoff.Steps == 0 {
		backoff = remote.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 3}
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(auth),
		remote.WithTransport(rt),
		remote.WithRetryBackoff(backoff),
		remote.WithUserAgent("oci-builder"),
	}
	repo := ref.Context()
	seen := map[v1.Hash]bool{}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		rl, err := remote.Layer(repo.Digest(d.String()), ropts...)
		if err != nil {
			return explain(err, opts)
		}
		exists, err := rl.(interface{ Exists() (bool, error) }).Exists()
		if err != nil {
			return explain(err, opts)
		}
		if exists {
			sum.Existed++
			continue
		}
		sum.Uploaded++
		size, err := l.Size()
		if err != nil {
			return err
		}
		sum.UploadedBytes += size
	}
	updates := make(chan v1.Update, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reportProgress(updates, opts)
	}()
	err = remote.Write(ref, img, append(ropts, remote.WithProgress(updates))...)
	<-done
	if err != nil {
		return explain(err, opts)
	}
	if err := pushReferrers(repo, refs, ropts); err != nil {
		return explain(err, opts)
	}
	return nil
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

// authenticator gives the destination's credentials: --dest-creds, else
// $REGISTRY_AUTH_FILE (as skopeo and podman read it), else Docker's
// configuration, else anonymous.
func authenticator(reg name.Registry, opts Options) (authn.Authenticator, error) {
	if opts.Creds != "" {
		user, pass, ok := strings.Cut(opts.Creds, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("--dest-creds: want USER:PASSWORD")
		}
		return &authn.Basic{Username: user, Password: pass}, nil
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if file := getenv("REGISTRY_AUTH_FILE"); file != "" {
		f, err := os.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			return authn.Anonymous, nil // no one logged in yet
		}
		if err != nil {
			return nil, fmt.Errorf("REGISTRY_AUTH_FILE: %w", err)
		}
		defer f.Close()
		cf, err := config.LoadFromReader(f)
		if err != nil {
			return nil, fmt.Errorf("REGISTRY_AUTH_FILE %s: %w", file, err)
		}
		ac, err := cf.GetAuthConfig(reg.RegistryStr())
		if err != nil {
			return nil, fmt.Errorf("REGISTRY_AUTH_FILE %s: %w", file, err)
		}
		cfg := authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
			IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
		if cfg == (authn.AuthConfig{}) {
			return authn.Anonymous, nil
		}
		return authn.FromConfig(cfg), nil
	}
	return authn.DefaultKeychain.Resolve(reg)
}

// explain turns the failures users meet (authentication, an unreachable
// registry) into short messages; others keep the library's words.
func explain(err error, opts Options) error {
	var te *rtransport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized:
			if opts.Creds != "" {
				return errors.New("authentication failed: the registry refused the credentials of --dest-creds")
			}
			return errors.New("authentication required (give --dest-creds USER:PASSWORD, or log in: $REGISTRY_AUTH_FILE, ~/.docker/config.json)")
		case http.StatusForbidden:
			return errors.New("access denied: the credentials do not allow pushing to this repository")
		}
		return err
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
		addr := ""
		if oe.Addr != nil {
			addr = " " + oe.Addr.String()
		}
		return fmt.Errorf("cannot reach the registry%s: %s", addr, what)
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return fmt.Errorf("cannot reach the registry: no such host %s", de.Name)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return errors.New("the registry speaks plain HTTP: add --insecure")
	}
	if strings.Contains(err.Error(), "x509:") {
		return fmt.Errorf("%w (add --insecure to skip certificate verification)", err)
	}
	return err
}

// writeLayout writes img into the layout dest.Path, tagged dest.Tag:
// replacing the image of that tag in an existing layout, or creating the
// layout beside its path and renaming it into place when complete.
func writeLayout(img v1.Image, dest Ref, refs []v1.Image, refDescs []v1.Descriptor) error {
	var lopts []layout.Option
	if dest.Tag != "" {
		lopts = append(lopts, layout.WithAnnotations(map[string]string{refNameAnnotation: dest.Tag}))
	}
	if _, err := os.Stat(filepath.Join(dest.Path, "index.json")); err == nil {
		p, err := layout.FromPath(dest.Path)
		if err != nil {
			return err
		}
		if dest.Tag == "" {
			err = p.AppendImage(img, lopts...)
		} else {
			err = p.ReplaceImage(img, match.Annotation(refNameAnnotation, dest.Tag), lopts...)
		}
		if err != nil {
			return err
		}
		return appendReferrers(dest.Path, refs, refDescs)
	}
	dir, err := staging.New(dest.Path)
	if err != nil {
		return err
	}
	defer dir.Close()
	p, err := layout.Write(dir.Path, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, lopts...); err != nil {
		return err
	}
	if err := appendReferrers(dir.Path, refs, refDescs); err != nil {
		return err
	}
	return dir.Commit()
}

// writeOCIArchive writes img as a tar of an OCI layout to file, atomically.
func writeOCIArchive(img v1.Image, tag, file string, refs []v1.Image, refDescs []v1.Descriptor) error {
	dir, err := staging.New(file)
	if err != nil {
		return err
	}
	defer dir.Close()
	scratch := dir.Path + ".layout"
	if err := writeLayout(img, Ref{Transport: OCI, Path: scratch, Tag: tag}, refs, refDescs); err != nil {
		return err
	}
	if err := tarDir(scratch, dir.Path); err != nil {
		return err
	}
	return dir.Commit()
}

// writeDockerArchive writes img as `docker save` does to dest.Path,
// atomically, named dest.Name when given.
func writeDockerArchive(img v1.Image, dest Ref) error {
	var ref name.Reference
	if dest.Name != "" {
		var err error
		if ref, err = name.ParseReference(dest.Name); err != nil {
			return err
		}
	}
	dir, err := staging.New(dest.Path)
	if err != nil {
		return err
	}
	defer dir.Close()
	f, err := os.OpenFile(dir.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if ref != nil {
		err = tarball.Write(ref, img, f)
	} else {
		// No name: an archive whose manifest.json has no RepoTags.
		var d v1.Hash
		if d, err = img.Digest(); err == nil {
			var dr name.Digest
			if dr, err = name.NewDigest("image@" + d.String()); err == nil {
				err = tarball.MultiRefWrite(map[name.Reference]v1.Image{dr: img}, f)
			}
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return dir.Commit()
}

// tarDir writes the files under dir to a tar file out, sorted, with
// fixed owners and times.
func tarDir(dir, out string) error {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	var names []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		names = append(names, p)
		return nil
	})
	sort.Strings(names)
	for _, p := range names {
		if err != nil {
			break
		}
		err = addToTar(tw, dir, p)
	}
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func addToTar(tw *tar.Writer, dir, p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	switch {
	case fi.IsDir():
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		return tw.WriteHeader(hdr)
	case fi.Mode().IsRegular():
		hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, fi.Size()
	default:
		return fmt.Errorf("%s: not a file or directory", p)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	src, err := os.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(tw, src)
	return err
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
