package tests

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// nixpkgs' dockerTools examples (pkgs/build-support/docker/examples.nix),
// every call, translated in tests/testdata/dockertools-examples.nix, and
// what nixos/tests/docker-tools.nix checks of them.

// What a call needs.
const (
	// needsNothing: built without nixpkgs (nix/oci-tools.nix alone).
	needsNothing = ""
	// needsShell: a shell argument (extraCommands, fakeRootCommands,
	// runAsRoot): built with the stand-in nixpkgs' ociTools (fakeroot,
	// proot), refused with one line without.
	needsShell = "shell"
	// needsCross: nixpkgs' pkgsCross.
	needsCross = "pkgsCross"
	// needsNixpkgs: nixpkgs' packages in the image (streamNixShellImage):
	// built with the stand-in nixpkgs' ociTools, refused with one line
	// without.
	needsNixpkgs = "nixpkgs"
)

// dtExample is a call of examples.nix that builds here, and how every
// runtime runs it.
type dtExample struct {
	name  string
	needs string
	// kind is "archive" (buildImage, buildLayeredImage), "stream"
	// (streamLayeredImage: run into a file) or "merge" (mergeImages).
	kind string
	// ref is the image docker load names ("" for merges): NAME:TAG, or
	// NAME alone for the tag of the result's imageTag.
	ref string
	// probe is run in the image by docker, podman and ctr, and want is
	// what it prints (a substring); no probe: loaded only (an image
	// with no files, or for another architecture).
	probe []string
	want  string
	// store mounts the host's store at /nix/store for the probe
	// (includeStorePaths = false).
	store bool
	// zstd: layers Docker before 23 cannot read.
	zstd bool
	// merges are the examples whose images a merge holds: loading it
	// names each one's ref.
	merges []string
}

