package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

var (
	hostNixOnce sync.Once
	hostNixDir  string
	hostNixErr  error
)

// hostNix is a directory holding the Nix the tests run (the lane's own,
// Debian's nix), runnable anywhere: bin/nix, the libraries ldd finds for
// it in lib, and its dynamic loader as lib/ld.so. The examples' stand-in
// nix package starts it with `lib/ld.so --argv0 NAME --library-path lib`,
// so that a container whose image holds it runs real Nix.
func hostNix(t *testing.T) string {
	t.Helper()
	hostNixOnce.Do(func() { hostNixDir, hostNixErr = makeHostNix(filepath.Join(h.work, "host-nix")) })
	if hostNixErr != nil {
		t.Fatal(hostNixErr)
	}
	return hostNixDir
}

func makeHostNix(dir string) (string, error) {
	nix, err := exec.LookPath("nix")
	if err != nil {
		return "", err
	}
	if nix, err = filepath.EvalSymlinks(nix); err != nil {
		return "", err
	}
	out, err := exec.Command("ldd", nix).Output()
	if err != nil {
		return "", fmt.Errorf("ldd %s: %w", nix, err)
	}
	files := map[string]string{filepath.Join("bin", "nix"): nix}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[1] == "=>":
			files[filepath.Join("lib", f[0])] = f[2]
		case len(f) == 2 && filepath.IsAbs(f[0]):
			files[filepath.Join("lib", "ld.so")] = f[0]
		}
	}
	if files[filepath.Join("lib", "ld.so")] == "" {
		return "", fmt.Errorf("ldd %s names no dynamic loader:\n%s", nix, out)
	}
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o555); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// TestNixDB: the images of dockerTools' examples with a Nix database
// (includeNixDB: buildImageWithNixDb, buildLayeredImageWithNixDb, a
// streamed image owned by uid 1000), their stand-in nix being the lane's
// own Nix. Outside, the lane's Nix reads each exported image's store
// (local?root=DIR): --verify --check-contents passes, the database lists
// every store path of the image with the references, hashes and sizes of
// the lane's store. Inside, in Docker, Nix runs what
// nixos/tests/docker-tools.nix runs: nix-store -qR of the nix package,
// nix-store --verify --check-contents, the nix-daemon link intact; as
// uid 1000 in the image whose /nix/var/nix that user owns. The buildImage
// style rebuilds to the same bytes.
func TestNixDB(t *testing.T) {
	// Parallel: its own builds, directories and image names (CI time).
	t.Parallel()
	need(t)
	needDaemonTool(t, "dockerd", "docker")
	file := writeExpr(t, examplesExpr(t)+"plain")
	examples := []string{"nix", "nixLayered", "filesInStore", "nixUserStreamed"}
	var attrs []string
	for _, e := range examples {
		attrs = append(attrs, "-A", e)
	}
	r := nixBuildFile(t, file, true, attrs...)
	if r.err != nil {
		t.Fatal(r)
	}
	outs := map[string]string{}
	for i, p := range strings.Fields(r.out) {
		outs[examples[i]] = p
	}
	if r := nixBuildFile(t, file, false, "-A", "nix", "--check"); r.err != nil {
		t.Fatalf("buildImageWithNixDb is not reproducible: %v", r)
	}

	d := dockerDaemon(t)
	docker := func(args ...string) string { return d.docker(t, "", args...) }
	run := func(ref string, args ...string) string {
		return docker(append([]string{"run", "--rm", "--network", "none", ref}, args...)...)
	}
	stream := filepath.Join(t.TempDir(), "stream.tar")
	streamTo(t, outs["nixUserStreamed"], stream)
	for example, ref := range map[string]string{"nix": "nix:latest", "nixLayered": "nix-layered:latest", "filesInStore": "file-in-store:latest", "nixUserStreamed": "nix-user:latest"} {
		in := outs[example]
		if example == "nixUserStreamed" {
			in = stream
		}
		if loaded := d.docker(t, in, "load"); !strings.Contains(loaded, "Loaded image: "+ref) {
			t.Fatalf("%s: docker load: %s", example, loaded)
		}
	}

	// Outside: the exported root file system, read by the lane's Nix.
	roots := map[string]string{}
	for _, ref := range []string{"nix:latest", "nix-layered:latest", "nix-user:latest"} {
		id := strings.TrimSpace(docker("create", ref, "/bin/true"))
		exported := filepath.Join(t.TempDir(), "rootfs.tar")
		docker("export", "-o", exported, id)
		docker("rm", id)
		root := filepath.Join(t.TempDir(), "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("tar", "-xf", exported, "-C", root).CombinedOutput(); err != nil {
			t.Fatalf("tar -x: %v\n%s", err, out)
		}
		roots[ref] = root
		checkImageStore(t, ref, root)
	}
	nixPkg := ""
	if m, _ := filepath.Glob(filepath.Join(roots["nix:latest"], "nix", "store", "*-nix-"+h.nonce)); len(m) == 1 {
		nixPkg = "/nix/store/" + filepath.Base(m[0])
	} else {
		t.Fatalf("the nix image holds %d stand-in nix packages", len(m))
	}
	if got := ownerOf(t, filepath.Join(roots["nix-user:latest"], "nix", "var", "nix", "db")); got != "1000:1000 0755" {
		t.Errorf("nix-user: /nix/var/nix/db is %s, want 1000:1000 0755", got)
	}
	if got := ownerOf(t, filepath.Join(roots["nix:latest"], "nix", "var", "nix", "db", "db.sqlite")); got != "0:0 0644" {
		t.Errorf("nix: /nix/var/nix/db/db.sqlite is %s, want 0:0 0644", got)
	}

	// Inside: Nix in the containers.
	want := runNixOK(t, "nix-store", "-qR", nixPkg)
	if got := strings.TrimSpace(run("nix:latest", "nix-store", "-qR", nixPkg)); sortedLines(got) != sortedLines(want) {
		t.Errorf("nix: nix-store -qR %s in the container:\n%s\nwant\n%s", nixPkg, got, want)
	}
	for _, ref := range []string{"nix:latest", "nix-layered:latest"} {
		if got := run(ref, "/bin/bash", "-c", "readlink "+nixPkg+"/bin/nix-daemon"); got != "nix\n" {
			t.Errorf("%s: the nix-daemon link is %q", ref, got)
		}
	}
	run("file-in-store:latest", "nix-store", "--verify", "--check-contents")
	if got := run("file-in-store:latest"); got != "some data\n" {
		t.Errorf("file-in-store printed %q", got)
	}
	// As the unprivileged user who owns the store and its database.
	if got := run("nix-user:latest", "id", "-u"); got != "1000\n" {
		t.Errorf("nix-user runs as %q", got)
	}
	run("nix-user:latest", "nix-store", "--verify", "--check-contents")
	if got := strings.TrimSpace(run("nix-user:latest", "nix-store", "-q", "--references", nixPkg)); sortedLines(got) != sortedLines(runNixOK(t, "nix-store", "-q", "--references", nixPkg)) {
		t.Errorf("nix-user: references of %s: %s", nixPkg, got)
	}
}

