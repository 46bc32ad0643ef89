package transport

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/oci-builder/oci-builder/pkg/staging"
	"github.com/oci-builder/oci-builder/pkg/store/local"
)

// refNameAnnotation is the index annotation holding a layout's tag.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Options are how a copy talks to registries and reports.
type Options struct {
	// Insecure allows plain HTTP and unverified TLS certificates.
	Insecure bool
	// Username and Password are the destination registry's credentials
	// when Username is not empty.
	Username, Password string
	// AuthFile, when not empty and Username is, is the file of the
	// destination registry's credentials: containers-auth.json, the
	// format of Docker's config.json ("auths"), as skopeo's
	// --dest-authfile reads it. When both are empty the credentials come
	// from $REGISTRY_AUTH_FILE, else from Docker's configuration
	// (~/.docker/config.json, $DOCKER_CONFIG), else none.
	AuthFile string
	// CredentialsFlag names the flags that gave Username and Password, or
	// AuthFile, for messages ("--dest-creds", "--dest-authfile").
	CredentialsFlag string
	// FlagPrefix is the prefix of the credential flags that messages
	// suggest: "dest-" for copy's (--dest-authfile), "" for sbom's
	// (--authfile).
	FlagPrefix string
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// Log receives progress lines and warnings (none when nil).
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
	// Platform is the platform whose image a copy takes from an index
	// when it must take one (a registry's index, a Docker archive or
	// daemon destination); this machine's when nil.
	Platform *v1.Platform
	// Daemon is how a docker-daemon destination is reached.
	Daemon DaemonOptions
}

func (o Options) getenv(k string) string {
	if o.Getenv == nil {
		return os.Getenv(k)
	}
	return o.Getenv(k)
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
	// Loaded is what a Docker daemon said it loaded.
	Loaded string
}

// Copy copies the image src names to dest. Every blob read from src (its
// manifest, configuration and layers) is checked against its digest and
// size as it is read, and a copy whose blob is not what its digest says
// fails before the destination shows it: a registry never receives the
// blob's last bytes nor the manifest, a new layout or archive never
// appears, an existing layout keeps its index.json and loses what the copy
// added. The same holds when ctx ends (SIGINT, SIGTERM) or the disk is
// full. Destinations in the Nix store are refused.
func Copy(ctx context.Context, src, dest Ref, opts Options) (Summary, error) {
	var sum Summary
	storeDir := local.StoreDir(opts.getenv)
	if src.Transport == OCI {
		li, err := openLayoutIndex(ctx, src, storeDir)
		if err != nil {
			return sum, err
		}
		if li != nil {
			if dest.Transport == Docker {
				sum.Digest = li.desc.Digest.String()
				for _, s := range li.images {
					sum.Layers += len(s.m.Layers)
				}
				if err := pushIndex(ctx, li, dest, opts, &sum); err != nil {
					return sum, fmt.Errorf("copy to %s: %w", dest, err)
				}
				return sum, nil
			}
			if dest.Transport != DockerArchive && dest.Transport != DockerDaemon {
				return sum, fmt.Errorf("copy to %s: %w", dest, errIndexToLayout)
			}
			s, err := li.platformImage(opts.platform())
			if err != nil {
				return sum, fmt.Errorf("%s: %w", src, err)
			}
			return copySource(ctx, s, dest, storeDir, opts)
		}
	}
	s, closeSrc, err := openOrigin(ctx, src, storeDir, opts)
	if err != nil {
		return sum, err
	}
	defer closeSrc()
	return copySource(ctx, s, dest, storeDir, opts)
}

// copySource copies the opened source s to dest.
func copySource(ctx context.Context, s *source, dest Ref, storeDir string, opts Options) (Summary, error) {
	var sum Summary
	var err error
	warnPlatform(s, opts)
	sum.Digest = s.desc.Digest.String()
	sum.Layers = len(s.m.Layers)
	// The image's SBOMs and provenance go with it where there is a place
	// for them: registries and layouts (a docker-archive or a daemon has
	// none).
	if dest.Transport != DockerArchive && dest.Transport != DockerDaemon {
		sum.Referrers = len(s.referrers)
	}
	switch dest.Transport {
	case Docker:
		err = pushImage(ctx, s, dest, opts, &sum)
	case OCI:
		tag := dest.Tag
		if tag == "" {
			tag = s.tag
		}
		err = writeLayout(ctx, s, dest.Path, tag, storeDir, opts.Log)
	case OCIArchive:
		tag := dest.Tag
		if tag == "" {
			tag = s.tag
		}
		err = writeArchive(dest.Path, storeDir, func(w io.Writer) error { return writeLayoutTar(w, s, tag) })
	case DockerArchive:
		err = writeArchive(dest.Path, storeDir, func(w io.Writer) error { return writeDockerArchive(w, s, dest.Name) })
	case DockerDaemon:
		var img v1.Image
		if img, err = s.image(); err == nil {
			sum.Loaded, err = loadIntoDaemon(ctx, img, dest, opts)
		}
	default:
		err = fmt.Errorf("unknown transport %q", dest.Transport)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = errInterrupted
		} else if bad := s.badBlob(); bad != nil {
			err = bad
		}
		return sum, fmt.Errorf("copy to %s: %w", dest, err)
	}
	return sum, nil
}

// ReadImage opens the image of an OCI layout, as Copy reads its source:
// the one tagged src.Tag, else the layout's only image, its manifest and
// configuration checked and its layers checked as they are read. It
// returns the image and its tag.
func ReadImage(src Ref) (v1.Image, string, error) {
	s, err := openSource(context.Background(), src, local.StoreDir(os.Getenv))
	if err != nil {
		return nil, "", err
	}
	img, err := s.image()
	if err != nil {
		return nil, "", fmt.Errorf("source %s: %w", src, err)
	}
	return img, s.tag, nil
}