// dtExamples are the calls of examples.nix that build here (see
// dtUnsupported for the others), with nixos/tests/docker-tools.nix's own
// images (chownTestImage, nonRootTestImage).
var dtExamples = []dtExample{
	{name: "another-layered-image", kind: "archive", ref: "another-layered-image:latest", want: "Hello, world!"},
	{name: "bash", kind: "archive", ref: "bash:latest", probe: []string{"bash", "--version"}, want: "GNU bash"},
	{name: "bashLayeredUncompressed", kind: "archive", ref: "bash-layered-uncompressed:latest", probe: []string{"/bin/bash", "-c", "echo uncompressed"}, want: "uncompressed"},
	{name: "bashLayeredWithUser", kind: "archive", ref: "bash-layered-with-user:latest", probe: []string{"/bin/id", "-u", "somebody"}, want: "999"},
	{name: "bashLayeredZstdCompressed", kind: "archive", ref: "bash-layered-zstd:latest", probe: []string{"/bin/bash", "-c", "echo zstd"}, want: "zstd", zstd: true},
	{name: "bashNoTag", kind: "archive", ref: "bash-no-tag", probe: []string{"/bin/bash", "--version"}, want: "GNU bash"},
	{name: "bashNoTagLayered", kind: "archive", ref: "bash-no-tag-layered", probe: []string{"/bin/bash", "--version"}, want: "GNU bash"},
	{name: "bashNoTagStreamLayered", kind: "stream", ref: "bash-no-tag-stream-layered", probe: []string{"/bin/bash", "--version"}, want: "GNU bash"},
	{name: "bashUncompressed", kind: "archive", ref: "bash-uncompressed:latest", probe: []string{"/bin/bash", "-c", "echo uncompressed"}, want: "uncompressed"},
	{name: "bashZstdCompressed", kind: "archive", ref: "bash-zstd:latest", probe: []string{"/bin/bash", "-c", "echo zstd"}, want: "zstd", zstd: true},
	{name: "build-image-with-architecture", kind: "archive", ref: "build-image-with-architecture:latest"},
	{name: "build-image-with-path", kind: "archive", ref: "build-image-with-path:latest", probe: []string{"/bin/bash", "-c", "[[ -e /hello.txt ]] && echo there"}, want: "there"},
	{name: "bulk-layer", kind: "archive", ref: "bulk-layer:latest", probe: []string{"ls", "/bin/hello"}, want: "/bin/hello"},
	{name: "cross", needs: needsCross, kind: "archive", ref: "hello-cross:latest"},
	{name: "editors", kind: "archive", ref: "editors", probe: []string{"/bin/vim"}, want: "vim"},
	{name: "environmentVariablesParent", kind: "archive", ref: "parent:latest"},
	{name: "etc", needs: needsShell, kind: "stream", ref: "etc:latest", want: "localhost"},
	{name: "helloOnRoot", kind: "stream", ref: "hello:latest", want: "Hello, world!"},
	{name: "helloOnRootNoStore", kind: "stream", ref: "hello:latest", want: "Hello, world!", store: true},
	{name: "helloOnRootNoStoreFakechroot", kind: "stream", ref: "hello:latest", want: "Hello, world!", store: true},
	{name: "image-with-certs", kind: "archive", ref: "image-with-certs:latest", probe: []string{"cat", "/etc/pki/tls/certs/ca-bundle.crt"}, want: "stand-in bundle"},
	{name: "imageViaFakeChroot", needs: needsShell, kind: "stream", ref: "image-via-fake-chroot:latest", want: "Hello, world!"},
	{name: "layered-image", needs: needsShell, kind: "archive", ref: "layered-image:latest", want: "Hello, world!"},
	{name: "layered-image-with-architecture", kind: "stream", ref: "layered-image-with-architecture:latest"},
	{name: "layered-image-with-path", kind: "stream", ref: "layered-image-with-path:latest", probe: []string{"/bin/bash", "-c", "[[ -e /hello.txt ]] && echo there"}, want: "there"},
	{name: "layeredImageWithFakeRootCommands", needs: needsShell, kind: "archive", ref: "layered-image-with-fake-root-commands:latest", probe: []string{"sh", "-c", "stat -c %u /home/alice"}, want: "1000"},
	{name: "layeredStoreSymlink", kind: "archive", ref: "layeredstoresymlink:latest", probe: []string{"bash", "-c", "cat /nix/store/*-symlink/dir/target"}, want: "Content doesn't matter."},
	{name: "mergedBashFakeRoot", needs: needsShell, kind: "merge"},
	{name: "nginx", needs: needsShell, kind: "archive", ref: "nginx-container:latest"},
	{name: "nginxStream", needs: needsShell, kind: "stream", ref: "nginx-container:latest"},
	{name: "no-store-paths", needs: needsShell, kind: "archive", ref: "no-store-paths:latest", probe: []string{"ls", "/"}, want: "bin"},
	{name: "mergeVaryingCompressor", needs: needsShell, kind: "merge", zstd: true, merges: []string{"redis", "bashUncompressed", "bashZstdCompressed"}},
	{name: "mergedBashAndRedis", needs: needsShell, kind: "merge", merges: []string{"bash", "redis"}},
	{name: "mergedBashNoTagAndRedis", needs: needsShell, kind: "merge", merges: []string{"bashNoTag", "redis"}},
	{name: "prefixedImage", kind: "archive", ref: "registry-1.docker.io/image:latest", want: "Hello, world!"},
	{name: "prefixedLayeredImage", kind: "archive", ref: "registry-1.docker.io/layered-image:latest", want: "Hello, world!"},
	// config.Healthcheck runs /bin/healthcheck, which runAsRoot writes
	// (no #! line: sh runs it).
	{name: "redis", needs: needsShell, kind: "archive", ref: "redis:latest", probe: []string{"/bin/sh", "-c", "/bin/healthcheck"}, want: "PONG"},
	{name: "runAsRootExtraCommands", needs: needsShell, kind: "archive", ref: "runasrootextracommands:latest", probe: []string{"cat", "runAsRoot", "extraCommands"}, want: "(runAsRoot)\n(extraCommand)"},
	{name: "two-layered-image", kind: "archive", ref: "two-layered-image:latest", want: "Hello, world!"},
	{name: "unstableDate", kind: "archive", ref: "unstable-date:latest", probe: []string{"date"}, want: "UTC"},
	{name: "unstableDateLayered", kind: "archive", ref: "unstable-date-layered:latest", probe: []string{"date"}, want: "UTC"},
	// On base images (fromImage).
	{name: "environmentVariables", kind: "archive", ref: "child:latest", probe: []string{"/bin/env"}, want: "FROM_PARENT=true"},
	{name: "environmentVariablesLayered", kind: "archive", ref: "child:latest", probe: []string{"/bin/env"}, want: "FROM_CHILD=true"},
	{name: "layered-bulk-layer", kind: "archive", ref: "layered-bulk-layer:latest", probe: []string{"ls", "/bin/hello"}, want: "/bin/hello"},
	{name: "layered-on-top", needs: needsShell, kind: "archive", ref: "layered-on-top:latest", want: "hello"},
	{name: "layered-on-top-layered", needs: needsShell, kind: "archive", ref: "layered-on-top-layered:latest", want: "hello"},
	{name: "layersOrder", needs: needsShell, kind: "archive", ref: "l3:latest", probe: []string{"cat", "/tmp/layer1", "/tmp/layer2", "/tmp/layer3"}, want: "layer1\nlayer2\nlayer3"},
	// runAsRoot runs over the base image's files, as dockerTools' (in a
	// VM): /layer-order is "abc" (docker-tools.nix), printed twice.
	{name: "layersUnpackOrder", needs: needsShell, kind: "archive", ref: "layers-unpack-order-c:latest", probe: []string{"cat", "/layer-order", "/layer-order"}, want: "abcabc"},
	{name: "runAsRootParentImage", needs: needsShell, kind: "archive", ref: "runasrootparentimage:latest", probe: []string{"/bin/bash", "-c", "[ -e /example-file ] && echo there"}, want: "there"},
	{name: "chownTestImage", needs: needsShell, kind: "stream", ref: "chown-test:latest", want: "12345:12345"},
	{name: "nonRootTestImage", kind: "stream", ref: "non-root-test:latest"},
	// streamNixShellImage, with nixos/tests/docker-tools-nix-shell.nix's
	// checks that need no terminal; nixShellChecks runs the others.
	{name: "nix-shell-basic", needs: needsNixpkgs, kind: "stream", ref: "nix-shell-basic:latest", probe: []string{"bash", "-c", "buildDerivation && $out/bin/hello"}, want: "Hello, world!"},
	{name: "nix-shell-build-derivation", needs: needsNixpkgs, kind: "stream", ref: "nix-shell-build-derivation:latest", want: "Hello, world!"},
	{name: "nix-shell-command", needs: needsNixpkgs, kind: "stream", ref: "nix-shell-command:latest"},
	{name: "nix-shell-hook", needs: needsNixpkgs, kind: "stream", ref: "nix-shell-hook:latest"},
	{name: "nix-shell-inputs", needs: needsNixpkgs, kind: "stream", ref: "nix-shell-inputs:latest"},
	{name: "nix-shell-nonexistent-home", needs: needsNixpkgs, kind: "stream", ref: "nix-shell-nonexistent-home:latest", want: "home directory doesn't exist"},
	{name: "nix-shell-pass-as-file", needs: needsNixpkgs, kind: "stream", ref: "nix-shell-pass-as-file:latest"},
	{name: "nix-shell-run", needs: needsNixpkgs, kind: "stream", ref: "nix-shell-run:latest", want: "This shell is not interactive"},
	{name: "nix-shell-writable-home", needs: needsNixpkgs, kind: "stream", ref: "nix-shell-writable-home:latest", want: "home directory is writable"},
}

