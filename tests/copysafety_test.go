//go:build linux

package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/tests/treestate"
)

// safetyImage builds (once per version) an image of app VERSION and a
// store path of 1 MiB of random bytes, so that one layer is a big blob.
// Versions 1 and 2 share their busybox and lib layers.
func safetyImage(t *testing.T, version string) string {
	t.Helper()
	safetyImages.Lock()
	defer safetyImages.Unlock()
	if img, ok := safetyImages.built[version]; ok {
		return img
	}
	img := mustBuild(t, "let\n"+appExpr+fmt.Sprintf(`
  noise = derivation {
    name = "noise-%[1]s-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" ''
      ${busybox}/bin/busybox mkdir $out
      ${busybox}/bin/busybox head -c 1048576 /dev/urandom > $out/noise
    '' ];
  };
in
ociTools.buildImage {
  name = "safety-%[1]s-${nonce}";
  args = [ "${app "%[1]s"}/bin/app" "${noise}/noise" ];
  tag = "v%[1]s";
}`, version), false)
	safetyImages.built[version] = img
	return img
}

var safetyImages = struct {
	sync.Mutex
	built map[string]string
}{built: map[string]string{}}

// copyLayout copies the image layout src (a store path) to a new writable
// directory and returns it.
func copyLayout(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "layout")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// wantOneError checks that a command failed with exit status 1 and one
// stderr line, an error containing want.
func wantOneError(t *testing.T, what, stderr string, code int, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "oci-builder: error: ") || !strings.Contains(lines[0], want) {
		t.Fatalf("%s: exit %d, stderr:\n%s\nwant exit 1 and one error line containing %q", what, code, stderr, want)
	}
}

