package tests

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// appExpr defines, after the prelude, a library and an application that
// uses it, both built with busybox: app VERSION is a script printing the
// library's data and its version and arguments. Two versions of app share
// their dependencies (lib and busybox) exactly.
const appExpr = `
  lib = derivation {
    name = "lib-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" ''
      ${busybox}/bin/busybox mkdir -p $out/share
      echo "library data, shipped with ${busybox}" > $out/share/data
    '' ];
  };
  app = version: derivation {
    name = "app-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" ''
      ${busybox}/bin/busybox mkdir -p $out/bin
      printf '#!${busybox}/bin/sh\n${busybox}/bin/busybox cat ${lib}/share/data\necho "app version ${version}: $*"\n' > $out/bin/app
      ${busybox}/bin/busybox chmod 555 $out/bin/app
    '' ];
  };
`

// needTools is need, plus the image tools: skopeo, umoci and zstd.
func needTools(t *testing.T) {
	t.Helper()
	need(t)
	var missing []string
	for _, tool := range []string{"skopeo", "umoci", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s missing", strings.Join(missing, ", "))
		}
		t.Skip("missing " + strings.Join(missing, ", "))
	}
}

// tool runs a command and returns its stdout, failing the test on error.
func tool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	return toolEnv(t, nil, name, args...)
}

// toolEnv is tool with env added to the test's environment.
func toolEnv(t *testing.T, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// ociIndex is the part of index.json the tests read.
type ociIndex struct {
	Manifests []struct {
		Digest       string            `json:"digest"`
		Annotations  map[string]string `json:"annotations"`
		ArtifactType string            `json:"artifactType"`
	} `json:"manifests"`
}

// ociManifest is the part of a manifest the tests read.
type ociManifest struct {
	Config struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	} `json:"layers"`
}

func readJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

func blobPath(layout, digest string) string {
	return filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// readLayout returns the manifest digest of the layout's only image, and its
// manifest. The image comes first; the documents oci-builder attaches (its
// SBOMs and provenance) may follow, when the layout is ours.
func readLayout(t *testing.T, layout string) (string, ociManifest) {
	t.Helper()
	var index ociIndex
	readJSONFile(t, filepath.Join(layout, "index.json"), &index)
	var types []string
	for _, m := range index.Manifests[min(1, len(index.Manifests)):] {
		types = append(types, m.ArtifactType)
	}
	// go-containerregistry gives an image's entry its configuration's
	// media type as artifactType.
	if len(index.Manifests) == 0 || index.Manifests[0].ArtifactType != "" && index.Manifests[0].ArtifactType != "application/vnd.oci.image.config.v1+json" ||
		len(types) != 0 && strings.Join(types, " ") != "application/vnd.cyclonedx+json application/spdx+json application/vnd.in-toto+json" {
		t.Fatalf("index.json has %d manifests, the image's and %v", len(index.Manifests), types)
	}
	var m ociManifest
	readJSONFile(t, blobPath(layout, index.Manifests[0].Digest), &m)
	return index.Manifests[0].Digest, m
}

// unpackAndRun unpacks the image IMAGE:TAG with umoci and runs it with runc.
func unpackAndRun(t *testing.T, ref string) runcResult {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "bundle")
	tool(t, "umoci", "unpack", "--image", ref, bundle)
	// umoci asks for a terminal; the test has none.
	configPath := filepath.Join(bundle, "config.json")
	var config map[string]any
	readJSONFile(t, configPath, &config)
	config["process"].(map[string]any)["terminal"] = false
	data, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return runc(t, bundle)
}

func references(t *testing.T, p string) []string {
	t.Helper()
	r := runNix(t, "nix-store", "--query", "--references", p)
	if r.err != nil {
		t.Fatal(r)
	}
	var names []string
	for _, l := range strings.Fields(r.out) {
		names = append(names, filepath.Base(l)[33:])
	}
	sort.Strings(names)
	return names
}