// dtUnsupported are the calls of examples.nix that do not build here yet,
// with what their evaluation says, without nixpkgs and with it.
var dtUnsupported = map[string]string{
	// pullImage fetches from Docker Hub, which these machines cannot
	// reach: they evaluate (want ""), pullImage's own test pulls from a
	// local registry (TestOutside*).
	"nixFromDockerHub":     "",
	"testNixFromDockerHub": "",
	"onTopOfPulledImage":   "",
}

// dtNixDB are the calls with a Nix database, which TestNixDB builds and
// runs (Nix in the containers); here they only evaluate.
var dtNixDB = []string{"nix", "nix-layered", "nixLayered", "filesInStore", "nixUserStreamed"}

// dtShellRefusal is what each call with a shell argument says without
// nixpkgs: one line naming the argument and what to declare instead; and
// what streamNixShellImage's calls say: that it needs nixpkgs.
var dtShellRefusal = map[string]string{
	"etc":                              "'fakeRootCommands' is not supported without nixpkgs",
	"imageViaFakeChroot":               "'fakeRootCommands' is not supported without nixpkgs",
	"chownTestImage":                   "'fakeRootCommands' is not supported without nixpkgs",
	"layered-image":                    "'extraCommands' is not supported without nixpkgs",
	"layeredImageWithFakeRootCommands": "'fakeRootCommands' is not supported without nixpkgs: it runs a shell as fake root; set owners and modes with 'perms'",
	"mergedBashFakeRoot":               "'fakeRootCommands' is not supported without nixpkgs",
	"nginx":                            "'extraCommands' is not supported without nixpkgs",
	"nginxStream":                      "'extraCommands' is not supported without nixpkgs",
	"no-store-paths":                   "'extraCommands' is not supported without nixpkgs",
	"runAsRootExtraCommands":           "'extraCommands' is not supported without nixpkgs",
	"layered-on-top":                   "'extraCommands' is not supported without nixpkgs",
	"layered-on-top-layered":           "'extraCommands' is not supported without nixpkgs",
	"layersOrder":                      "'extraCommands' is not supported without nixpkgs",
	"layersUnpackOrder":                "'runAsRoot' is not supported without nixpkgs",
	"runAsRootParentImage":             "'runAsRoot' is not supported without nixpkgs",
	"redis":                            "'runAsRoot' is not supported without nixpkgs",
	"mergeVaryingCompressor":           "'runAsRoot' is not supported without nixpkgs",
	"mergedBashAndRedis":               "'runAsRoot' is not supported without nixpkgs",
	"mergedBashNoTagAndRedis":          "'runAsRoot' is not supported without nixpkgs",
	"nix-shell-basic":                  nixShellRefusal,
	"nix-shell-build-derivation":       nixShellRefusal,
	"nix-shell-command":                nixShellRefusal,
	"nix-shell-hook":                   nixShellRefusal,
	"nix-shell-inputs":                 nixShellRefusal,
	"nix-shell-nonexistent-home":       nixShellRefusal,
	"nix-shell-pass-as-file":           nixShellRefusal,
	"nix-shell-run":                    nixShellRefusal,
	"nix-shell-writable-home":          nixShellRefusal,
}