// registryHas tells whether the registry answers 200 to a GET of the
// repository's PATH (manifests/TAG, blobs/DIGEST).
func registryHas(t *testing.T, reg testRegistry, repo, path string) bool {
	t.Helper()
	resp, err := http.Get("http://" + reg.host + "/v2/" + repo + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestCopyDamagedLayouts gives oci-builder copy layouts whose blob (a
// layer, the configuration, the manifest) has one byte flipped (same size),
// is truncated, or is a link out of the store, with every destination:
// each copy fails with one line naming the blob, and the destination is
// unchanged (a new one absent, an existing layout as it was, the
// registry without the tag or the damaged blob). The intact layout copies
// to each, and skopeo reads the results with its digest checks.
func TestCopyDamagedLayouts(t *testing.T) {
	needRegistry(t)
	t.Parallel()
	img := safetyImage(t, "1")
	other := safetyImage(t, "2")
	reg := startRegistry(t, "")
	manifestDigest, m := readLayout(t, img)
	noise := m.Layers[len(m.Layers)-1].Digest // the biggest layer: the last store path, by name
	for _, l := range m.Layers {
		if fi, err := os.Stat(blobPath(img, l.Digest)); err == nil && fi.Size() > 1<<20 {
			noise = l.Digest
		}
	}
	damages := []struct {
		name   string
		damage func(t *testing.T, layout string) (want, blob string)
	}{
		{"intact", func(t *testing.T, layout string) (string, string) { return "", "" }},
		{"layer byte flipped", func(t *testing.T, layout string) (string, string) {
			flip(t, blobPath(layout, noise))
			return blobPath(layout, noise) + " has the digest sha256:", noise
		}},
		{"config byte flipped", func(t *testing.T, layout string) (string, string) {
			flip(t, blobPath(layout, m.Config.Digest))
			return "the configuration: " + blobPath(layout, m.Config.Digest) + " has the digest sha256:", m.Config.Digest
		}},
		{"manifest byte flipped", func(t *testing.T, layout string) (string, string) {
			flip(t, blobPath(layout, manifestDigest))
			return "the manifest: " + blobPath(layout, manifestDigest) + " has the digest sha256:", manifestDigest
		}},
		{"SBOM byte flipped", func(t *testing.T, layout string) (string, string) {
			doc := firstDocument(t, layout)
			flip(t, blobPath(layout, doc))
			return "of the artifact sha256:", doc
		}},
		{"layer truncated", func(t *testing.T, layout string) (string, string) {
			p := blobPath(layout, noise)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%s is %d bytes, its descriptor says %d", p, fi.Size()/2, fi.Size()), noise
		}},
		{"layer a link out of the store", func(t *testing.T, layout string) (string, string) {
			p := blobPath(layout, noise)
			elsewhere := filepath.Join(t.TempDir(), "layer")
			if err := os.Rename(p, elsewhere); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, p); err != nil {
				t.Fatal(err)
			}
			return p + " is a symbolic link to " + elsewhere + ", outside the store /nix/store", noise
		}},
	}
	for i, dmg := range damages {
		t.Run(dmg.name, func(t *testing.T) {
			src := copyLayout(t, img)
			want, blob := dmg.damage(t, src)
			dir := t.TempDir()
			// An existing layout holding another image.
			existing := filepath.Join(dir, "existing")
			if _, stderr, code := ociBuilder(t, nil, "copy", other, "oci:"+existing); code != 0 {
				t.Fatalf("copy into a new layout: exit %d\n%s", code, stderr)
			}
			repo := fmt.Sprintf("damaged-%d", i)
			dests := []string{
				"oci:" + filepath.Join(dir, "new") + ":v1",
				"oci:" + existing + ":v1",
				"oci-archive:" + filepath.Join(dir, "oci.tar"),
				"docker-archive:" + filepath.Join(dir, "docker.tar") + ":example.org/app:v1",
				"docker://" + reg.host + "/" + repo + ":v1",
			}
			for _, dest := range dests {
				before := treestate.Of(t, dir)
				_, stderr, code := ociBuilder(t, nil, "copy", "oci:"+src+":v1", dest)
				if want == "" {
					if code != 0 {
						t.Fatalf("%s: exit %d\n%s", dest, code, stderr)
					}
					continue
				}
				wantOneError(t, dest, stderr, code, want)
				if after := treestate.Of(t, dir); after != before {
					t.Fatalf("%s: the destination changed:\n%s\nwas:\n%s", dest, after, before)
				}
				if strings.HasPrefix(dest, "docker://") && (registryHas(t, reg, repo, "manifests/v1") || registryHas(t, reg, repo, "blobs/"+blob)) {
					t.Fatalf("%s: the registry has the tag or the blob %s", dest, blob)
				}
			}
			if want != "" {
				return
			}
			// What the intact layout gave, read by skopeo, which checks
			// every blob's digest, and by umoci and runc.
			check := filepath.Join(t.TempDir(), "check")
			for _, ref := range []string{"oci:" + filepath.Join(dir, "new") + ":v1", "oci:" + existing + ":v1", "oci-archive:" + filepath.Join(dir, "oci.tar") + ":v1", "docker-archive:" + filepath.Join(dir, "docker.tar")} {
				tool(t, "skopeo", "--insecure-policy", "copy", ref, "oci:"+check+":"+strings.SplitN(ref, ":", 2)[0])
			}
			tool(t, "skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "docker://"+reg.host+"/"+repo+":v1", "oci:"+check+":registry")
			tool(t, "skopeo", "--insecure-policy", "copy", "oci:"+existing+":v2", "oci:"+check+":other") // the other image is still whole
			res := unpackAndRun(t, check+":registry")
			if res.code != 0 || !strings.Contains(res.stdout, "app version 1:") {
				t.Fatalf("the pushed image ran with exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
			}
		})
	}
}

// firstDocument returns the digest of the document of the first artifact
// (an SBOM, a provenance) that the layout's index.json lists.
func firstDocument(t *testing.T, layout string) string {
	t.Helper()
	var index struct {
		Manifests []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
	}
	readJSONFile(t, filepath.Join(layout, "index.json"), &index)
	for _, d := range index.Manifests {
		if strings.HasPrefix(d.ArtifactType, "application/") && !strings.Contains(d.ArtifactType, "config") {
			var m ociManifest
			readJSONFile(t, blobPath(layout, d.Digest), &m)
			if len(m.Layers) == 1 {
				return m.Layers[0].Digest
			}
		}
	}
	t.Fatalf("%s lists no artifact", layout)
	return ""
}

// flip flips one bit of the byte in the middle of the file p.
func flip(t *testing.T, p string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCopyRefusesStore: copy never writes into the store, whether the
// destination names a store path or reaches one through a link (a
// nix-build result); the image's store path stays valid.
func TestCopyRefusesStore(t *testing.T) {
	needTools(t)
	t.Parallel()
	img := safetyImage(t, "1")
	work := t.TempDir()
	if err := os.Symlink(img, filepath.Join(work, "result")); err != nil {
		t.Fatal(err)
	}
	before := treestate.Of(t, img)
	for _, dest := range []string{"oci:" + img + ":extra", "oci:./result:extra", "oci:result/new", "oci-archive:./result/x.tar", "docker-archive:" + img + "/x.tar"} {
		_, stderr, code := ociBuilderIn(t, work, nil, "", "copy", img, dest)
		wantOneError(t, dest, stderr, code, "is in the Nix store /nix/store, which only Nix writes")
	}
	if after := treestate.Of(t, img); after != before {
		t.Fatalf("the store path changed:\n%s\nwas:\n%s", after, before)
	}
	if r := runNix(t, "nix-store", "--verify-path", img); r.err != nil {
		t.Fatal(r)
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Fatalf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill leaves free bytes of free space (rounded to pages) on the
// filesystem of dir, with a file it returns.
func fill(t *testing.T, dir string, free int64) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * st.Bsize
	if avail < free {
		t.Fatalf("%d bytes free, want at least %d", avail, free)
	}
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := avail - free; n > 0 {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, n); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestCopyOutOfSpace copies an image into an existing layout on a small
// tmpfs with too little space left at several points: none, in the middle
// of the big layer, and all the blobs but not index.json. Each copy fails
// with one line and leaves the layout as it was; with the space freed, the
// copy succeeds, and skopeo reads both images with its digest checks.
func TestCopyOutOfSpace(t *testing.T) {
	needTools(t)
	t.Parallel()
	v1, v2 := safetyImage(t, "1"), safetyImage(t, "2")
	fsDir := mountTmpfs(t, 8<<20)
	layout := filepath.Join(fsDir, "layout")
	if _, stderr, code := ociBuilder(t, nil, "copy", v1, "oci:"+layout); code != 0 {
		t.Fatalf("first copy: exit %d\n%s", code, stderr)
	}
	// The space the blobs of v2 (its image's and its documents') that the
	// layout lacks take, in pages.
	needed, biggest := int64(0), int64(0)
	entries, err := os.ReadDir(filepath.Join(v2, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := os.Lstat(filepath.Join(layout, "blobs", "sha256", e.Name())); err == nil {
			continue
		}
		fi, err := os.Stat(filepath.Join(v2, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		needed += (fi.Size() + 4095) &^ 4095
		biggest = max(biggest, fi.Size())
	}
	if biggest < 1<<20 {
		t.Fatalf("the biggest new blob has %d bytes, want the noise layer's 1 MiB", biggest)
	}
	before := treestate.Of(t, layout)
	for _, free := range []int64{0, biggest / 2, needed} {
		filler := fill(t, fsDir, free)
		_, stderr, code := ociBuilder(t, nil, "copy", v2, "oci:"+layout+":v2")
		wantOneError(t, fmt.Sprintf("%d bytes free", free), stderr, code, "no space left on device")
		if after := treestate.Of(t, layout); after != before {
			t.Fatalf("%d bytes free: the layout changed:\n%s\nwas:\n%s", free, after, before)
		}
		t.Logf("%d bytes free: %s", free, strings.TrimSpace(stderr))
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, code := ociBuilder(t, nil, "copy", v2, "oci:"+layout+":v2"); code != 0 {
		t.Fatalf("copy with space: exit %d\n%s", code, stderr)
	}
	check := filepath.Join(t.TempDir(), "check")
	tool(t, "skopeo", "--insecure-policy", "copy", "oci:"+layout+":v1", "oci:"+check+":v1")
	tool(t, "skopeo", "--insecure-policy", "copy", "oci:"+layout+":v2", "oci:"+check+":v2")
	if s := treestate.Of(t, layout); strings.Contains(s, ".oci-builder-") {
		t.Fatalf("temporary files left:\n%s", s)
	}
	res := unpackAndRun(t, check+":v2")
	if res.code != 0 || !strings.Contains(res.stdout, "app version 2:") {
		t.Fatalf("v2 ran with exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
}

// bigLayout writes an image layout whose one layer is size bytes of zeros
// (a sparse file; the copy reads them all).
func bigLayout(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "big")
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, zeros{}, size); err != nil {
		t.Fatal(err)
	}
	layer := hex.EncodeToString(h.Sum(nil))
	f, err := os.Create(filepath.Join(blobs, layer))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	put := func(data []byte) string {
		sum := sha256.Sum256(data)
		d := hex.EncodeToString(sum[:])
		if err := os.WriteFile(filepath.Join(blobs, d), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + layer + `"]},"config":{}}`)
	configDigest := put(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + configDigest, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + layer, "size": size}},
	})
	manifestDigest := put(manifest)
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + manifestDigest, "size": len(manifest),
		"annotations": map[string]string{"org.opencontainers.image.ref.name": "big"},
	}}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestCopySignals: SIGINT and SIGTERM stop a copy to a local destination
// while it writes its big layer: one line, exit status 1, an existing
// layout as it was, a new one absent, no temporary file left.
func TestCopySignals(t *testing.T) {
	needTools(t)
	t.Parallel()
	src := bigLayout(t, 512<<20)
	small := safetyImage(t, "1")
	fsDir := mountTmpfs(t, 1<<30)
	for _, tc := range []struct {
		name     string
		sig      syscall.Signal
		existing bool
	}{
		{"SIGINT, existing layout", syscall.SIGINT, true},
		{"SIGTERM, new layout", syscall.SIGTERM, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp(fsDir, "signal-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			out := filepath.Join(dir, "out")
			if tc.existing {
				if _, stderr, code := ociBuilder(t, nil, "copy", small, "oci:"+out); code != 0 {
					t.Fatalf("exit %d\n%s", code, stderr)
				}
			}
			before := treestate.Of(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(h.builder, "bin", "oci-builder"), "copy", src, "oci:"+out+":big")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			// The layer's temporary file appears: the copy is writing it.
			pattern := filepath.Join(out, "blobs", "sha256", ".oci-builder-*")
			if !tc.existing {
				pattern = filepath.Join(dir, ".out.tmp-*", "out", "blobs", "sha256", ".oci-builder-*")
			}
		wait:
			for {
				if m, _ := filepath.Glob(pattern); len(m) > 0 {
					break
				}
				select {
				case err := <-exited:
					t.Fatalf("the copy ended (%v) before it wrote the layer:\n%s", err, stderr.String())
				case <-time.After(time.Millisecond):
					continue wait
				}
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err = <-exited
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			wantOneError(t, tc.name, stderr.String(), code, "copy to oci:"+out+":big: interrupted")
			if after := treestate.Of(t, dir); after != before {
				t.Fatalf("the destination changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

// TestCopyCredentials pushes to a registry asking for a password with
// each way of giving it: an authentication file (skopeo's
// --dest-authfile, containers-auth.json), the password on stdin, and
// --dest-creds (with a warning); wrong credentials are refused naming
// where they came from, and no line shows the password.
func TestCopyCredentials(t *testing.T) {
	needRegistry(t)
	t.Parallel()
	img := safetyImage(t, "1")
	reg := startRegistry(t, "user:s3cret")
	dest := "docker://" + reg.host + "/cred/app:v1"
	auth := func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	}
	authFile := func(entries map[string]string) string {
		auths := map[string]any{}
		for k, v := range entries {
			auths[k] = map[string]string{"auth": v}
		}
		data, _ := json.Marshal(map[string]any{"auths": auths})
		p := filepath.Join(t.TempDir(), "auth.json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	right := authFile(map[string]string{reg.host: auth("user", "s3cret")})
	// The most specific key wins, as in containers-auth.json.
	scoped := authFile(map[string]string{reg.host: auth("user", "wrong"), reg.host + "/cred": auth("user", "s3cret")})
	wrong := authFile(map[string]string{reg.host: auth("user", "wrong")})
	noAuth := []string{"REGISTRY_AUTH_FILE=" + filepath.Join(t.TempDir(), "none.json"), "HOME=" + t.TempDir(), "DOCKER_CONFIG="}
	run := func(t *testing.T, command string, args []string, stdin string) (string, string, int) {
		t.Helper()
		args = append(append([]string{command}, args...), dest)
		if command == "copy" {
			args = append(args[:len(args)-1], img, dest)
		}
		return ociBuilderIn(t, "", noAuth, stdin, args...)
	}
	for _, tc := range []struct {
		name    string
		command string // copy, or sbom: what copy pushed, the image's SBOM
		args    []string
		stdin   string
		want    string // the error, "" for success
		warning string
	}{
		{"authfile", "copy", []string{"--dest-authfile", right}, "", "", ""},
		{"authfile, scoped key", "copy", []string{"--dest-authfile", scoped}, "", "", ""},
		{"authfile, wrong password", "copy", []string{"--dest-authfile", wrong}, "", "authentication failed: the registry refused the credentials of --dest-authfile " + wrong, ""},
		{"authfile missing", "copy", []string{"--dest-authfile", filepath.Join(t.TempDir(), "missing.json")}, "", "--dest-authfile: open ", ""},
		{"password on stdin", "copy", []string{"--dest-username", "user", "--dest-password-stdin"}, "s3cret\n", "", ""},
		{"wrong password on stdin", "copy", []string{"--dest-username", "user", "--dest-password-stdin"}, "wrong\n", "authentication failed: the registry refused the credentials of --dest-username and --dest-password-stdin", ""},
		{"dest-creds", "copy", []string{"--dest-creds", "user:s3cret"}, "", "", "oci-builder: warning: --dest-creds puts the password on the command line, where ps and the shell's history show it"},
		{"src-authfile ignored", "copy", []string{"--src-authfile", wrong, "--dest-authfile", right}, "", "", "oci-builder: warning: --src-authfile " + wrong + " is ignored"},
		{"sbom, authfile", "sbom", []string{"--authfile", scoped}, "", "", ""},
		{"sbom, password on stdin", "sbom", []string{"--username", "user", "--password-stdin"}, "s3cret\n", "", ""},
		{"sbom, wrong password on stdin", "sbom", []string{"--username", "user", "--password-stdin"}, "wrong\n", "authentication failed: the registry refused the credentials of --username and --password-stdin", ""},
		{"sbom, creds", "sbom", []string{"--creds", "user:s3cret"}, "", "", "oci-builder: warning: --creds puts the password on the command line"},
		{"sbom, none", "sbom", nil, "", "authentication required (give --authfile FILE or --username USER --password-stdin", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tc.command, tc.args, tc.stdin)
			if strings.Contains(stderr, "s3cret") || strings.Contains(stderr, "wrong\n") {
				t.Fatalf("stderr shows the password:\n%s", stderr)
			}
			if tc.want != "" {
				wantOneError(t, tc.name, stderr, code, tc.want)
				return
			}
			done := strings.Contains(stderr, "oci-builder: copied sha256:")
			if tc.command == "sbom" {
				done = strings.Contains(stdout, `"bomFormat"`)
			}
			if code != 0 || !done || !strings.Contains(stderr, tc.warning) {
				t.Fatalf("exit %d, %d bytes on stdout, stderr:\n%s", code, len(stdout), stderr)
			}
		})
	}
	// skopeo reads what was pushed with the same authentication file.
	tool(t, "skopeo", "inspect", "--tls-verify=false", "--authfile", right, dest)
}

// TestCopySecondSignal: a copy blocked where no cancellation reaches it
// (opening a named pipe given as its source, which waits for a writer)
// stops at the second SIGTERM, at once, with one line and status 130, and
// the destination is not created.
func TestCopySecondSignal(t *testing.T) {
	needTools(t)
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "image.tar")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.builder, "bin", "oci-builder"), "copy", "oci-archive:"+fifo, "oci:"+out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Wait until one of its threads sleeps in openat(2) (its number on
	// this machine's architecture).
	openat := map[string]string{"amd64": "257 ", "arm64": "56 "}[runtime.GOARCH]
	if openat == "" {
		t.Fatalf("no openat number for %s", runtime.GOARCH)
	}
	blocked := func() bool {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", cmd.Process.Pid))
		for _, task := range tasks {
			if b, err := os.ReadFile(task); err == nil && strings.HasPrefix(string(b), openat) {
				return true
			}
		}
		return false
	}
	for !blocked() {
		select {
		case err := <-exited:
			t.Fatalf("the copy ended (%v) instead of waiting for a writer:\n%s", err, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Fatalf("the first SIGTERM ended the blocked copy (%v): the test no longer shows the second one's need:\n%s", err, stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("the second SIGTERM did not stop the copy within 10 s:\n%s", stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	if code != 130 || len(lines) != 1 || !strings.HasPrefix(lines[0], "oci-builder: error: terminated again: stopped at once") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 130 and one line saying the second signal stopped it", code, stderr.String())
	}
	if _, err := os.Lstat(out); !os.IsNotExist(err) {
		t.Fatalf("the destination exists after the interrupted copy (%v)", err)
	}
}