// TestImageInterop builds an image with nix-build (sandboxed and not),
// rebuilds it with --check, and hands it to real tools: skopeo inspects it
// and copies it to a docker-archive, umoci unpacks it and runc runs it.
func TestImageInterop(t *testing.T) {
	needTools(t)
	for _, sandbox := range []bool{true, false} {
		t.Run(fmt.Sprintf("sandbox=%v", sandbox), func(t *testing.T) {
			t.Parallel()
			file := writeExpr(t, "let\n"+appExpr+fmt.Sprintf(`in
ociTools.buildImage {
  name = "interop-%v-${nonce}";
  args = [ "${app "1"}/bin/app" "one" "two" ];
  tag = "v1";
  exposedPorts = [ 8080 "53/udp" ];
  labels."org.example.answer" = "42";
  volumes = [ "/data" ];
}`, sandbox))
			r0 := nixBuildFile(t, file, sandbox)
			if r0.err != nil {
				t.Fatal(r0)
			}
			img := r0.out
			// The same inputs give the same bytes, hence the same digests.
			if r := nixBuildFile(t, file, sandbox, "--check"); r.err != nil {
				t.Fatal(r)
			}
			digest, manifest := readLayout(t, img)
			if len(manifest.Layers) != 4 {
				t.Fatalf("%d layers, want 4 (/etc, busybox, lib, app)", len(manifest.Layers))
			}
			// Compressed layers do not refer to the closure; only the
			// configuration names store paths: the program, and the bin
			// directories of the default PATH (lib has none).
			if refs := references(t, img); strings.Join(refs, ",") != "app-"+h.nonce+",busybox" {
				t.Fatalf("the image refers to %v", refs)
			}

			var inspect struct {
				Digest       string
				Architecture string
				Os           string
				Labels       map[string]string
				Layers       []string
			}
			if err := json.Unmarshal(tool(t, "skopeo", "inspect", "oci:"+img+":v1"), &inspect); err != nil {
				t.Fatal(err)
			}
			if inspect.Digest != digest || inspect.Architecture != runtime.GOARCH || inspect.Os != "linux" ||
				inspect.Labels["org.example.answer"] != "42" || len(inspect.Layers) != 4 {
				t.Fatalf("skopeo inspect: %+v (manifest %s)", inspect, digest)
			}
			var config struct {
				Created string `json:"created"`
				Config  struct {
					Entrypoint   []string
					Cmd          []string
					ExposedPorts map[string]any
					Volumes      map[string]any
				} `json:"config"`
			}
			if err := json.Unmarshal(tool(t, "skopeo", "inspect", "--config", "oci:"+img+":v1"), &config); err != nil {
				t.Fatal(err)
			}
			c := config.Config
			if config.Created != "1970-01-01T00:00:01Z" || len(c.Entrypoint) != 1 || !strings.HasSuffix(c.Entrypoint[0], "-app-"+h.nonce+"/bin/app") ||
				strings.Join(c.Cmd, " ") != "one two" || len(c.ExposedPorts) != 2 || c.ExposedPorts["8080/tcp"] == nil || c.Volumes["/data"] == nil {
				t.Fatalf("skopeo inspect --config: %+v", config)
			}

			res := unpackAndRun(t, img+":v1")
			want := "library data, shipped with " + busyboxPath(t, img) + "\napp version 1: one two\n"
			if res.code != 0 || res.stdout != want {
				t.Fatalf("runc: exit %d, stdout %q, want %q, stderr %q", res.code, res.stdout, want, res.stderr)
			}

			archive := filepath.Join(t.TempDir(), "image.tar")
			tool(t, "skopeo", "--insecure-policy", "copy", "oci:"+img+":v1", "docker-archive:"+archive+":example/app:v1")
			checkDockerArchive(t, archive, "docker.io/example/app:v1", 4)
		})
	}
}

// busyboxPath finds the busybox store path in the image's first layer's
// history, through the image's closure: lib's data names it.
func busyboxPath(t *testing.T, img string) string {
	t.Helper()
	var cfg struct {
		Config struct{ Entrypoint []string }
	}
	_, m := readLayout(t, img)
	readJSONFile(t, blobPath(img, m.Config.Digest), &cfg)
	app := strings.Join(strings.Split(cfg.Config.Entrypoint[0], "/")[:4], "/")
	r := runNix(t, "nix-store", "--query", "--requisites", app)
	if r.err != nil {
		t.Fatal(r)
	}
	for _, p := range strings.Fields(r.out) {
		if strings.HasSuffix(p, "-busybox") {
			return p
		}
	}
	t.Fatalf("no busybox in the closure of %s", app)
	return ""
}