// dtBuilt is what the test knows of a built example.
type dtBuilt struct {
	Out       string `json:"out"`
	ImageName string `json:"imageName"`
	ImageTag  string `json:"imageTag"`
	Symlink   string `json:"symlink"`
	Layer     string `json:"layer"`
}

// examplesExpr imports tests/testdata/dockertools-examples.nix with the
// library alone (plain) and with the stand-in nixpkgs' overlay
// (withNixpkgs).
func examplesExpr(t *testing.T) string {
	return fmt.Sprintf(`let
  examples = %s/tests/testdata/dockertools-examples.nix;
  hostNix = builtins.path { path = %s; name = "host-nix"; };
  plain = import examples { inherit ociTools busybox nonce hostNix; };
  pkgs = %s;
  withNixpkgs = import examples { inherit (pkgs) ociTools pkgsCross; inherit busybox nonce hostNix; };
in
`, h.repo, hostNix(t), standinPkgs(t, true))
}

// TestDockerToolsExamples builds every call of examples.nix that builds
// here, in one nix-build: those that need no shell with the library
// alone, the shell ones with the stand-in nixpkgs (its fakeroot and proot
// really run); checks that the others, and the shell ones without
// nixpkgs, fail at evaluation with one line naming what they need; then
// loads each image into dockerd (the test binary's: Debian's docker.io),
// podman and containerd (ctr images import, ctr run) and runs it, has
// skopeo read it, and checks what nixos/tests/docker-tools.nix checks.
// Docker in both Nix lanes; podman, containerd, skopeo and the --check
// rebuilds of the shell layers in the host lane's only (the same builder
// writes the images in both; CI time). The calls
// with a Nix database (dtNixDB) only evaluate here: TestNixDB builds and
// runs them.
func TestDockerToolsExamples(t *testing.T) {
	// With the other parallel tests: its three minutes, mostly the
	// daemons', would otherwise run alone (CI time).
	t.Parallel()
	needPodman(t)
	start := time.Now()
	needStandin(t)
	t.Logf("stand-in ready after %v", time.Since(start))
	calls := map[string]bool{}
	evalJSON(t, fmt.Sprintf(`builtins.mapAttrs (n: v: true) (import %s/tests/testdata/dockertools-examples.nix { ociTools = { }; busybox = null; nonce = ""; })`, h.repo), &calls)
	for _, e := range dtExamples {
		if _, ok := dtUnsupported[e.name]; ok {
			t.Fatalf("%s is both built and unsupported", e.name)
		}
		if _, ok := dtShellRefusal[e.name]; ok != (e.needs == needsShell || e.needs == needsNixpkgs) {
			t.Fatalf("%s: needs %q, but a refusal without nixpkgs listed: %v", e.name, e.needs, ok)
		}
		delete(calls, e.name)
	}
	for name := range dtUnsupported {
		delete(calls, name)
	}
	for _, name := range dtNixDB {
		delete(calls, name)
	}
	for name := range dtExports {
		delete(calls, name)
	}
	if len(calls) > 0 {
		t.Fatalf("calls of examples.nix the test does not know: %v", calls)
	}

	// Every example that builds, in one nix-build.
	var sets []string
	for _, e := range dtExamples {
		from := "plain"
		if e.needs != needsNothing {
			from = "withNixpkgs"
		}
		sets = append(sets, fmt.Sprintf("  %q = %s.%q;", e.name, from, e.name))
	}
	for name, expr := range dtExports {
		sets = append(sets, fmt.Sprintf("  %q = %s;", name, expr))
	}
	file := writeExpr(t, examplesExpr(t)+"{\n"+strings.Join(sets, "\n")+"\n}")
	both := writeExpr(t, examplesExpr(t)+"{ inherit plain withNixpkgs; }")
	built := map[string]dtBuilt{}
	evalJSON(t, fmt.Sprintf(`builtins.mapAttrs (n: v: {
  out = v.outPath;
  imageName = v.imageName or "";
  imageTag = v.imageTag or "";
  symlink = v.passthru.symlink.outPath or "";
}) (import %s)`, file), &built)
	var attrs []string
	for _, e := range dtExamples {
		attrs = append(attrs, "-A", e.name)
	}
	for name := range dtExports {
		attrs = append(attrs, "-A", name)
	}
	if r := nixBuildFile(t, file, true, append(attrs, "--keep-going")...); r.err != nil {
		t.Fatal(r)
	}
	t.Logf("built after %v", time.Since(start))

	// Streams run into files, for every runtime.
	files := map[string]string{}
	for _, e := range dtExamples {
		files[e.name] = built[e.name].Out
		if e.kind == "stream" {
			files[e.name] = filepath.Join(t.TempDir(), e.name+".tar")
			streamTo(t, built[e.name].Out, files[e.name])
		}
	}
	refOf := func(e dtExample) string {
		if e.ref == "" || strings.Contains(e.ref, ":") {
			return e.ref
		}
		return e.ref + ":" + built[e.name].ImageTag
	}

	// The checks and the runtimes at once: each reads the files only, and
	// most of their time is the daemons'. Each is a subtest run on a
	// goroutine of its own, not a parallel subtest: those wait for one of
	// go test's -parallel slots (one per CPU), shared with the other
	// tests, so that the runtimes ran two at a time, in no set order, and
	// Docker's, the longest, often last and alone (CI time).
	t.Run("group", func(t *testing.T) {
		var wg sync.WaitGroup
		defer wg.Wait()
		concurrently := func(name string, f func(t *testing.T)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.Run(name, f)
			}()
		}
		concurrently("refused", func(t *testing.T) {
			for name, want := range dtUnsupported {
				checkOneError(t, both, "withNixpkgs", name, want)
			}
			for name, want := range dtShellRefusal {
				checkOneError(t, both, "plain", name, want)
			}
			for _, name := range dtNixDB {
				checkOneError(t, both, "plain", name, "")
			}
		})

		concurrently("export", func(t *testing.T) {
			checkExports(t, built)
		})

		concurrently("check", func(t *testing.T) {
			if !strings.HasPrefix(h.nix, "2.8.") {
				// What --check checks is the builders' determinism, which
				// does not depend on Nix's version (CI time).
				t.Logf("--check of the shell layers: in the host lane only (Nix %s here)", h.nix)
				return
			}
			// The shell arguments' layers are reproducible: fakeroot alone,
			// fakeroot in proot, and runAsRoot over a base image's files
			// (base-tree, then layer-diff).
			for _, name := range []string{"layeredImageWithFakeRootCommands", "runAsRootExtraCommands", "runAsRootWhiteout"} {
				drv := shellLayerDrv(t, built[name].Out)
				if r := runNix(t, "nix-store", "--realise", "--check", "--option", "substituters", "", drv); r.err != nil {
					t.Fatalf("%s: %v", name, r)
				}
			}
		})

		// The whole runtime matrix in one lane, Debian 12's Nix (the host);
		// the other lane builds every example and runs them in Docker.
		fullMatrix := strings.HasPrefix(h.nix, "2.8.")
		concurrently("docker", func(t *testing.T) {
			d := dockerDaemon(t)
			modern := dockerServerMajor(t, d) >= 23
			for _, e := range dtExamples {
				if e.zstd && !modern {
					continue
				}
				loaded := d.docker(t, files[e.name], "load")
				if ref := refOf(e); ref != "" && !strings.Contains(loaded, "Loaded image: "+ref) {
					t.Errorf("%s: docker load printed %q, want %s", e.name, loaded, ref)
					continue
				}
				for _, m := range e.merges {
					if ref := mergedRef(m); !strings.Contains(loaded, "Loaded image: "+ref) {
						t.Errorf("%s: docker load printed %q, want %s", e.name, loaded, ref)
					}
				}
				if e.ref != "" && (e.probe != nil || e.want != "") {
					args := []string{"run", "--rm", "--network", "none"}
					if e.store {
						args = append(args, "--volume", storeDirOf(built[e.name].Out)+":"+storeDirOf(built[e.name].Out)+":ro")
					}
					if got := d.docker(t, "", append(append(args, refOf(e)), e.probe...)...); !strings.Contains(got, e.want) {
						t.Errorf("%s: docker run %v printed %q, want %q", e.name, e.probe, got, e.want)
					}
				}
			}
			dockerToolsChecks(t, d, built, files)
			nixShellChecks(t, d)
		})

		concurrently("podman", func(t *testing.T) {
			if !fullMatrix {
				t.Logf("podman: in the host lane only (Nix %s here)", h.nix)
				return
			}
			root := podmanRoot(t)
			for _, e := range dtExamples {
				in, err := os.Open(files[e.name])
				if err != nil {
					t.Fatal(err)
				}
				loaded := podman(t, root, in, "load")
				in.Close()
				for _, m := range e.merges {
					if ref := mergedRef(m); !strings.Contains(loaded, ref) {
						t.Errorf("%s: podman load printed %q, want %s", e.name, loaded, ref)
					}
				}
				ref := refOf(e)
				if ref == "" {
					continue
				}
				if !strings.Contains(loaded, ref) {
					t.Errorf("%s: podman load printed %q, want %s", e.name, loaded, ref)
					continue
				}
				if e.probe == nil && e.want == "" {
					continue
				}
				args := []string{"run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
				if e.store {
					args = append(args, "--volume", storeDirOf(built[e.name].Out)+":"+storeDirOf(built[e.name].Out)+":ro")
				}
				if got := podman(t, root, nil, append(append(args, ref), e.probe...)...); !strings.Contains(got, e.want) {
					t.Errorf("%s: podman run %v printed %q, want %q", e.name, e.probe, got, e.want)
				}
			}
			checkRedisHealth(t, "podman image inspect", podman(t, root, nil, "image", "inspect", "--format", "{{json .HealthCheck}}", "redis:latest"))
		})

		concurrently("containerd", func(t *testing.T) {
			if !fullMatrix {
				t.Logf("containerd: in the host lane only (Nix %s here)", h.nix)
				return
			}
			d := containerdDaemon(t)
			for i, e := range dtExamples {
				ref := refOf(e)
				d.ctr(t, "images", "import", "--all-platforms", "--snapshotter", ctrSnapshotter(), files[e.name])
				if ref == "" || (e.probe == nil && e.want == "") {
					continue
				}
				full := ref
				if !strings.Contains(strings.SplitN(ref, "/", 2)[0], ".") {
					full = "docker.io/library/" + ref
				}
				args := []string{"run", "--rm", "--snapshotter", ctrSnapshotter()}
				if e.store {
					s := storeDirOf(built[e.name].Out)
					args = append(args, "--mount", "type=bind,src="+s+",dst="+s+",options=rbind:ro")
				}
				id := fmt.Sprintf("dt-%s-%d", h.nonce, i)
				if got := d.ctr(t, append(append(args, full, id), e.probe...)...); !strings.Contains(got, e.want) {
					t.Errorf("%s: ctr run %v printed %q, want %q", e.name, e.probe, got, e.want)
				}
			}
		})

		concurrently("skopeo", func(t *testing.T) {
			if !fullMatrix {
				t.Logf("skopeo: in the host lane only (Nix %s here)", h.nix)
				return
			}
			for _, e := range dtExamples {
				if e.kind == "merge" {
					continue
				}
				var inspect struct {
					Architecture string
					Layers       []string
				}
				if err := json.Unmarshal(tool(t, "skopeo", "inspect", "docker-archive:"+files[e.name]), &inspect); err != nil {
					t.Fatal(err)
				}
				arch := "amd64"
				if e.name == "cross" || strings.HasSuffix(e.name, "-with-architecture") {
					arch = "arm64"
				}
				if inspect.Architecture != arch || len(inspect.Layers) == 0 {
					t.Errorf("%s: skopeo inspect: %+v, want %s", e.name, inspect, arch)
				}
			}
		})
	})
}