// checkImageStore has the lane's Nix read the store of the root file
// system root: --verify --check-contents passes, the valid paths are
// exactly the store's directories, and each has the hash, size and
// references the lane's own store gives it.
func checkImageStore(t *testing.T, ref, root string) {
	t.Helper()
	store := "local?root=" + root
	if r := runNix(t, "nix-store", "--store", store, "--verify", "--check-contents"); r.err != nil || strings.Contains(r.log, "error") {
		t.Fatalf("%s: %v", ref, r)
	}
	list, err := os.ReadDir(filepath.Join(root, "nix", "store"))
	if err != nil {
		t.Fatal(err)
	}
	var inStore []string
	for _, e := range list {
		if e.Name() != ".links" {
			inStore = append(inStore, "/nix/store/"+e.Name())
		}
	}
	out := runNixOK(t, "nix", "--extra-experimental-features", "nix-command", "path-info", "--store", store, "--json", "--all")
	infos := map[string]struct {
		NarHash    string   `json:"narHash"`
		NarSize    uint64   `json:"narSize"`
		References []string `json:"references"`
	}{}
	// Nix 2.19 and later print an object by path, earlier ones a list.
	if strings.HasPrefix(out, "[") {
		var list []struct {
			Path       string   `json:"path"`
			NarHash    string   `json:"narHash"`
			NarSize    uint64   `json:"narSize"`
			References []string `json:"references"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		for _, i := range list {
			infos[i.Path] = struct {
				NarHash    string   `json:"narHash"`
				NarSize    uint64   `json:"narSize"`
				References []string `json:"references"`
			}{i.NarHash, i.NarSize, i.References}
		}
	} else if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatal(err)
	}
	var valid []string
	for p := range infos {
		valid = append(valid, p)
	}
	sort.Strings(valid)
	if strings.Join(valid, "\n") != strings.Join(inStore, "\n") {
		t.Fatalf("%s: the database's valid paths\n%s\nare not the image's store paths\n%s", ref, strings.Join(valid, "\n"), strings.Join(inStore, "\n"))
	}
	t.Logf("%s: the lane's Nix verified the %d store paths of the image and its database", ref, len(valid))
	for p, info := range infos {
		hash := runNixOK(t, "nix-store", "-q", "--hash", p)
		size := runNixOK(t, "nix-store", "-q", "--size", p)
		refs := runNixOK(t, "nix-store", "-q", "--references", p)
		got := runNixOK(t, "nix-store", "--store", store, "-q", "--hash", p)
		if got != hash || fmt.Sprint(info.NarSize) != size || sortedLines(strings.Join(info.References, "\n")) != sortedLines(refs) {
			t.Errorf("%s: %s has hash %s, size %d, references %v; the lane's store: %s, %s, %s", ref, p, got, info.NarSize, info.References, hash, size, refs)
		}
	}
}

// ownerOf is "UID:GID MODE" of the file p.
func ownerOf(t *testing.T, p string) string {
	t.Helper()
	out, err := exec.Command("stat", "-c", "%u:%g %04a", p).Output()
	if err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	return strings.TrimSpace(string(out))
}

func sortedLines(s string) string {
	lines := strings.Fields(s)
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
