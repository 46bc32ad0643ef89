package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// needRegistry is needTools plus Debian's docker-registry (the CNCF
// distribution registry).
func needRegistry(t *testing.T) {
	t.Helper()
	needTools(t)
	if _, err := exec.LookPath("docker-registry"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but docker-registry is missing (apt-get install docker-registry)")
		}
		t.Skip("missing docker-registry")
	}
}

// testRegistry is a docker-registry serving on 127.0.0.1.
type testRegistry struct {
	host    string // 127.0.0.1:PORT
	storage string // its storage directory
}

// freePort returns a 127.0.0.1 address no one listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startRegistry starts docker-registry with a temporary storage directory;
// with htpasswd set it asks for basic authentication (USER:PASSWORD).
// The registry stops when the test ends.
func startRegistry(t *testing.T, htpasswd string) testRegistry {
	t.Helper()
	dir := t.TempDir()
	r := testRegistry{host: freePort(t), storage: filepath.Join(dir, "storage")}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, r.storage, r.host)
	if htpasswd != "" {
		user, pass, _ := strings.Cut(htpasswd, ":")
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(file, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", file)
	}
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command("docker-registry", "serve", cfgFile)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		select {
		case <-exited:
			t.Fatalf("docker-registry exited:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s: %v\n%s", r.host, err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// blobFiles counts the blobs in the registry's storage.
func (r testRegistry) blobFiles(t *testing.T) int {
	t.Helper()
	n := 0
	root := filepath.Join(r.storage, "docker", "registry", "v2", "blobs")
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() && fi.Name() == "data" {
			n++
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return n
}

// ociBuilder runs the test's oci-builder and returns its stdout, stderr and
// exit status.
func ociBuilder(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	return ociBuilderIn(t, "", env, "", args...)
}

var copySummary = regexp.MustCompile(`oci-builder: copied (sha256:[0-9a-f]{64}) to \S+: (\d+) layers?, (\d+) uploaded \([^)]*\), (\d+) already in the registry`)

// pushSummary copies image to dest and returns the layers it uploaded and
// those the registry had.
func pushSummary(t *testing.T, image, dest string, extra ...string) (uploaded, existed int) {
	t.Helper()
	stdout, stderr, code := ociBuilder(t, nil, append(append([]string{"copy"}, extra...), image, dest)...)
	if code != 0 {
		t.Fatalf("oci-builder copy %s %s: exit %d\n%s", image, dest, code, stderr)
	}
	m := copySummary.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line:\n%s", stderr)
	}
	dir := strings.TrimPrefix(image, "oci:")
	if i := strings.LastIndexByte(dir, ':'); i >= 0 {
		dir = dir[:i]
	}
	digest, _ := readLayout(t, dir)
	if m[1] != digest || strings.TrimSpace(stdout) != digest {
		t.Fatalf("copied %s (stdout %q), want %s", m[1], stdout, digest)
	}
	fmt.Sscan(m[3], &uploaded)
	fmt.Sscan(m[4], &existed)
	return uploaded, existed
}

// TestCopyRegistry pushes an image built by nix-build to a real registry
// with oci-builder copy, pulls it back with skopeo and runs it with umoci
// and runc; a rebuilt image (a changed application) uploads only its new
// layer, as the copy summary and the registry's storage both say.
func TestCopyRegistry(t *testing.T) {
	needRegistry(t)
	reg := startRegistry(t, "")
	build := func(version, attr string) string {
		return mustBuild(t, "let\n"+appExpr+fmt.Sprintf(`in
(ociTools.buildImage {
  name = "registry-%s-${nonce}";
  args = [ "${app %q}/bin/app" "one" "two" ];
  tag = "v%s";
})%s`, version, version, version, attr), false)
	}
	v1, v2 := build("1", ""), build("2", "")
	_, m1 := readLayout(t, v1)
	_, m2 := readLayout(t, v2)
	have := map[string]bool{}
	for _, l := range m1.Layers {
		have[l.Digest] = true
	}
	changed := 0
	for _, l := range m2.Layers {
		if !have[l.Digest] {
			changed++
		}
	}
	if changed != 1 {
		t.Fatalf("%d of %d layers changed with the application, want 1", changed, len(m2.Layers))
	}

	dest := "docker://" + reg.host + "/app"
	up, ex := pushSummary(t, v1, dest+":v1")
	if up != len(m1.Layers) || ex != 0 {
		t.Fatalf("first push: %d uploaded, %d existed; want %d, 0", up, ex, len(m1.Layers))
	}
	before := reg.blobFiles(t)
	// The image's layers, configuration and manifest; its three documents,
	// their manifests and their empty configuration; the index that the
	// fallback tag names, in its three versions (a document added each
	// time).
	if before != len(m1.Layers)+2+7+3 {
		t.Fatalf("the registry stores %d blobs after the first push, want %d (layers, config, manifest, 3 documents, their manifests and config, 3 versions of the fallback tag's index)", before, len(m1.Layers)+2+7+3)
	}
	checkRegistryDocuments(t, reg, "app", v1)
	// The rebuilt image, given as oci:DIR:TAG.
	up, ex = pushSummary(t, "oci:"+v2+":v2", dest+":v2")
	if up != 1 || ex != len(m2.Layers)-1 {
		t.Fatalf("second push: %d uploaded, %d existed; want 1, %d", up, ex, len(m2.Layers)-1)
	}
	if after := reg.blobFiles(t); after != before+3+6+3 {
		t.Fatalf("the second push added %d blobs to the registry's storage, want 12 (the new layer, config and manifest, 3 documents and their manifests, 3 versions of a fallback tag's index)", after-before)
	}
	// The same image again uploads nothing.
	if up, _ := pushSummary(t, v2, dest+":v2", "--insecure"); up != 0 {
		t.Fatalf("a third push uploaded %d layers", up)
	}
	// The image's copyTo attribute is a runnable copier of that image.
	copier := build("2", ".copyTo")
	cmd := exec.Command(filepath.Join(copier, "bin", "oci-builder-copy"), dest+":copied")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	if m := copySummary.FindStringSubmatch(stderr.String()); m == nil || m[3] != "0" {
		t.Fatalf("the copier's summary:\n%s", stderr.String())
	}
	if d, _ := readLayout(t, v2); strings.TrimSpace(stdout.String()) != d {
		t.Fatalf("the copier copied %s, want %s", stdout.String(), d)
	}
	if refs := references(t, copier); len(refs) != 2 {
		t.Fatalf("the copier refers to %v, want oci-builder and the image", refs)
	}
	// nix run finds it (meta.mainProgram).
	file := writeExpr(t, "let\n"+appExpr+`in
(ociTools.buildImage {
  name = "registry-2-${nonce}";
  args = [ "${app "2"}/bin/app" "one" "two" ];
  tag = "v2";
}).copyTo`)
	r := runNix(t, "nix", "--extra-experimental-features", "nix-command", "run", "--option", "substituters", "", "-f", file, "", "--", dest+":nix-run")
	if r.err != nil || !strings.Contains(r.log, "0 uploaded") {
		t.Fatal(r)
	}

	// Pull back with skopeo, run with umoci and runc.
	pulled := filepath.Join(t.TempDir(), "pulled")
	tool(t, "skopeo", "copy", "--src-tls-verify=false", dest+":v2", "oci:"+pulled+":v2")
	res := unpackAndRun(t, pulled+":v2")
	if res.code != 0 || !strings.Contains(res.stdout, "app version 2: one two") || !strings.Contains(res.stdout, "library data") {
		t.Fatalf("pulled image ran with exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
}

// TestCopyErrors: a registry asking for credentials, and one that is not
// there, each give one error line and exit status 1; the right credentials
// (--dest-creds or $REGISTRY_AUTH_FILE) push. TestCopyCredentials tries
// the other ways of giving them.
func TestCopyErrors(t *testing.T) {
	needRegistry(t)
	img := mustBuild(t, "let\n"+appExpr+`in
ociTools.buildImage {
  name = "copy-errors-${nonce}";
  args = [ "${app "1"}/bin/app" ];
}`, false)
	reg := startRegistry(t, "user:secret")
	dest := "docker://" + reg.host + "/app:v1"
	oneLine := func(stderr string, code int, want string) {
		t.Helper()
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
			t.Fatalf("exit %d, stderr:\n%s\nwant one line starting %q", code, stderr, want)
		}
	}
	noAuth := []string{"REGISTRY_AUTH_FILE=" + filepath.Join(t.TempDir(), "none.json"), "HOME=" + t.TempDir(), "DOCKER_CONFIG="}
	_, stderr, code := ociBuilder(t, noAuth, "copy", img, dest)
	oneLine(stderr, code, "oci-builder: error: copy to "+dest+": authentication required")
	if _, stderr, code = ociBuilder(t, noAuth, "copy", "--dest-creds", "user:secret", img, dest); code != 0 {
		t.Fatalf("--dest-creds: exit %d\n%s", code, stderr)
	}
	authFile := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(authFile, []byte(`{"auths":{"`+reg.host+`":{"auth":"dXNlcjpzZWNyZXQ="}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = ociBuilder(t, []string{"REGISTRY_AUTH_FILE=" + authFile}, "copy", img, dest); code != 0 || !strings.Contains(stderr, "0 uploaded") {
		t.Fatalf("REGISTRY_AUTH_FILE: exit %d\n%s", code, stderr)
	}

	closed := "docker://" + freePort(t) + "/app:v1"
	start := time.Now()
	_, stderr, code = ociBuilder(t, noAuth, "copy", img, closed)
	oneLine(stderr, code, "oci-builder: error: copy to "+closed+": cannot reach the registry")
	if !strings.Contains(stderr, "connection refused") {
		t.Fatalf("closed port: %s", stderr)
	}
	t.Logf("closed port: %s after %.1f s", strings.TrimSpace(stderr), time.Since(start).Seconds())
}

// checkRegistryDocuments checks that the image layout img pushed to repo
// took its documents along: Debian's docker-registry (distribution 2.8) has
// no referrers API, so they are listed in the index tagged
// sha256-<digest>, OCI 1.1's fallback; oci-builder sbom reads them back
// from there, the same bytes as from the layout.
func checkRegistryDocuments(t *testing.T, reg testRegistry, repo, img string) {
	t.Helper()
	digest, _ := readLayout(t, img)
	resp, err := http.Get("http://" + reg.host + "/v2/" + repo + "/referrers/" + digest)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the registry answers %s for the referrers API: the test expects a registry without one", resp.Status)
	}
	var index struct {
		MediaType string
		Manifests []struct {
			ArtifactType string
			Annotations  map[string]string
		}
	}
	raw := tool(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+reg.host+"/"+repo+":"+strings.Replace(digest, ":", "-", 1))
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, m := range index.Manifests {
		types = append(types, m.ArtifactType)
	}
	sort.Strings(types)
	if index.MediaType != "application/vnd.oci.image.index.v1+json" ||
		strings.Join(types, " ") != "application/spdx+json application/vnd.cyclonedx+json application/vnd.in-toto+json" {
		t.Fatalf("the fallback tag's index: %s", raw)
	}
	for _, format := range []string{"cyclonedx", "spdx", "provenance"} {
		local, stderr, code := ociBuilder(t, nil, "sbom", "--format", format, img)
		if code != 0 {
			t.Fatalf("sbom --format %s %s: exit %d %s", format, img, code, stderr)
		}
		remote, stderr, code := ociBuilder(t, nil, "sbom", "--insecure", "--format", format, "docker://"+reg.host+"/"+repo+"@"+digest)
		if code != 0 || remote != local {
			t.Fatalf("sbom --format %s from the registry: exit %d, %d bytes (%d from the layout) %s", format, code, len(remote), len(local), stderr)
		}
	}
}