// mergedRef is the ref, or the "NAME:" of a ref whose tag is its output
// path's hash, of the example name as a merge holds it: built in the
// merge's set (with nixpkgs, for redis' runAsRoot), an image without a
// tag has another output path, so another tag, than the example's.
func mergedRef(name string) string {
	for _, e := range dtExamples {
		if e.name == name && strings.Contains(e.ref, ":") {
			return e.ref
		} else if e.name == name {
			return e.ref + ":"
		}
	}
	panic("no example " + name)
}

// checkRedisHealth checks that the health check js (JSON), as a runtime
// shows redis' image, is examples.nix's config.Healthcheck.
func checkRedisHealth(t *testing.T, how, js string) {
	t.Helper()
	var h struct {
		Test                           []string
		Interval, Timeout, StartPeriod time.Duration
		Retries                        int
	}
	if err := json.Unmarshal([]byte(js), &h); err != nil || strings.Join(h.Test, " ") != "CMD-SHELL /bin/healthcheck" ||
		h.Interval != 30*time.Second || h.Timeout != 10*time.Second || h.StartPeriod != 0 || h.Retries != 3 {
		t.Errorf("redis: %s shows the health check %s (%v), want CMD-SHELL /bin/healthcheck, interval 30 s, timeout 10 s, 3 retries", how, js, err)
	}
}