// writeLayout writes the image of s into the layout dir, tagged tag, with
// its artifacts: replacing the image of that tag in an existing layout
// (the layout locked, see layoutWriter), or creating the layout beside its
// path and renaming it into place when complete.
func writeLayout(ctx context.Context, s *source, dir, tag, storeDir string, log io.Writer) error {
	if _, err := os.Lstat(filepath.Join(dir, "index.json")); err == nil {
		w, err := openLayout(ctx, dir, storeDir, log)
		if err != nil {
			return err
		}
		defer w.close()
		ix, err := w.readIndex()
		if err != nil {
			return err
		}
		if err := ix.putImage(s, tag); err != nil {
			return err
		}
		return w.write(s, ix)
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s exists and is not an image layout (it has no index.json)", dir)
	}
	if err := staging.CheckParentOutsideStore(dir, storeDir); err != nil {
		return err
	}
	staged, err := staging.New(dir)
	if err != nil {
		return err
	}
	defer staged.Close()
	if err := os.Mkdir(staged.Path, 0o755); err != nil {
		return err
	}
	w, err := openLayout(ctx, staged.Path, storeDir, log)
	if err != nil {
		return err
	}
	w.path = dir // for messages
	ix := newIndex()
	if err := ix.putImage(s, tag); err != nil {
		w.close()
		return err
	}
	err = w.write(s, ix)
	w.close()
	if err != nil {
		return err
	}
	return staged.Commit()
}

// writeArchive writes the archive file with write, beside its path, and
// renames it into place when complete. An existing file is never
// replaced.
func writeArchive(file, storeDir string, write func(io.Writer) error) error {
	exists := fmt.Errorf("%s already exists: copy does not replace archives (remove it first)", file)
	if _, err := os.Lstat(file); err == nil {
		return exists
	}
	if err := staging.CheckParentOutsideStore(file, storeDir); err != nil {
		return err
	}
	staged, err := staging.New(file)
	if err != nil {
		return err
	}
	defer staged.Close()
	f, err := os.OpenFile(staged.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := staged.Commit(); err != nil {
		if errors.Is(err, staging.ErrExists) {
			return exists
		}
		return err
	}
	return nil
}

// writeDockerArchive writes the image of s as `docker save` does, named
// ref when given.
func writeDockerArchive(w io.Writer, s *source, ref string) error {
	img, err := s.image()
	if err != nil {
		return err
	}
	if ref != "" {
		r, err := name.ParseReference(ref)
		if err != nil {
			return err
		}
		return tarball.Write(r, img, w)
	}
	// No name: an archive whose manifest.json has no RepoTags.
	dr, err := name.NewDigest("image@" + s.desc.Digest.String())
	if err != nil {
		return err
	}
	return tarball.MultiRefWrite(map[name.Reference]v1.Image{dr: img}, w)
}

// writeLayoutTar writes the image of s, tagged tag, and its artifacts as a
// tar of an image layout: its entries sorted, with fixed owners, modes and
// times.
func writeLayoutTar(w io.Writer, s *source, tag string) error {
	tw := tar.NewWriter(w)
	blobs := s.blobs()
	slices.SortFunc(blobs, func(a, b blob) int { return strings.Compare(a.desc.Digest.String(), b.desc.Digest.String()) })
	ix := newIndex()
	if err := ix.putImage(s, tag); err != nil {
		return err
	}
	index, err := ix.marshal()
	if err != nil {
		return err
	}
	header := func(name string, size int64) *tar.Header {
		h := &tar.Header{Name: name, ModTime: time.Unix(0, 0), Format: tar.FormatPAX, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		return h
	}
	if err := tw.WriteHeader(header("blobs/", 0)); err != nil {
		return err
	}
	alg := ""
	for _, b := range blobs {
		if b.desc.Digest.Algorithm != alg {
			alg = b.desc.Digest.Algorithm
			if err := tw.WriteHeader(header("blobs/"+alg+"/", 0)); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(header("blobs/"+alg+"/"+b.desc.Digest.Hex, b.desc.Size)); err != nil {
			return err
		}
		rc, err := s.open(b)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data string
	}{{"index.json", string(index)}, {"oci-layout", `{"imageLayoutVersion":"1.0.0"}`}} {
		if err := tw.WriteHeader(header(f.name, int64(len(f.data)))); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// warnPlatform warns when a platform was asked for (--override-arch and
// the like) and SRC's image is of another: SRC was one image, not an
// index to choose from, and is copied as it is (as skopeo does, which
// says nothing).
func warnPlatform(s *source, opts Options) {
	if opts.Platform == nil || opts.Log == nil {
		return
	}
	var c struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
	}
	if json.Unmarshal(s.config, &c) != nil {
		return
	}
	want := *opts.Platform
	variant := func(arch, v string) string {
		if arch == "arm64" && v == "" {
			return "v8" // arm64's only variant, often left out
		}
		return v
	}
	if c.OS == want.OS && c.Architecture == want.Architecture && (want.Variant == "" || variant(c.Architecture, c.Variant) == variant(want.Architecture, want.Variant)) {
		return
	}
	have := v1.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}
	fmt.Fprintf(opts.Log, "oci-builder: warning: the platform %s asked for is ignored: SRC is one image, for %s, not an index to choose from; it is copied as it is\n", want.String(), have.String())
}
