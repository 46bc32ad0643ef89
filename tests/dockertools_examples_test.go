package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// examplesExpr calls tests/testdata/dockertools-examples.nix, nixpkgs'
// dockerTools examples translated with stand-in packages.
func examplesExpr(t *testing.T) string {
	return fmt.Sprintf(`import %s/tests/testdata/dockertools-examples.nix {
  inherit ociTools busybox nonce;
  hostNix = builtins.path { path = %s; name = "host-nix"; };
}`, h.repo, hostNix(t))
}

// TestDockerToolsExamples builds a representative subset of nixpkgs'
// dockerTools examples.nix (every argument of each call kept), loads them
// into the test binary's dockerd (podman for zstd layers, which Docker
// before 23 cannot read) and checks what nixos/tests/docker-tools.nix
// checks of them: what they print, layer counts, tags, names with a
// registry, creation dates, architectures, users. The calls that need a
// shell or a base image fail at evaluation with one line naming the
// argument. TestNixDB runs Nix in those with a Nix database.
func TestDockerToolsExamples(t *testing.T) {
	needPodman(t)
	file := writeExpr(t, examplesExpr(t))
	var outs map[string]string
	r := runNix(t, "nix-instantiate", "--eval", "--strict", "--json", "--expr",
		fmt.Sprintf(`builtins.mapAttrs (n: v: v.outPath) (removeAttrs (import %s) [ "refused" ])`, file))
	if r.err != nil {
		t.Fatal(r)
	}
	if err := json.Unmarshal([]byte(r.out), &outs); err != nil {
		t.Fatal(err)
	}
	var attrs []string
	for a := range outs {
		attrs = append(attrs, "-A", a)
	}
	if r := nixBuildFile(t, file, true, attrs...); r.err != nil {
		t.Fatal(r)
	}

	for example, want := range map[string]string{
		"redis":                            "ociTools.buildImage: 'runAsRoot' is not supported: it runs a shell",
		"layered-image":                    "ociTools.buildLayeredImage: 'extraCommands' is not supported: it runs a shell",
		"layeredImageWithFakeRootCommands": "ociTools.buildLayeredImage: 'fakeRootCommands' is not supported: it runs a shell as fake root, which this builder never does: set owners and modes with 'perms'",
		"imageViaFakeChroot":               "ociTools.streamLayeredImage: 'enableFakechroot' is not supported",
	} {
		r := runNix(t, "nix-instantiate", file, "-A", "refused."+example)
		// One message (Nix 2.26 prints a trace of frames above it).
		if r.err == nil || strings.Count(r.log, want) != 1 || strings.Count(r.log, "ociTools.") != 1 {
			t.Errorf("%s: want one error containing %q, got %v\n%s", example, want, r.err, r.log)
		}
	}

	d := dockerDaemon(t)
	docker := func(args ...string) string { return d.docker(t, "", args...) }
	load := func(example string) string {
		t.Helper()
		return d.docker(t, outs[example], "load")
	}
	layers := func(ref string) string {
		return strings.TrimSpace(docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", ref))
	}
	run := func(ref string, args ...string) string {
		return docker(append([]string{"run", "--rm", "--network", "none", ref}, args...)...)
	}

	load("bash")
	if got := run("bash:latest", "/bin/bash", "-c", "echo bash works"); got != "bash works\n" {
		t.Errorf("bash: %q", got)
	}
	load("unstableDate")
	if c := docker("image", "inspect", "--format", "{{.Created}}", "unstable-date:latest"); strings.HasPrefix(c, "1970-01-01") {
		t.Errorf("unstableDate: created %s", c)
	}
	load("unstableDateLayered")
	if c := docker("image", "inspect", "--format", "{{.Created}}", "unstable-date-layered:latest"); strings.HasPrefix(c, "1970-01-01") {
		t.Errorf("unstableDateLayered: created %s", c)
	}
	for _, ex := range []struct{ example, ref, layers string }{
		{"another-layered-image", "another-layered-image:latest", ""},
		{"two-layered-image", "two-layered-image:latest", "2"},
		{"prefixedImage", "registry-1.docker.io/image:latest", "1"},
		{"prefixedLayeredImage", "registry-1.docker.io/layered-image:latest", ""},
	} {
		if loaded := load(ex.example); !strings.Contains(loaded, "Loaded image: "+ex.ref) {
			t.Errorf("%s: docker load: %s", ex.example, loaded)
			continue
		}
		if got := run(ex.ref); got != "Hello, world!\n" {
			t.Errorf("%s: docker run printed %q", ex.example, got)
		}
		if n := layers(ex.ref); ex.layers != "" && n != ex.layers {
			t.Errorf("%s: %s layers, want %s", ex.example, n, ex.layers)
		}
	}
	load("bulk-layer")
	if n := layers("bulk-layer:latest"); n != "2" {
		t.Errorf("bulk-layer: %s layers, want 2", n)
	}
	if got := run("bulk-layer:latest", "/bin/hello"); got != "Hello, world!\n" {
		t.Errorf("bulk-layer: %q", got)
	}

	// No tag: the output path's hash, as dockerTools'.
	for example, name := range map[string]string{"bashNoTag": "bash-no-tag", "bashNoTagLayered": "bash-no-tag-layered"} {
		tag := strings.SplitN(filepath.Base(outs[example]), "-", 2)[0]
		if loaded := load(example); !strings.Contains(loaded, "Loaded image: "+name+":"+tag) {
			t.Errorf("%s: docker load: %s, want %s:%s", example, loaded, name, tag)
		}
	}
	streamed := filepath.Join(t.TempDir(), "stream.tar")
	streamTo(t, outs["bashNoTagStreamLayered"], streamed)
	tag := strings.SplitN(filepath.Base(outs["bashNoTagStreamLayered"]), "-", 2)[0]
	if loaded := d.docker(t, streamed, "load"); !strings.Contains(loaded, "Loaded image: bash-no-tag-stream-layered:"+tag) {
		t.Errorf("bashNoTagStreamLayered: docker load: %s", loaded)
	}

	load("bashLayeredUncompressed")
	if got := run("bash-layered-uncompressed:latest", "/bin/bash", "-c", "echo uncompressed"); got != "uncompressed\n" {
		t.Errorf("bashLayeredUncompressed: %q", got)
	}
	load("bashUncompressed")

	load("bashLayeredWithUser")
	if got := run("bash-layered-with-user:latest", "/bin/id", "-u", "somebody"); got != "999\n" {
		t.Errorf("bashLayeredWithUser: id -u somebody printed %q", got)
	}
	load("layeredStoreSymlink")
	if got := run("layeredstoresymlink:latest", "/bin/sh", "-c", "cat /nix/store/*-symlink/dir/target"); got != "Content doesn't matter.\n" {
		t.Errorf("layeredStoreSymlink: %q", got)
	}
	load("build-image-with-path")
	if got := run("build-image-with-path:latest", "/bin/sh", "-c", "cat /dummy-file"); got != "dummy\n" {
		t.Errorf("build-image-with-path: %q", got)
	}
	load("build-image-with-architecture")
	if a := strings.TrimSpace(docker("image", "inspect", "--format", "{{.Architecture}}", "build-image-with-architecture:latest")); a != "arm64" {
		t.Errorf("build-image-with-architecture: %s", a)
	}
	load("image-with-certs")
	if got := run("image-with-certs:latest", "/bin/cat", "/etc/ssl/certs/ca-bundle.crt"); !strings.Contains(got, "stand-in bundle") {
		t.Errorf("image-with-certs: %q", got)
	}
	for example, want := range map[string]string{"helloOnRoot": "Hello, world!\n", "layered-image-with-path": ""} {
		f := filepath.Join(t.TempDir(), "stream.tar")
		streamTo(t, outs[example], f)
		d.docker(t, f, "load")
		if want != "" {
			if got := run("hello:latest"); got != want {
				t.Errorf("%s: %q", example, got)
			}
		}
	}
	f := filepath.Join(t.TempDir(), "stream.tar")
	streamTo(t, outs["helloOnRootNoStore"], f)
	d.docker(t, f, "load")
	if n := layers("hello:latest"); n != "1" {
		t.Errorf("helloOnRootNoStore: %s layers, want 1 (no store paths)", n)
	}
	f = filepath.Join(t.TempDir(), "stream.tar")
	streamTo(t, outs["layered-image-with-architecture"], f)
	d.docker(t, f, "load")
	if a := strings.TrimSpace(docker("image", "inspect", "--format", "{{.Architecture}}", "layered-image-with-architecture:latest")); a != "arm64" {
		t.Errorf("layered-image-with-architecture: %s", a)
	}

	// zstd layers: podman (Docker before 23 cannot read them), the
	// merged archive with them too.
	root := podmanRoot(t)
	for example, ref := range map[string]string{"bashZstdCompressed": "bash-zstd:latest", "bashLayeredZstdCompressed": "bash-layered-zstd:latest"} {
		in, err := os.Open(outs[example])
		if err != nil {
			t.Fatal(err)
		}
		podman(t, root, in, "load")
		in.Close()
		if got := podman(t, root, nil, "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", ref, "/bin/bash", "-c", "echo zstd"); got != "zstd\n" {
			t.Errorf("%s: podman run printed %q", example, got)
		}
	}
	in, err := os.Open(outs["mergeVaryingCompressor"])
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	loaded := podman(t, root, in, "load")
	for _, ref := range []string{"bash:latest", "bash-uncompressed:latest", "bash-zstd:latest"} {
		if !strings.Contains(loaded, ref) {
			t.Errorf("mergeVaryingCompressor: podman load: %s, want %s", loaded, ref)
		}
	}
}