// nixErrorMessage is an error message of Nix's (not the bare "error:" heading
// a trace).
var nixErrorMessage = regexp.MustCompile(`error: \S`)

// checkOneError evaluates the call attr of set ("plain": without nixpkgs)
// in sets, a file whose value has plain and withNixpkgs, and wants it to
// fail with one error containing want; want "": to evaluate.
func checkOneError(t *testing.T, sets, set, attr, want string) {
	t.Helper()
	r := runNix(t, "nix-instantiate", "--eval", "-E", fmt.Sprintf(`(import %s).%s.%q.drvPath`, sets, set, attr))
	if want == "" {
		if r.err != nil {
			t.Errorf("%s (%s): %v", attr, set, r)
		}
		return
	}
	// One message (Nix 2.26 prints a trace of frames above it, under an
	// "error:" of its own).
	if r.err == nil || strings.Count(r.log, want) != 1 || len(nixErrorMessage.FindAllString(r.log, -1)) != 1 {
		t.Errorf("%s (%s): want one error containing %q, got %v\n%s", attr, set, want, r.err, r.log)
	}
}

// shellLayerDrv is the derivation of the customisation layer that the
// shell arguments of the image out made.
func shellLayerDrv(t *testing.T, out string) string {
	t.Helper()
	drv := runNixOK(t, "nix-store", "--query", "--deriver", out)
	for _, in := range strings.Fields(runNixOK(t, "nix-store", "--query", "--references", drv)) {
		if strings.HasSuffix(in, "-customisation-layer.drv") {
			return in
		}
	}
	t.Fatalf("%s has no customisation layer derivation among its inputs", drv)
	return ""
}