// checkDockerArchive checks the manifest.json of a docker-archive.
func checkDockerArchive(t *testing.T, archive, tag string, layers int) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s has no manifest.json", archive)
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name != "manifest.json" {
			continue
		}
		var m []struct {
			RepoTags []string
			Layers   []string
		}
		if err := json.NewDecoder(tr).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || strings.Join(m[0].RepoTags, ",") != tag || len(m[0].Layers) != layers {
			t.Fatalf("docker-archive manifest.json: %+v", m)
		}
		return
	}
}

// TestImageZstd checks zstd layers with the reference zstd tool, and runs the
// image after skopeo recompressed it (umoci 0.4 reads only gzip layers).
func TestImageZstd(t *testing.T) {
	needTools(t)
	t.Parallel()
	img := mustBuild(t, "let\n"+appExpr+`in
ociTools.buildImage {
  name = "zstd-${nonce}";
  args = [ "${app "z"}/bin/app" ];
  compression = "zstd";
}`, true)
	_, m := readLayout(t, img)
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	readJSONFile(t, blobPath(img, m.Config.Digest), &cfg)
	for i, l := range m.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" {
			t.Fatalf("layer %d: media type %s", i, l.MediaType)
		}
		sum := sha256.Sum256(tool(t, "zstd", "--decompress", "--stdout", blobPath(img, l.Digest)))
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != cfg.RootFS.DiffIDs[i] {
			t.Fatalf("layer %d: zstd -d gives %s, diff ID %s", i, got, cfg.RootFS.DiffIDs[i])
		}
	}
	gz := filepath.Join(t.TempDir(), "gzip")
	tool(t, "skopeo", "--insecure-policy", "copy", "--dest-compress-format", "gzip", "oci:"+img+":latest", "oci:"+gz+":latest")
	res := unpackAndRun(t, gz+":latest")
	if res.code != 0 || !strings.HasSuffix(res.stdout, "\napp version z: \n") {
		t.Fatalf("runc: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}

// TestImageVerify: buildImage checks the closure against its NAR hashes as
// it writes the layers unless verify = false, and the image is the same
// either way.
func TestImageVerify(t *testing.T) {
	needTools(t)
	t.Parallel()
	var digests []string
	for _, verify := range []string{"", "verify = false;", "verify = true;"} {
		r := nixBuild(t, "let\n"+appExpr+`in
ociTools.buildImage {
  name = "verify-${nonce}";
  args = [ "${app "v"}/bin/app" ];
  `+verify+`
}`, true)
		if r.err != nil {
			t.Fatal(r)
		}
		want := "; verified 3 of 3 store paths against their NAR hashes"
		if verify == "verify = false;" {
			want = "; not verified"
		}
		if !strings.Contains(r.log, want) {
			t.Fatalf("%q: the log does not say %q:\n%s", verify, want, r.log)
		}
		d, _ := readLayout(t, r.out)
		digests = append(digests, d)
	}
	if digests[0] != digests[1] || digests[0] != digests[2] {
		t.Fatalf("digests differ: %v", digests)
	}
}

// TestImageDependencyLayersReused: a new version of the application on the
// same dependencies gives a new image whose dependency layers are the same
// blobs, with every path in its own layer and with grouped layers.
func TestImageDependencyLayersReused(t *testing.T) {
	needTools(t)
	for _, maxLayers := range []int{100, 3} {
		t.Run(fmt.Sprintf("maxLayers=%d", maxLayers), func(t *testing.T) {
			t.Parallel()
			var manifests []ociManifest
			var digests []string
			for _, version := range []string{"1", "2"} {
				img := mustBuild(t, "let\n"+appExpr+fmt.Sprintf(`in
ociTools.buildImage {
  args = [ "${app %q}/bin/app" ];
  maxLayers = %d;
}`, version, maxLayers), false)
				d, m := readLayout(t, img)
				digests = append(digests, d)
				manifests = append(manifests, m)
				res := unpackAndRun(t, img+":latest")
				if res.code != 0 || !strings.HasSuffix(res.stdout, "\napp version "+version+": \n") {
					t.Fatalf("runc: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
				}
			}
			a, b := manifests[0].Layers, manifests[1].Layers
			want := map[int]int{100: 4, 3: 3}[maxLayers]
			if len(a) != want || len(b) != want || digests[0] == digests[1] {
				t.Fatalf("layers %d and %d, want %d; manifests %v", len(a), len(b), want, digests)
			}
			for i := 0; i < want-1; i++ {
				if a[i].Digest != b[i].Digest {
					t.Errorf("dependency layer %d: %s, then %s", i, a[i].Digest, b[i].Digest)
				}
			}
			if a[want-1].Digest == b[want-1].Digest {
				t.Errorf("the application's layer did not change")
			}
		})
	}
}

// TestImageCommandMatchesNixBuild: `oci-builder image`, reading the closure
// from the local store, writes the same image (the same manifest digest) as
// buildImage for the same program and options, whatever the number of jobs
// and however it learns the closure: from `nix path-info`, from the Nix
// daemon (with no `nix` on PATH to fall back on), or from `nix path-info`
// again when no daemon listens on the socket (NIX_REMOTE=auto: Nix then
// opens the store itself).
func TestImageCommandMatchesNixBuild(t *testing.T) {
	needTools(t)
	t.Parallel()
	appPath := mustBuild(t, "let\n"+appExpr+`in app "cli"`, false)
	img := mustBuild(t, "let\n"+appExpr+`in
ociTools.buildImage {
  args = [ "${app "cli"}/bin/app" "--port" "8080" ];
  tag = "cli";
  exposedPorts = [ 8080 ];
  labels.a = "b";
}`, false)
	nixDigest, _ := readLayout(t, img)
	bin := filepath.Join(h.builder, "bin", "oci-builder")
	nixd := nixDaemonTest(t)
	for _, run := range []struct {
		jobs, closure string
		env           []string
	}{
		{"1", "nix path-info", []string{"NIX_REMOTE=local"}},
		{"2", "the nix daemon", append(nixd.nixDaemonEnv(), "PATH=/var/empty")},
		{"2", "nix path-info, no daemon listening", []string{"NIX_REMOTE=auto", "NIX_DAEMON_SOCKET_PATH=" + filepath.Join(t.TempDir(), "none")}},
	} {
		out := filepath.Join(t.TempDir(), "image")
		stdout := toolEnv(t, run.env, bin, "image", "--out", out, "--jobs", run.jobs, "--tag", "cli", "--expose", "8080", "--label", "a=b",
			"--", appPath+"/bin/app", "--port", "8080")
		if got := strings.TrimSpace(string(stdout)); got != nixDigest {
			t.Fatalf("--jobs %s, closure from %s: oci-builder image printed %s, buildImage's manifest is %s", run.jobs, run.closure, got, nixDigest)
		}
		if d, _ := readLayout(t, out); d != nixDigest {
			t.Fatalf("closure from %s: index.json names %s, want %s", run.closure, d, nixDigest)
		}
	}
	res := unpackAndRun(t, img+":cli")
	if res.code != 0 || !strings.HasSuffix(res.stdout, "\napp version cli: --port 8080\n") {
		t.Fatalf("runc: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}

// TestImageEvaluationErrors checks that buildImage rejects wrong arguments
// when it is evaluated, naming the argument.
func TestImageEvaluationErrors(t *testing.T) {
	need(t)
	tests := []struct {
		name, args, want string
	}{
		{"mounts", `mounts."/d" = { source = "/x"; };`, "ociTools.buildImage: 'mounts' cannot be part of an image: podman run -v"},
		{"readonly", `readonly = true;`, "ociTools.buildImage: 'readonly' cannot be part of an image: podman run --read-only or Kubernetes' readOnlyRootFilesystem decide it (only nixpkgs' default, false, is accepted, and ignored)"},
		{"arch", `arch = "vax";`, `ociTools.buildImage: 'arch' must be one of the architectures oci-builder accepts (amd64, `},
		{"os", `os = "windows";`, `ociTools.buildImage: 'os' must be "linux" (oci-builder makes Linux containers), got "windows"`},
		{"compression", `compression = "xz";`, `'compression' must be "gzip" or "zstd", got "xz"`},
		{"compression type", `compression = 1;`, `'compression' must be "gzip" or "zstd", got an int`},
		{"maxLayers type", `maxLayers = "3";`, "'maxLayers' must be an integer, got a string"},
		{"maxLayers one", `maxLayers = 1;`, "'maxLayers' must be at least 2 (the closure's layers and the /etc layer), got 1"},
		{"hostname", `hostname = "web";`, "'hostname' cannot be part of an image: podman run --hostname"},
		{"capabilities", `capabilities = [ ];`, "'capabilities' cannot be part of an image"},
		{"verify type", `verify = "yes";`, "'verify'"},
		{"env type", `env = [ ];`, "'env'"},
		{"port", `exposedPorts = [ true ];`, "'exposedPorts' must be a list of ports (8080 or \"53/udp\"), got an element that is a bool"},
		{"ports not a list", `exposedPorts = 80;`, "'exposedPorts' must be a list of ports, got an int"},
		{"label", `labels.a = 1;`, "'labels.a' must be a string, got an int"},
		{"volumes", `volumes = "/data";`, "'volumes' must be a list of strings, got a string"},
		{"name not a store name", `name = "a b";`, `ociTools.buildImage: 'name' "a b" cannot name a store path`},
		{"tag", `tag = 1;`, "'tag' must be a string, got an int"},
		{"created", `created = 0;`, "'created' must be a string, got an int"},
		{"tag empty", `tag = "";`, `ociTools.buildImage: 'tag' must not be empty (leave it out for "latest")`},
		{"created empty", `created = "";`, `ociTools.buildImage: 'created' must not be empty: an ISO 8601 date and time`},
		{"created form", `created = "yesterday";`, `ociTools.buildImage: 'created' "yesterday" is not an ISO 8601 date and time (like 2024-05-01T12:00:00Z, 2024-05-01 or 20240501) or "now"`},
		{"args", `args = [ ];`, "'args' must not be empty"},
		{"unknown argument", `frobnicate = true;`, "called with unexpected argument 'frobnicate'"},
		{"fromImage a string", `fromImage = "/home/alice/base.tar";`, `'fromImage' is the string "/home/alice/base.tar", which names no store path the build can read: give a path (./image.tar, which Nix copies into the store) or a derivation`},
		{"fromImage type", `fromImage = 1;`, "'fromImage' must be an image (a derivation or a path: a docker-archive, an OCI layout or an oci-archive), got an int"},
		{"fromImage a stream", `fromImage = ociTools.streamLayeredImage { name = "s"; contents = [ busybox ]; };`, "'fromImage' is a streamLayeredImage result, a program that writes an image, not an image"},
		{"fromImageTag alone", `fromImageTag = "1";`, "'fromImageName' and 'fromImageTag' pick the base image in 'fromImage', which is not set"},
		{"fromImageName type", `fromImage = busybox; fromImageName = 1;`, "'fromImageName' must be a string, got an int"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			if !strings.Contains(args, "args =") {
				args += ` args = [ "${busybox}/bin/sh" ];`
			}
			r := runNix(t, "nix-instantiate", writeExpr(t, "ociTools.buildImage { "+args+" }"))
			if r.err == nil || !strings.Contains(r.log, tc.want) {
				t.Fatalf("want error %q, got %v", tc.want, r)
			}
		})
	}
}

// TestImageBuilderErrors checks the builder's own checks through real
// nix-build: one error line naming the culprit and a failed build.
func TestImageBuilderErrors(t *testing.T) {
	need(t)
	tests := []struct {
		name, args, want string
		end              string // the line's end, when want is not all of it
	}{
		{"tag", `tag = "no spaces";`, `oci-builder: error: tag "no spaces" is not a valid tag`, ""},
		// (the form is checked at evaluation, the ranges by the builder)
		{"created", `created = "2024-13-01T00:00:00Z";`, `oci-builder: error: created: "2024-13-01T00:00:00Z" is not a valid date and time: month out of range`, ""},
		{"no such program", `args = [ "${busybox}/bin/nope" ];`, `oci-builder: error: the image would not start: Entrypoint[0] "/nix/store/`, `-busybox/bin/nope" does not exist in the image`},
		{"not in PATH", `args = [ "nope" ]; env.PATH = "${busybox}/bin";`, `oci-builder: error: the image would not start: Entrypoint[0] "nope" is not found in the image's PATH`, ""},
		{"a directory", `args = [ "${busybox}/bin" ];`, `oci-builder: error: the image would not start: Entrypoint[0] "/nix/store/`, `-busybox/bin" is not a regular file`},
		{"port", `exposedPorts = [ "http" ];`, `oci-builder: error: exposed port "http": "http" is not a port number`, ""},
		{"volume", `volumes = [ "data" ];`, `oci-builder: error: volume: mount destination "data" is not an absolute path`, ""},
		{"maxLayers", `maxLayers = 200;`, "oci-builder: error: maxLayers 200 is out of range (2 to 125", ""},
		{"no store path", `args = [ "/bin/sh" ];`, "oci-builder: error: args mention no store path", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			if !strings.Contains(args, "args =") {
				args += ` args = [ "${busybox}/bin/sh" ];`
			}
			r := nixBuild(t, `ociTools.buildImage { name = "err-${nonce}"; `+args+` }`, true)
			if r.err == nil {
				t.Fatalf("build succeeded: %s", r.out)
			}
			if line := errorLine(r.log); !strings.HasPrefix(line, tc.want) || !strings.HasSuffix(line, tc.end) {
				t.Fatalf("error line %q, want %q...%q\n%s", line, tc.want, tc.end, r.log)
			}
		})
	}
}

// TestImageUserEnvWorkdir: the container options an image carries reach the
// process: a non-root user known to /etc/passwd, the environment with a
// default PATH, the working directory, a writable /tmp and home.
func TestImageUserEnvWorkdir(t *testing.T) {
	needTools(t)
	t.Parallel()
	img := mustBuild(t, `ociTools.buildImage {
  name = "user-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" ''
    echo "user $(id -un) $(id -u):$(id -g)"
    echo "greeting $GREETING"
    echo "pwd $(pwd)"
    echo "home $HOME"
    touch /tmp/x && echo "tmp writable"
    touch "$HOME/y" && echo "home writable"
  '' ];
  user = "app";
  env.GREETING = "hello";
  workingDir = "/srv/app";
}`, true)
	_, m := readLayout(t, img)
	var cfg struct {
		Config struct {
			User       string
			Env        []string
			WorkingDir string
		} `json:"config"`
	}
	readJSONFile(t, blobPath(img, m.Config.Digest), &cfg)
	c := cfg.Config
	if c.WorkingDir != "/srv/app" || !strings.Contains(strings.Join(c.Env, "\n"), "GREETING=hello") || !strings.Contains(c.User, ":") {
		t.Fatalf("image config %+v", c)
	}
	res := unpackAndRun(t, img+":latest")
	want := "user app " + c.User + "\ngreeting hello\npwd /srv/app\nhome /home/app\ntmp writable\nhome writable\n"
	if res.code != 0 || res.stdout != want {
		t.Fatalf("runc: exit %d, stdout\n%s\nwant\n%s\nstderr %q", res.code, res.stdout, want, res.stderr)
	}
	if c.User == "0:0" {
		t.Fatalf("user app runs as root")
	}
}

// TestImageProgramModeFromPerms: the program check judges the mode the
// image gives the program, its perms applied: a script the store holds
// read-only, made executable by perms, builds and runs; perms taking the
// execute bits off refuse the build.
func TestImageProgramModeFromPerms(t *testing.T) {
	needTools(t)
	t.Parallel()
	script := `script = derivation {
    name = "readonly-script-${nonce}";
    system = builtins.currentSystem;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "${busybox}/bin/busybox mkdir -p $out/bin; printf '#!${busybox}/bin/sh\necho made executable by perms\n' > $out/bin/run; ${busybox}/bin/busybox chmod 444 $out/bin/run" ];
  };`
	img := mustBuild(t, `let `+script+` in ociTools.buildImage {
  name = "perms-exec-${nonce}";
  args = [ "${script}/bin/run" ];
  perms = [ { path = script; regex = "/bin/run$"; mode = "0555"; } ];
}`, true)
	if res := unpackAndRun(t, img+":latest"); res.code != 0 || res.stdout != "made executable by perms\n" {
		t.Fatalf("runc: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	r := nixBuild(t, `ociTools.buildImage {
  name = "perms-noexec-${nonce}";
  args = [ "${busybox}/bin/busybox" "true" ];
  perms = [ { path = busybox; regex = "/bin/busybox$"; mode = "0644"; } ];
}`, true)
	if want := `is not executable in the image (mode 0644)`; r.err == nil || !strings.HasSuffix(errorLine(r.log), want) {
		t.Fatalf("want an error line ending %q, got %v\n%s", want, r.err, r.log)
	}
}
