package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oci-builder/oci-builder/pkg/outside"
	"github.com/oci-builder/oci-builder/pkg/outside/outsidetest"
)

// unixClient is an HTTP client of the API on the unix socket sock.
func unixClient(sock string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// startService starts cmd, a daemon serving the Docker API on sock, waits
// for /_ping to answer and stops it (SIGTERM, then SIGKILL) when the test
// ends.
func startService(t *testing.T, sock string, cmd *exec.Cmd) {
	t.Helper()
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	client := unixClient(sock)
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := client.Get("http://d/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s exited:\n%s", cmd.Path, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer on %s: %v\n%s", cmd.Path, sock, err, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startPodmanService serves podman's Docker API on a socket, with the
// storage of podman(t, root, ...), and returns the socket's address.
func startPodmanService(t *testing.T, root string) string {
	t.Helper()
	sock := filepath.Join(root, "api.sock")
	startService(t, sock, exec.Command("podman", append(podmanGlobal(root), "system", "service", "--time=0", "unix://"+sock)...))
	return "unix://" + sock
}

// mustOciBuilder runs the oci-builder the tests built with env added to
// the environment, and returns its stdout; it fails the test on an error.
func mustOciBuilder(t *testing.T, env []string, args ...string) string {
	t.Helper()
	stdout, stderr, code := ociBuilder(t, env, args...)
	if code != 0 {
		t.Fatalf("oci-builder %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// runProgram runs prog with env added and returns its stdout.
func runProgram(t *testing.T, prog string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(prog), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// outsideFiles is a function making a store path with one file,
// etc/NAME, holding TEXT.
const outsideFiles = `
  files = name: text: derivation {
    inherit name system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "${busybox}/bin/busybox mkdir -p $out/etc && echo ${text} > $out/etc/${name}" ];
  };
`

// layerDigests are the layer digests of the image at p (a layout or an
// archive), read and checked whole.
func layerDigests(t *testing.T, p string) []string {
	t.Helper()
	im, err := outside.Open(p, outside.Selector{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if err := im.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range im.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// TestOutsideImages: an image pushed to the registry, pulled back with
// pullImage (a fixed-output derivation in the sandbox: a wrong hash fails
// naming the one it got, the right one builds) and used as the base of
// buildLayeredImage, buildImage and streamLayeredImage; the base's layers
// come first unchanged, and Docker (copyToDockerDaemon, and docker load of
// the stream) and podman (copyToPodman, through podman's Docker API) run
// the stacked images with both images' files and environment. Then an
// index of amd64, arm64 and arm/v7 images is pushed (copyToRegistry) and
// read back per platform, and malformed base images fail the build with
// one line.
func TestOutsideImages(t *testing.T) {
	needRegistry(t)
	needPodman(t)
	needDaemonTool(t, "dockerd", "docker")
	reg := startRegistry(t, "")
	dockerd := dockerDaemon(t)
	dockerHost := "DOCKER_HOST=unix://" + dockerd.sock
	root := podmanRoot(t)
	podmanHost := startPodmanService(t, root)

	// The base image, pushed.
	baseName := reg.host + "/base-" + h.nonce
	base := mustBuild(t, "let\n"+outsideFiles+fmt.Sprintf(`in
ociTools.buildLayeredImage {
  name = %q;
  tag = "1";
  contents = [ busybox (files "base-release" "base-${nonce}") ];
  config.Env = [ "BASE_VAR=from-base" "PATH=/bin" "SHARED=base" ];
}`, baseName), true)
	digest := strings.TrimSpace(mustOciBuilder(t, nil, "copy", "--insecure", base, "docker://"+baseName+":1"))

	// pullImage: a wrong hash fails naming the one it got.
	pull := func(hash string) nixResult {
		return nixBuild(t, fmt.Sprintf(`ociTools.pullImage {
  imageName = %q;
  imageDigest = %q;
  hash = %q;
  tlsVerify = false;
  finalImageName = "base";
  finalImageTag = "1";
}`, baseName, digest, hash), true)
	}
	fake := "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	r := pull(fake)
	got := regexp.MustCompile(`got:\s+(sha256[-:][A-Za-z0-9+/=]+)`).FindStringSubmatch(r.log)
	if r.err == nil || got == nil || !strings.Contains(r.log, fake) {
		t.Fatalf("pullImage with a wrong hash: %v", r)
	}
	t.Logf("pullImage with a wrong hash: got %s", got[1])
	r = pull(got[1])
	if r.err != nil {
		t.Fatal(r)
	}
	pulled := r.out
	// The pulled archive's layers are the registry's blobs.
	baseImg, err := outside.Open(pulled, outside.Selector{Name: "base", Tag: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer baseImg.Close()
	if err := baseImg.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	pushed := layerDigests(t, base)
	if got := layerDigests(t, pulled); strings.Join(got, " ") != strings.Join(pushed, " ") {
		t.Fatalf("pulled layers %v, pushed %v", got, pushed)
	}

	// Stacked images, built on the pulled one.
	script := `cat /etc/base-release; cat /etc/app-release ${app}/etc/app-release 2>/dev/null | head -n 1; echo "base $BASE_VAR app $APP_VAR shared $SHARED"`
	stacked := func(fn, name, extra string) string {
		return fmt.Sprintf(`ociTools.%s {
    name = "%s-${nonce}";
    tag = "1";
    fromImage = pulled;
    %s
  }`, fn, name, extra)
	}
	layeredArgs := fmt.Sprintf(`contents = [ app ];
    config = { Cmd = [ "/bin/sh" "-c" %q ]; Env = [ "APP_VAR=from-app" "SHARED=app" ]; };`, script)
	file := writeExpr(t, "let\n"+outsideFiles+fmt.Sprintf(`  pulled = builtins.storePath %q;
  app = files "app-release" "app-${nonce}";
in
{
  layered = %s;
  args = %s;
  stream = %s;
}`, pulled,
		stacked("buildLayeredImage", "stacked", layeredArgs),
		stacked("buildImage", "stacked-args", fmt.Sprintf(`args = [ "${busybox}/bin/sh" "-c" %q ];
    env = { APP_VAR = "from-app"; SHARED = "app"; };`, script)),
		stacked("streamLayeredImage", "stacked-stream", layeredArgs)))
	r = nixBuildFile(t, file, true, "-A", "layered", "-A", "args", "-A", "stream", "-A", "layered.copyToDockerDaemon", "-A", "args.copyToPodman")
	if r.err != nil {
		t.Fatal(r)
	}
	outs := strings.Fields(r.out)
	if len(outs) != 5 {
		t.Fatalf("outputs %q", r.out)
	}
	layered, args, stream, toDocker, toPodman := outs[0], outs[1], outs[2], outs[3], outs[4]
	for _, img := range []string{layered, args} {
		got := layerDigests(t, img)
		if len(got) <= len(pushed) || strings.Join(got[:len(pushed)], " ") != strings.Join(pushed, " ") {
			t.Fatalf("%s: layers %v do not start with the base's %v (unchanged)", img, got, pushed)
		}
	}
	want := "base-" + h.nonce + "\napp-" + h.nonce + "\nbase from-base app from-app shared app\n"

	// Docker: copyToDockerDaemon, and the stream through docker load.
	runProgram(t, filepath.Join(toDocker, "bin", "copy-to-docker-daemon"), []string{dockerHost})
	if out := dockerd.docker(t, "", "run", "--rm", "--network", "none", "stacked-"+h.nonce+":1"); out != want {
		t.Errorf("docker run of the layered image: %q, want %q", out, want)
	}
	archive := streamTo(t, stream, filepath.Join(t.TempDir(), "stream.tar"))
	dockerd.docker(t, archive, "load")
	if out := dockerd.docker(t, "", "run", "--rm", "--network", "none", "stacked-stream-"+h.nonce+":1"); out != want {
		t.Errorf("docker run of the streamed image: %q, want %q", out, want)
	}
	// And oci-builder copy of the args-style image into dockerd.
	mustOciBuilder(t, []string{dockerHost}, "copy", args, "docker-daemon:stacked-args-"+h.nonce+":1")
	if out := dockerd.docker(t, "", "run", "--rm", "--network", "none", "stacked-args-"+h.nonce+":1"); out != want {
		t.Errorf("docker run of the args-style image: %q, want %q", out, want)
	}

	// podman: copyToPodman, through its Docker API service.
	runProgram(t, filepath.Join(toPodman, "bin", "copy-to-podman"), []string{"CONTAINER_HOST=" + podmanHost})
	if out := podmanRun(t, root, "stacked-args-"+h.nonce+":1"); out != want {
		t.Errorf("podman run of the args-style image: %q, want %q", out, want)
	}

	t.Run("credentials", func(t *testing.T) { testPullCredentials(t, base, got[1]) })
	t.Run("index", func(t *testing.T) { testIndex(t, reg) })
	t.Run("malformed", testMalformedBases)
}

// testPullCredentials pushes the base image to a registry that asks for
// a password and pulls it with pullImage, the credentials in the file
// $REGISTRY_AUTH_FILE names (read by the builder as oci-builder copy reads
// them; the sandbox is off so that the build reads the file): the same
// archive, so the same hash.
func testPullCredentials(t *testing.T, base, hash string) {
	reg := startRegistry(t, "puller:secret")
	name := reg.host + "/base-" + h.nonce
	digest := strings.TrimSpace(mustOciBuilder(t, nil, "copy", "--dest-creds", "puller:secret", base, "docker://"+name+":1"))
	// Nix's build users read it: a directory they can enter.
	dir, err := os.MkdirTemp(h.work, "auth-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "auth.json")
	if err := os.WriteFile(auth, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.host, base64.StdEncoding.EncodeToString([]byte("puller:secret")))), 0o644); err != nil {
		t.Fatal(err)
	}
	expr := fmt.Sprintf(`ociTools.pullImage {
  name = "base-with-credentials-${nonce}.tar";
  imageName = %q;
  imageDigest = %q;
  hash = %q;
  finalImageName = "base";
  finalImageTag = "1";
}`, name, digest, hash)
	if r := nixBuild(t, expr, false); r.err == nil || !strings.Contains(errorLine(r.log), "authentication required") {
		t.Fatalf("pullImage without credentials: %q, %v", errorLine(r.log), r)
	}
	t.Setenv("REGISTRY_AUTH_FILE", auth)
	if r := nixBuild(t, expr, false); r.err != nil {
		t.Fatal(r)
	}
}

// testIndex builds an index of amd64, arm64 and arm/v7 images, pushes it
// with copyToRegistry and reads each platform back with skopeo, and each
// platform's SBOM with oci-builder sbom.
func testIndex(t *testing.T, reg testRegistry) {
	name := reg.host + "/multi-" + h.nonce
	image := func(arch string) string {
		return fmt.Sprintf(`(ociTools.buildImage { name = "multi-%s-${nonce}"; arch = %q; args = [ "${busybox}/bin/sh" ]; env.ARCH = %q; })`, arch, arch, arch)
	}
	r := nixBuild(t, fmt.Sprintf(`(ociTools.buildImageIndex {
  name = %q;
  tag = "1";
  images = [ %s %s %s ];
}).copyToRegistry`, name, image("amd64"), image("arm64"), image("armv7l")), true)
	if r.err != nil {
		t.Fatal(r)
	}
	runProgram(t, filepath.Join(r.out, "bin", "copy-to-registry"), nil, "--insecure")
	for _, c := range []struct{ arch, variant, want string }{
		{"amd64", "", "amd64/"},
		{"arm64", "", "arm64/v8"},
		{"arm", "v7", "arm/v7"},
	} {
		args := []string{"inspect", "--config", "--tls-verify=false", "--override-arch", c.arch}
		if c.variant != "" {
			args = append(args, "--override-variant", c.variant)
		}
		var config struct {
			Architecture string `json:"architecture"`
			Variant      string `json:"variant"`
			Config       struct{ Env []string }
		}
		if err := json.Unmarshal(tool(t, "skopeo", append(args, "docker://"+name+":1")...), &config); err != nil {
			t.Fatal(err)
		}
		arch := strings.TrimSuffix(strings.TrimSuffix(c.want, "/"), "/"+c.variant)
		if got := config.Architecture + "/" + config.Variant; got != c.want || !strings.Contains(strings.Join(config.Config.Env, " "), "ARCH=") {
			t.Errorf("--override-arch %s: %s %v, want %s (%s)", c.arch, got, config.Config.Env, c.want, arch)
		}
		// Each image's SBOM went with it (the registry has no referrers
		// API: the sha256-<digest> fallback tag), read back per platform.
		sbomArgs := []string{"sbom", "--insecure", "--override-arch", c.arch}
		if c.variant != "" {
			sbomArgs = append(sbomArgs, "--override-variant", c.variant)
		}
		var bom struct {
			Metadata struct{ Component struct{ Name string } }
		}
		if err := json.Unmarshal([]byte(mustOciBuilder(t, nil, append(sbomArgs, "docker://"+name+":1")...)), &bom); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"amd64": "amd64", "arm64": "arm64", "arm": "armv7l"}[c.arch]
		if got := bom.Metadata.Component.Name; got != "multi-"+want+"-"+h.nonce {
			t.Errorf("the SBOM of the %s image in the registry names %q", c.want, got)
		}
	}
}

// testMalformedBases: a base image with a flipped byte, a layer leaving
// the root, a configuration that is not JSON, or no image of the name
// asked for, fails the build with one line naming it, and no output.
func testMalformedBases(t *testing.T) {
	good := outsidetest.Image{RepoTag: "bad:1", Layers: [][]outsidetest.Entry{{{Name: "etc/x", Data: "x"}}, {{Name: "etc/y", Data: "y"}}}, Compression: "gzip"}
	flip := good
	flip.Tamper = func(n string, data []byte) []byte {
		if n == "layer1" {
			data = append([]byte(nil), data...)
			data[len(data)-3] ^= 0xff
		}
		return data
	}
	escape := good
	escape.Layers = [][]outsidetest.Entry{{{Name: "../../etc/evil", Data: "x"}}}
	notJSON := good
	notJSON.Tamper = func(n string, data []byte) []byte {
		if n == "config" {
			return []byte("{not json")
		}
		return data
	}
	for _, c := range []struct {
		name, format string
		image        outsidetest.Image
		extra, want  string
	}{
		{"flipped-byte", "oci-archive", flip, "", "fromImage: image /nix/store/"},
		{"escaping-entry", "docker-archive", escape, "", `entry "../../etc/evil" leaves the root filesystem`},
		{"config-not-json", "docker-archive", notJSON, "", "is not valid JSON"},
		{"missing-tag", "docker-archive", good, `fromImageTag = "2";`, "no image tagged 2 (the archive has bad:1)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := outsidetest.Writers[c.format](t, c.image)
			r := nixBuild(t, fmt.Sprintf(`ociTools.buildLayeredImage {
  name = "bad-%s-${nonce}";
  fromImage = builtins.path { path = %q; name = "bad-base.tar"; };
  %s
  contents = [ busybox ];
}`, c.name, p, c.extra), true)
			line := errorLine(r.log)
			if r.err == nil || r.out != "" || !strings.Contains(line, c.want) || !strings.Contains(line, "bad-base.tar") {
				t.Fatalf("error line %q, want one with %q: %v", line, c.want, r)
			}
			t.Log(line)
		})
	}
}

// TestOutsideEvaluationErrors: pullImage's and buildImageIndex's wrong
// arguments fail at evaluation with one line naming them.
func TestOutsideEvaluationErrors(t *testing.T) {
	need(t)
	for _, tc := range []struct{ name, expr, want string }{
		{"no hash", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; }`, "ociTools.pullImage: 'hash' (or 'sha256') is required"},
		{"two hashes", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; hash = "sha256-x"; sha256 = "x"; }`, "ociTools.pullImage: give one of 'hash', 'sha256' and 'outputHash', not several ('hash' and 'sha256' are given)"},
		{"tlsVerify", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; hash = "sha256-x"; tlsVerify = "no"; }`, "ociTools.pullImage: 'tlsVerify' must be a boolean, got a string"},
		{"untyped hash", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; hash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; }`, `ociTools.pullImage: 'hash' "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73" names no hash type`},
		{"no digest", `ociTools.pullImage { imageName = "r/x"; hash = ""; }`, "ociTools.pullImage: 'imageDigest' is required"},
		{"no image name", `ociTools.pullImage { imageDigest = digest; hash = ""; }`, "ociTools.pullImage: 'imageName' is required"},
		{"short digest", `ociTools.pullImage { imageName = "r/x"; imageDigest = "sha256:00"; hash = ""; }`, `ociTools.pullImage: 'imageDigest' "sha256:00" is not a digest`},
		{"tagged name", `ociTools.pullImage { imageName = "r/x:1"; imageDigest = digest; hash = ""; }`, `ociTools.pullImage: 'imageName' "r/x:1" is not a valid image name`},
		{"final tag null", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; hash = ""; finalImageTag = null; }`, "ociTools.pullImage: 'finalImageTag' must be a string, got null"},
		{"final tag", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; hash = ""; finalImageTag = "a:b"; }`, `ociTools.pullImage: 'finalImageTag' "a:b" is not a valid tag`},
		{"final name", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; hash = ""; finalImageName = "My/X"; }`, `ociTools.pullImage: 'finalImageName' "My/X" is not a valid image name`},
		{"pull arch", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; hash = ""; arch = "sparc"; }`, `ociTools.pullImage: 'arch' must be one of the architectures oci-builder accepts (amd64, x86_64`},
		{"pull os", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; hash = ""; os = "windows"; }`, `ociTools.pullImage: 'os' must be "linux" (oci-builder pulls Linux images), got "windows"`},
		{"pull unknown", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; hash = ""; imageTag = "1"; }`, "ociTools.pullImage: 'imageTag' is not an argument of dockerTools.pullImage"},
		{"untyped outputHash", `ociTools.pullImage { imageName = "r/x"; imageDigest = digest; outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; }`, `ociTools.pullImage: 'outputHash' "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73" names no hash type: give an SRI hash (sha256-...), or 'outputHashAlgo'`},
		{"no images", `ociTools.buildImageIndex { name = "r/x"; images = [ ]; }`, "ociTools.buildImageIndex: 'images' must be a non-empty list of images, got a list"},
		{"index tag", `ociTools.buildImageIndex { name = "r/x"; tag = "a:b"; images = [ busybox ]; }`, `ociTools.buildImageIndex: 'tag' "a:b" is not a valid tag`},
		{"index tag null", `ociTools.buildImageIndex { name = "r/x"; tag = null; images = [ busybox ]; }`, "ociTools.buildImageIndex: 'tag' must be a string, got null"},
		{"index name", `ociTools.buildImageIndex { name = "X:y"; images = [ busybox ]; }`, `ociTools.buildImageIndex: 'name' "X:y" is not a valid image name`},
		{"a stream", `ociTools.buildImageIndex { name = "r/x"; images = [ (ociTools.streamLayeredImage { name = "s"; contents = [ busybox ]; }) ]; }`, "'images' must be images (buildImage's or buildLayeredImage's results"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runNix(t, "nix-instantiate", writeExpr(t, `let digest = "sha256:`+strings.Repeat("0a", 32)+`"; in `+tc.expr))
			if r.err == nil || !strings.Contains(r.log, tc.want) {
				t.Fatalf("want error %q, got %v", tc.want, r)
			}
		})
	}
}

// TestPullImageArgumentForms: what nixpkgs' pullImage takes evaluates:
// hash = "" (nixpkgs' fake hash: Nix prints the right one), outputHash
// with or without outputHashAlgo (lib.fetchers.withNormalizedHash), a
// sha512 digest, a registry with a port; and builtins.functionArgs names
// the arguments, as nixpkgs' formals do.
func TestPullImageArgumentForms(t *testing.T) {
	need(t)
	for _, tc := range []struct{ name, args string }{
		{"fake hash", `hash = "";`},
		{"fake sha256", `sha256 = "";`},
		{"outputHash SRI", `outputHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";`},
		{"outputHash with algo", `outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; outputHashAlgo = "sha256";`},
		{"sha512 digest", `hash = ""; imageDigest = "sha512:` + strings.Repeat("ab", 64) + `";`},
		{"registry port", `hash = ""; imageName = "localhost:5000/team/app"; finalImageTag = "1.0";`},
		{"IPv6 registry", `hash = ""; imageName = "[::1]:5000/app";`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expr := `let digest = "sha256:` + strings.Repeat("0a", 32) + `"; in ociTools.pullImage ({ imageName = "r/x"; imageDigest = digest; } // { ` + tc.args + ` })`
			if r := runNix(t, "nix-instantiate", writeExpr(t, expr)); r.err != nil {
				t.Fatal(r)
			}
		})
	}
	var args map[string]bool
	evalJSON(t, prelude()+"builtins.functionArgs ociTools.pullImage", &args)
	for _, a := range []string{"imageName", "imageDigest", "hash", "sha256", "os", "arch", "finalImageName", "finalImageTag", "tlsVerify", "name"} {
		if _, ok := args[a]; !ok {
			t.Errorf("builtins.functionArgs ociTools.pullImage lacks %s: %v", a, args)
		}
	}
}