// storeDirOf is the store directory of a store path.
func storeDirOf(p string) string { return filepath.Dir(p) }

// dockerServerMajor is the major version of the daemon's Docker.
func dockerServerMajor(t *testing.T, d *daemon) int {
	t.Helper()
	var major int
	v := strings.TrimSpace(d.docker(t, "", "version", "--format", "{{.Server.Version}}"))
	if _, err := fmt.Sscanf(v, "%d.", &major); err != nil {
		t.Fatalf("docker server version %q: %v", v, err)
	}
	return major
}

// storeEntries are the names under nix/store/ in the layers of a
// docker-archive file.
func storeEntries(t *testing.T, archive string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(h.Name, ".tar") {
			continue
		}
		lr := tar.NewReader(tr)
		for {
			lh, err := lr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: layer %s: %v", archive, h.Name, err)
			}
			if name := strings.TrimPrefix(lh.Name, "./"); strings.HasPrefix(name, "nix/store/") {
				names = append(names, name)
			}
		}
	}
}

// dockerToolsChecks are nixos/tests/docker-tools.nix's checks of the
// examples, besides the probes TestDockerToolsExamples runs.
func dockerToolsChecks(t *testing.T, d *daemon, built map[string]dtBuilt, files map[string]string) {
	t.Helper()
	docker := func(args ...string) string { return d.docker(t, "", args...) }
	inspect := func(ref, format string) string {
		return strings.TrimSpace(docker("image", "inspect", "--format", format, ref))
	}
	run := func(ref string, args ...string) string {
		return docker(append([]string{"run", "--rm", "--network", "none", ref}, args...)...)
	}
	load := func(name string) { d.docker(t, files[name], "load") }

	// Docker images use a stable date by default, "now" when asked.
	const second1 = "1970-01-01T00:00:01Z"
	if c := inspect("bash:latest", "{{.Created}}"); c != second1 {
		t.Errorf("bash: created %s, want %s", c, second1)
	}
	if built["bash"].ImageTag != "latest" {
		t.Errorf("bash: imageTag %q", built["bash"].ImageTag)
	}
	for _, ref := range []string{"unstable-date:latest", "unstable-date-layered:latest"} {
		if c := inspect(ref, "{{.Created}}"); c == second1 || !strings.HasPrefix(c, "20") {
			t.Errorf("%s: created %s, want now", ref, c)
		}
	}
	// The store of a layered image is 755, for a user that is not root.
	if got := docker("run", "--rm", "--network", "none", "-u", "somebody", "bash-layered-with-user:latest",
		"/bin/bash", "-c", "test 755 = $(stat -c %a /nix) && test 755 = $(stat -c %a /nix/store) && echo ok"); got != "ok\n" {
		t.Errorf("bashLayeredWithUser: %q", got)
	}
	if got := run("layered-image:latest", "cat", "extraCommands"); got != "(extraCommand)\n" {
		t.Errorf("layered-image: cat extraCommands printed %q", got)
	}
	// Layers are shared between images.
	layers := func(ref string) []string {
		return strings.Fields(inspect(ref, `{{range .RootFS.Layers}}{{.}} {{end}}`))
	}
	shared := false
	for _, l := range layers("layered-image:latest") {
		shared = shared || slices.Contains(layers("another-layered-image:latest"), l)
	}
	if !shared {
		t.Errorf("layered-image and another-layered-image share no layer")
	}
	for ref, n := range map[string]int{"two-layered-image:latest": 2, "bulk-layer:latest": 2, "layered-bulk-layer:latest": 4} {
		if got := len(layers(ref)); got != n {
			t.Errorf("%s: %d layers, want %d", ref, got, n)
		}
	}
	// Only minimal paths: no store at all (this busybox refers to no
	// store path, so it is not its own reference).
	if out, err := d.try(d.dockerEnv(), "", "docker", "run", "--rm", "--network", "none", "no-store-paths:latest", "ls", "/nix/store"); err == nil {
		t.Errorf("no-store-paths: ls /nix/store printed %q, want no store", out)
	}
	for ref, arch := range map[string]string{"hello-cross:latest": "arm64", "build-image-with-architecture:latest": "arm64", "layered-image-with-architecture:latest": "arm64"} {
		if a := inspect(ref, "{{.Architecture}}"); a != arch {
			t.Errorf("%s: architecture %s, want %s", ref, a, arch)
		}
	}
	if got := run("layeredstoresymlink:latest", "bash", "-c", "test -L "+built["layeredStoreSymlink"].Symlink+" && echo link"); got != "link\n" {
		t.Errorf("layeredStoreSymlink: %q", got)
	}
	repos := docker("images", "--format", "{{.Repository}}")
	for _, name := range []string{"prefixedImage", "prefixedLayeredImage"} {
		if !strings.Contains(repos, built[name].ImageName+"\n") {
			t.Errorf("%s: docker images lists %q, not %s", name, repos, built[name].ImageName)
		}
	}
	// The store paths fakeRootCommands' output refers to are in the image.
	if got := run("layered-image-with-fake-root-commands:latest", "/hello/bin/layeredImageWithFakeRootCommands-hello"); got != "Hello, world!\n" {
		t.Errorf("layeredImageWithFakeRootCommands: %q", got)
	}
	// mergeImages keeps the owners of the images it merges.
	docker("rmi", "bash:latest", "layered-image-with-fake-root-commands:latest")
	loaded := d.docker(t, files["mergedBashFakeRoot"], "load")
	if !strings.Contains(loaded, "Loaded image: bash:latest") || !strings.Contains(loaded, "Loaded image: layered-image-with-fake-root-commands:latest") {
		t.Errorf("mergedBashFakeRoot: docker load printed %q", loaded)
	}
	if got := run("layered-image-with-fake-root-commands:latest", "sh", "-c", "stat -c %u /home/alice"); got != "1000\n" {
		t.Errorf("mergedBashFakeRoot: /home/alice owned by %q, want 1000", got)
	}
	for _, p := range []string{"/etc/ssl/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"} {
		if out, err := d.try(d.dockerEnv(), "", "docker", "run", "--rm", "--network", "none", "image-with-certs:latest", "test", "-r", p); err != nil {
			t.Errorf("image-with-certs: test -r %s: %v %s", p, err, out)
		}
	}
	// includeStorePaths = false: no store path in the image, which then
	// needs the host's store.
	for _, name := range []string{"helloOnRootNoStore", "helloOnRootNoStoreFakechroot"} {
		if names := storeEntries(t, files[name]); len(names) > 0 {
			t.Errorf("%s: the image holds %v, want no store path", name, names)
		}
		load(name)
		if out, err := d.try(d.dockerEnv(), "", "docker", "run", "--rm", "--network", "none", "hello:latest"); err == nil {
			t.Errorf("%s ran without the store: %q", name, out)
		}
	}
	// streamLayeredImage with uid and gid: the store is theirs.
	if got := docker("run", "--rm", "--network", "none", "-u", "1000:1000", "non-root-test:latest"); got != "1000:1000\n" {
		t.Errorf("nonRootTestImage: the store is owned by %q, want 1000:1000", got)
	}
	// redis: Docker's health check, as config.Healthcheck gives it.
	checkRedisHealth(t, "docker image inspect", inspect("redis:latest", "{{json .Config.Healthcheck}}"))
	if env := inspect("parent:latest", "{{json .Config.Env}}"); env != `["FROM_PARENT=true","LAST_LAYER=parent"]` {
		t.Errorf("environmentVariablesParent: env %s", env)
	}
	// A base image's environment is inherited, the child's wins, each
	// variable once in the configuration.
	for _, name := range []string{"environmentVariables", "environmentVariablesLayered"} {
		load(name)
		env := strings.Split(run("child:latest", "/bin/env"), "\n")
		for _, want := range []string{"FROM_PARENT=true", "FROM_CHILD=true", "LAST_LAYER=child"} {
			if !slices.Contains(env, want) {
				t.Errorf("%s: env printed %q, want %s", name, env, want)
			}
		}
		if cfg := inspect("child:latest", "{{json .Config.Env}}"); strings.Count(cfg, "LAST_LAYER=") != 1 {
			t.Errorf("%s: the configuration's Env is %s, want LAST_LAYER once", name, cfg)
		}
	}
	// nginx: extraCommands made its directories, the shadow files its
	// user; it serves the page.
	var bbPath string
	evalJSON(t, prelude()+`"${busybox}"`, &bbPath)
	for _, name := range []string{"nginx", "nginxStream"} {
		load(name)
		id := "nginx-" + h.nonce
		docker("run", "-d", "--network", "none", "--name", id, "nginx-container:latest")
		var page string
		var err error
		for i := 0; i < 50; i++ {
			if page, err = d.try(d.dockerEnv(), "", "docker", "exec", id, bbPath+"/bin/busybox", "wget", "-qO-", "http://127.0.0.1:80/"); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		logs, _ := d.try(d.dockerEnv(), "", "docker", "logs", id)
		docker("rm", "-f", id)
		if !strings.Contains(page, "Hello from NGINX") {
			t.Errorf("%s: the page is %q (%v), nginx logged %q", name, page, err, logs)
		}
	}
}
