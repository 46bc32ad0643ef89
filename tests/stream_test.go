package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needPodman is needTools plus podman: skipped without it, except under CI.
func needPodman(t *testing.T) {
	t.Helper()
	needTools(t)
	if !havePodman(t) {
		t.Skip("missing podman")
	}
}

// havePodman says whether podman is installed; under CI it must be.
func havePodman(t *testing.T) bool {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but podman is missing")
		}
		return false
	}
	return true
}

// podmanRoot is a directory for podman's storage and state, short enough
// for its run directory (podman refuses one longer than 50 characters);
// removed at the end of the test, with the mounts podman leaves in it (its
// overlay storage makes its directory a private mount of its own).
func podmanRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "podman-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeWithMounts(dir) })
	return dir
}

// podman runs podman with storage, run and temporary directories of its
// own (overlay or vfs storage, see overlayStorage; cgroupfs, events in a
// file, no network configuration), so that no global state of the machine
// is read or changed; stdin, when not nil, is its input. It returns stdout
// and fails the test on an error.
func podman(t *testing.T, root string, stdin *os.File, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", append(podmanGlobal(root), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// podmanGlobal are podman's options for storage, run and temporary
// directories under root (see podman).
func podmanGlobal(root string) []string {
	return []string{
		"--root", filepath.Join(root, "storage"),
		"--runroot", filepath.Join(root, "run"),
		"--tmpdir", filepath.Join(root, "tmp"),
		"--network-config-dir", filepath.Join(root, "networks"),
		"--storage-driver", storageFor("overlay", "vfs"),
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
	}
}

// podmanRun runs the image ref with podman (no network; the rlimits these
// VMs allow, see ../shared/reference/README.md) and returns its output.
func podmanRun(t *testing.T, root, ref string) string {
	t.Helper()
	return podman(t, root, nil, "run", "--rm", "--network", "none",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", ref)
}

// dockerWant is what dockerExpr's image prints when run: bin/sh is a link to
// busybox's, in the store.
const dockerWant = "-busybox/bin/sh\nid 1000:1000\ngreeting hello world\npwd /srv/app\n"

func checkDockerRun(t *testing.T, how, stdout string) {
	t.Helper()
	if !strings.HasPrefix(stdout, "sh /nix/store/") || !strings.HasSuffix(stdout, dockerWant) {
		t.Fatalf("%s: stdout\n%s\nwant\n%s", how, stdout, dockerWant)
	}
}

// streamTo runs the streamed image script as a program (through its #!
// line) with stdout to a new file, and returns the file's path.
func streamTo(t *testing.T, script, file string) string {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s > %s: %v\n%s", script, file, err, stderr.String())
	}
	return file
}

// TestStreamLayeredImage builds dockerExpr with ociTools.streamLayeredImage
// (builtins only, and through the stand-in nixpkgs), checks that the output
// is a small #! file that refers to the closure, rebuilds it with --check,
// runs it twice (same bytes), reads the archive with skopeo, runs it with
// umoci and runc, and pipes it into podman load and runs it with podman:
// /bin/sh comes from contents, env, cwd and user are as written. Built from
// the same arguments, buildLayeredImage has the same configuration (so the
// same DiffIDs and image ID).
func TestStreamLayeredImage(t *testing.T) {
	needPodman(t)
	for _, via := range []string{"builtins", "standin"} {
		t.Run(via, func(t *testing.T) {
			stream := strings.Replace(dockerExpr, "ociTools.buildLayeredImage", "ociTools.streamLayeredImage", 1)
			script := buildDockerExpr(t, stream, via)
			if !strings.HasSuffix(script, "-stream-app-"+h.nonce) {
				t.Fatalf("output %s: not named stream-<baseNameOf name>", script)
			}
			fi, err := os.Stat(script)
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 128)
			f, err := os.Open(script)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := f.Read(head)
			f.Close()
			line, _, _ := strings.Cut(string(head[:n]), "\n")
			if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o555 || fi.Size() > 64*1024 ||
				!strings.HasPrefix(line, "#!/nix/store/") || !strings.HasSuffix(line, "/bin/oci-builder stream-image") {
				t.Fatalf("output %s: mode %v, %d bytes, first line %q", script, fi.Mode(), fi.Size(), line)
			}
			// Its references keep oci-builder and the closure alive.
			refs := " " + strings.Join(references(t, script), " ")
			if !strings.Contains(refs, " oci-builder") || !strings.Contains(refs, " busybox") {
				t.Fatalf("references of %s: %s", script, refs)
			}

			dir := t.TempDir()
			a := streamTo(t, script, filepath.Join(dir, "a.tar"))
			b := streamTo(t, script, filepath.Join(dir, "b.tar"))
			da, err := os.ReadFile(a)
			if err != nil {
				t.Fatal(err)
			}
			db, err := os.ReadFile(b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(da, db) {
				t.Fatal("two runs of the script wrote different archives")
			}
			tag := "v1"
			if via == "standin" {
				// dockerTools' default: the output path's hash.
				tag = filepath.Base(script)[:32]
			}
			ref := "example.org/team/app-" + h.nonce + ":" + tag
			checkDockerArchive(t, a, ref, 2)

			var inspect struct {
				Config struct {
					Cmd        []string
					Entrypoint []string
					Env        []string
					WorkingDir string
					User       string
					Labels     map[string]string
				} `json:"config"`
			}
			if err := json.Unmarshal(tool(t, "skopeo", "inspect", "--config", "docker-archive:"+a), &inspect); err != nil {
				t.Fatal(err)
			}
			c := inspect.Config
			if c.Entrypoint != nil || len(c.Cmd) != 3 || strings.Join(c.Env, ",") != "GREETING=hello world,PATH=/bin" ||
				c.WorkingDir != "/srv/app" || c.User != "1000:1000" || c.Labels["org.example.answer"] != "42" {
				t.Fatalf("image config %+v", c)
			}
			layout := filepath.Join(dir, "layout")
			tool(t, "skopeo", "--insecure-policy", "copy", "docker-archive:"+a, "oci:"+layout+":"+tag)
			res := unpackAndRun(t, layout+":"+tag)
			if res.code != 0 {
				t.Fatalf("runc: exit %d, stderr %q", res.code, res.stderr)
			}
			checkDockerRun(t, "umoci+runc", res.stdout)

			// As users do: $(nix-build) | podman load.
			root := podmanRoot(t)
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			streamer := exec.Command(script)
			var streamErr bytes.Buffer
			streamer.Stdout, streamer.Stderr = pw, &streamErr
			if err := streamer.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			loaded := podman(t, root, pr, "load")
			pr.Close()
			if err := streamer.Wait(); err != nil {
				t.Fatalf("%s | podman load: %v\n%s", script, err, streamErr.String())
			}
			if !strings.Contains(loaded, "Loaded image: "+ref) && !strings.Contains(loaded, "Loaded image(s): "+ref) {
				t.Fatalf("podman load: %s", loaded)
			}
			checkDockerRun(t, "podman", podmanRun(t, root, ref))

			if via == "builtins" {
				// buildLayeredImage from the same arguments: the same
				// image configuration, DiffIDs included.
				img := mustBuild(t, fmt.Sprintf(dockerExpr, `tag = "v1";`), true)
				var m []struct{ Config string }
				if err := json.Unmarshal(tool(t, "tar", "-xOf", a, "manifest.json"), &m); err != nil || len(m) != 1 {
					t.Fatalf("manifest.json: %v", err)
				}
				var am []struct{ Config string }
				if err := json.Unmarshal(tool(t, "tar", "-xOf", img, "manifest.json"), &am); err != nil || len(am) != 1 {
					t.Fatalf("manifest.json of %s: %v", img, err)
				}
				if want := strings.TrimPrefix(am[0].Config, "blobs/sha256/") + ".json"; m[0].Config != want {
					t.Fatalf("streamed configuration %s, buildLayeredImage's %s", m[0].Config, want)
				}
			}
		})
	}
}

// TestStreamLayeredImageErrors: a closed stdout gives one line and exit 1; a
// copy of the output outside the store streams, a crafted copy naming
// another store directory, a file outside the store or / is refused with
// one line and nothing on stdout; an argument that makes no sense for a stream, or a name docker load
// refuses, fails with one line naming it.
func TestStreamLayeredImageErrors(t *testing.T) {
	need(t)
	t.Parallel()
	script := mustBuild(t, `ociTools.streamLayeredImage {
  name = "closed-${nonce}";
  contents = [ busybox ];
  config.Cmd = [ "/bin/sh" ];
}`, true)
	// The reader stops after 1 KiB.
	cmd := exec.Command("bash", "-c", `"$0" 2>"$1" | head -c 1024 >/dev/null; echo "${PIPESTATUS[0]}"`, script, filepath.Join(t.TempDir(), "stderr"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.ReadFile(cmd.Args[4])
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != "1" || strings.Count(string(stderr), "\n") != 1 ||
		!strings.HasPrefix(string(stderr), "oci-builder: error: write the archive: ") || !strings.Contains(string(stderr), "broken pipe") {
		t.Fatalf("stream into a closed pipe: exit %s, stderr %q", out, stderr)
	}

	// A copy of the file outside the store streams; a crafted copy that
	// names a private file instead of a store path is refused before
	// anything reaches stdout (the file is larger than the output's
	// buffer, so streaming it would have written some of it).
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("private "), 512*1024), 0o600); err != nil {
		t.Fatal(err)
	}
	first := regexp.MustCompile(`"kind":"store","paths":\["([^"]+)"`).FindSubmatch(data)
	if first == nil {
		t.Fatalf("%s names no store layer's paths", script)
	}
	for _, tc := range []struct {
		name, data string
		want       string
	}{
		{"copy", string(data), ""},
		{"private file", strings.Replace(string(data), `"`+string(first[1])+`"`, `"`+secret+`"`, 1), `"` + secret + `" is not a store path in /nix/store`},
		{"home as the store", strings.NewReplacer(`"storeDir":"/nix/store"`, `"storeDir":"`+dir+`"`, `"`+string(first[1])+`"`, `"`+secret+`"`).Replace(string(data)), `names the store directory "` + dir + `", not this machine's /nix/store`},
		{"contents of /", strings.Replace(string(data), `"kind":"contents","paths":["`, `"kind":"contents","paths":["/","`, 1), `"/" is not a store path in /nix/store`},
	} {
		f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if tc.data == string(data) && tc.want != "" {
			t.Fatalf("%s: the case changes nothing", tc.name)
		}
		if err := os.WriteFile(f, []byte(tc.data), 0o555); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		cmd, err := runFreshExecutable(f, &stdout, &stderr)
		if cmd.ProcessState == nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.want == "" {
			if err != nil || !bytes.Contains(stdout.Bytes(), []byte("manifest.json")) {
				t.Errorf("%s: %v, %d bytes\n%s", tc.name, err, stdout.Len(), stderr.String())
			}
			continue
		}
		if cmd.ProcessState.ExitCode() != 1 || stdout.Len() != 0 || strings.Count(stderr.String(), "\n") != 1 ||
			!strings.HasPrefix(stderr.String(), "oci-builder: error: "+f+": ") || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, %d bytes on stdout, stderr %q; want exit 1, nothing on stdout and one line containing %q",
				tc.name, cmd.ProcessState.ExitCode(), stdout.Len(), stderr.String(), tc.want)
		}
	}

	for _, tc := range []struct{ args, want string }{
		{`name = "x"; compressor = "zstd";`, "ociTools.streamLayeredImage: 'compressor' is not supported"},
		{`name = "x"; layers = [ ];`, "ociTools.streamLayeredImage: 'layers' is not supported"},
		{`name = "x"; extraCommands = "mkdir tmp";`, "ociTools.streamLayeredImage: 'extraCommands' is not supported"},
		{`name = "a..b"; contents = [ busybox ];`, `ociTools.streamLayeredImage: 'name' "a..b" is not a valid image name`},
	} {
		r := nixBuild(t, "ociTools.streamLayeredImage { "+tc.args+" config.Env = [ \"N=${nonce}\" ]; }", true)
		if r.err == nil || !strings.Contains(r.log, tc.want) {
			t.Errorf("%s: want an error containing %q, got %v\n%s", tc.args, tc.want, r.err, r.log)
		}
	}
}

// runFreshExecutable runs the executable f just written, retrying while it
// is "text file busy": a process another test forked while f was open for
// writing keeps that descriptor until it execs (golang/go#22315).
func runFreshExecutable(f string, stdout, stderr *bytes.Buffer) (*exec.Cmd, error) {
	for try := 0; ; try++ {
		stdout.Reset()
		stderr.Reset()
		cmd := exec.Command(f)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err := cmd.Run()
		if errors.Is(err, syscall.ETXTBSY) && try < 100 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		return cmd, err
	}
}
