package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/pkg/nar"
)

// runMainEnv makes the test binary behave as oci-builder itself, so that
// tests can run the real command in a process of its own (as another user).
const runMainEnv = "OCI_BUILDER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// needRoot skips a test that needs root (mounts, users, device nodes),
// except under CI, which runs as root and must not skip.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but the tests do not run as root")
		}
		t.Skip("needs root")
	}
}

// checkIncomplete checks that a failed build left nothing that looks like a
// bundle: config.json, written last, must be absent.
func checkIncomplete(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(out, "config.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("failed build left %s/config.json (%v)", out, err)
	}
}

func makeWritable(root string) {
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

// TestHostileGraphsAndTrees runs the builder on graphs and store trees that
// must fail: each ends in exit status 1, one error line naming the culprit,
// and no config.json.
func TestHostileGraphsAndTrees(t *testing.T) {
	hash := func(c byte) string { return strings.Repeat(string(c), 32) }
	tests := []struct {
		name string
		// setup makes the store path(s) under the store dir and returns the
		// graph, the args and the expected error line.
		setup func(t *testing.T, dir string) (graph []map[string]any, args []string, want string)
		root  bool
	}{
		{"path not on disk", func(t *testing.T, dir string) ([]map[string]any, []string, string) {
			p := dir + "/" + hash('a') + "-gone"
			return []map[string]any{{"path": p, "references": []string{}}}, []string{p + "/bin/x"},
				"copy " + p + ": no such file or directory"
		}, false},
		{"entry outside the store directory", func(t *testing.T, dir string) ([]map[string]any, []string, string) {
			p := "/etc/" + hash('a') + "-passwd"
			return []map[string]any{{"path": p, "references": []string{}}}, []string{"/bin/sh"},
				`store path "` + p + `" is not in the store directory ` + dir
		}, false},
		{"entry with ..", func(t *testing.T, dir string) ([]map[string]any, []string, string) {
			p := dir + "/../" + hash('a') + "-up"
			return []map[string]any{{"path": p, "references": []string{}}}, []string{"/bin/sh"},
				`store path "` + p + `" is not in the store directory ` + dir
		}, false},
		{"reference with ..", func(t *testing.T, dir string) ([]map[string]any, []string, string) {
			p := dir + "/" + hash('a') + "-prog"
			mkdirs(t, p)
			ref := p + "/../../etc"
			return []map[string]any{{"path": p, "references": []string{ref}}}, []string{p},
				`reference: store path "` + ref + `" is not in the store directory ` + dir
		}, false},
		{"FIFO in a store path", func(t *testing.T, dir string) ([]map[string]any, []string, string) {
			p := dir + "/" + hash('a') + "-fifo"
			mkdirs(t, p+"/sub")
			if err := unix.Mkfifo(p+"/sub/pipe", 0o644); err != nil {
				t.Fatal(err)
			}
			return []map[string]any{{"path": p, "references": []string{}}}, []string{p},
				"copy " + p + "/sub/pipe: is a FIFO; a store path holds only regular files, directories and symlinks"
		}, false},
		{"store path is a FIFO", func(t *testing.T, dir string) ([]map[string]any, []string, string) {
			p := dir + "/" + hash('a') + "-fifo"
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return []map[string]any{{"path": p, "references": []string{}}}, []string{p},
				"copy " + p + ": is a FIFO"
		}, false},
		{"socket in a store path", func(t *testing.T, dir string) ([]map[string]any, []string, string) {
			p := dir + "/" + hash('a') + "-socket"
			mkdirs(t, p)
			// A socket inode, as bind(2) makes (whose path length limit
			// the test directory exceeds).
			if err := unix.Mknod(p+"/sock", unix.S_IFSOCK|0o644, 0); err != nil {
				t.Fatal(err)
			}
			return []map[string]any{{"path": p, "references": []string{}}}, []string{p},
				"copy " + p + "/sock: is a socket; a store path holds only regular files, directories and symlinks"
		}, false},
		{"device in a store path", func(t *testing.T, dir string) ([]map[string]any, []string, string) {
			p := dir + "/" + hash('a') + "-dev"
			mkdirs(t, p)
			if err := unix.Mknod(p+"/null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mknod(p+"/zblock", unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))); err != nil {
				t.Fatal(err)
			}
			return []map[string]any{{"path": p, "references": []string{}}}, []string{p},
				"copy " + p + "/null: is a character device; a store path holds only regular files, directories and symlinks"
		}, true},
		{"device after good paths", func(t *testing.T, dir string) ([]map[string]any, []string, string) {
			good := dir + "/" + hash('a') + "-good"
			bad := dir + "/" + hash('b') + "-bad"
			mkdirs(t, good+"/d")
			os.WriteFile(good+"/d/f", []byte("fine"), 0o444)
			mkdirs(t, bad)
			if err := unix.Mknod(bad+"/blk", unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))); err != nil {
				t.Fatal(err)
			}
			return []map[string]any{{"path": good, "references": []string{bad}}, {"path": bad, "references": []string{}}}, []string{good},
				"copy " + bad + "/blk: is a block device"
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				needRoot(t)
			}
			dir := filepath.Join(t.TempDir(), "store")
			mkdirs(t, dir)
			graph, args, want := tc.setup(t, dir)
			top, out := builderCase{storeDir: dir, graph: graph, container: map[string]any{"args": args}}.write(t)
			t.Cleanup(func() { makeWritable(out) })
			code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-builder")
			checkOneErrorLine(t, code, stderr, want)
			checkIncomplete(t, out)
		})
	}
}

func mkdirs(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestFullFilesystem writes the bundle to a small tmpfs that the closure
// does not fit in.
func TestFullFilesystem(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "store")
	p := dir + "/" + strings.Repeat("a", 32) + "-big"
	mkdirs(t, p)
	if err := os.WriteFile(p+"/small", []byte("fits"), 0o444); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("not sparse "), 400<<10) // 4.4 MB
	if err := os.WriteFile(p+"/z-big", big, 0o444); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	mountTmpfs(t, mnt, "size=1m,mode=0755")
	out := filepath.Join(mnt, "out")
	top, _ := builderCase{
		storeDir:  dir,
		graph:     []map[string]any{{"path": p, "references": []string{}}},
		container: map[string]any{"args": []string{p + "/small"}},
		outputs:   map[string]string{"out": out},
	}.write(t)
	code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-builder")
	// The workers copy both files at once: either may be the one that
	// finds the disk full.
	checkOneErrorLine(t, code, stderr, "copy "+p+"/")
	if !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("error does not say the disk is full:\n%s", stderr)
	}
	checkIncomplete(t, out)
}

// TestUnreadable runs the builder, as its own process, as an unprivileged
// user created for the test (root reads everything), on store paths holding
// a file and a directory that user cannot read.
func TestUnreadable(t *testing.T) {
	needRoot(t)
	base, err := os.MkdirTemp("", "oci-builder-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { makeWritable(base); os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	uid, gid := testUser(t)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "oci-builder")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(base, "store")
	file := dir + "/" + strings.Repeat("a", 32) + "-secret-file"
	tree := dir + "/" + strings.Repeat("b", 32) + "-secret-dir"
	for _, p := range []string{file, tree + "/inner"} {
		mkdirs(t, p)
	}
	os.WriteFile(file+"/readable", []byte("ok"), 0o444)
	os.WriteFile(file+"/key", []byte("secret"), 0o400)
	os.WriteFile(tree+"/inner/f", []byte("x"), 0o444)
	os.Chmod(tree+"/inner", 0o700)

	tests := []struct {
		name, path, want string
	}{
		{"file", file, "copy " + file + "/key: permission denied"},
		{"directory", tree, "copy " + tree + "/inner: permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			top := filepath.Join(base, "top-"+tc.name)
			outDir := filepath.Join(base, "out-"+tc.name)
			mkdirs(t, top)
			mkdirs(t, outDir)
			if err := os.Chown(outDir, uid, gid); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(outDir, "out")
			attrs := fmt.Sprintf(`{"exportReferencesGraph":{"closure":[%q]},"closure":[{"path":%q,"references":[]}],"container":{"args":[%q]},"storeDir":%q,"outputs":{"out":%q}}`,
				tc.path, tc.path, tc.path, dir, out)
			if err := os.WriteFile(filepath.Join(top, ".attrs.json"), []byte(attrs), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "nix-builder")
			cmd.Dir = top
			cmd.Env = []string{runMainEnv + "=1", "NIX_BUILD_TOP=" + top, "NIX_BUILD_CORES=2"}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("run as uid %d: %v\n%s", uid, err, stderr.String())
			}
			checkOneErrorLine(t, ee.ExitCode(), stderr.String(), tc.want)
			checkIncomplete(t, out)
		})
	}
}

// testUser creates an unprivileged user for the test, removed at the end,
// and returns its ids.
func testUser(t *testing.T) (int, int) {
	t.Helper()
	name := fmt.Sprintf("ocib%d", os.Getpid())
	if out, err := exec.Command("useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// TestNixVersionLayouts runs the builder on .attrs.json as each Nix version
// writes it (pkg/nixbuild/testdata), with the environment that version
// gives: Nix 2.3 sets no NIX_ATTRS_JSON_FILE, Nix 2.4 to 2.14 set it to a
// host path missing in the sandbox, later versions and Lix set it right.
// The fixtures' store paths are recreated in a store directory of the
// test's, which the data is rewritten to name, and their narHash and
// narSize replaced by those of the recreated contents, in the form the
// fixture has, so that the builder verifies them.
func TestNixVersionLayouts(t *testing.T) {
	tests := []struct {
		fixture string
		env     func(top string) map[string]string
	}{
		{"attrs-nix2.3.json", func(top string) map[string]string { return map[string]string{"NIX_BUILD_TOP": top} }},
		{"attrs-nix2.8.json", func(top string) map[string]string {
			return map[string]string{"NIX_BUILD_TOP": top, "NIX_ATTRS_JSON_FILE": "/tmp/nix-build-fx-structured.drv-0/.attrs.json"}
		}},
		{"selfref-attrs-nix2.8.json", func(top string) map[string]string {
			return map[string]string{"NIX_BUILD_TOP": top, "NIX_ATTRS_JSON_FILE": "/tmp/nix-build-fx-selfref-structured.drv-0/.attrs.json"}
		}},
		{"attrs-nix2.15.json", func(top string) map[string]string {
			return map[string]string{"NIX_BUILD_TOP": top, "NIX_ATTRS_JSON_FILE": top + "/.attrs.json"}
		}},
		{"attrs-lix2.91.json", func(top string) map[string]string {
			return map[string]string{"NIX_BUILD_TOP": top, "NIX_ATTRS_JSON_FILE": top + "/.attrs.json"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("../../pkg/nixbuild/testdata", tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "store")
			data = bytes.ReplaceAll(data, []byte(`"/nix/store/`), []byte(`"`+dir+"/"))
			var attrs map[string]any
			if err := json.Unmarshal(data, &attrs); err != nil {
				t.Fatal(err)
			}
			var roots []string
			for _, e := range attrs["closure"].([]any) {
				entry := e.(map[string]any)
				p := entry["path"].(string)
				mkdirs(t, p)
				if err := os.WriteFile(p+"/contents", []byte(p), 0o444); err != nil {
					t.Fatal(err)
				}
				hash, size := narOf(t, p)
				if !strings.HasPrefix(entry["narHash"].(string), "sha256:") {
					t.Fatalf("fixture narHash %q", entry["narHash"])
				}
				entry["narHash"], entry["narSize"] = hash, size
			}
			for _, r := range attrs["exportReferencesGraph"].(map[string]any)["closure"].([]any) {
				roots = append(roots, r.(string))
			}
			out := filepath.Join(t.TempDir(), "out")
			attrs["outputs"] = map[string]string{"out": out}
			attrs["container"] = programFromHost(roots...)
			data, err = json.Marshal(attrs)
			if err != nil {
				t.Fatal(err)
			}
			top := t.TempDir()
			if err := os.WriteFile(filepath.Join(top, ".attrs.json"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { makeWritable(out) })
			code, _, stderr := runWith(t, tc.env(top), "nix-builder")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			// Every fixture's closure has three paths.
			const want = "oci-builder: done: mode copy, 3 paths, 3 files"
			if !strings.Contains(stderr, want) || !strings.Contains(stderr, "; verified 3 of 3 store paths against their NAR hashes\n") {
				t.Fatalf("want %q and the paths verified in:\n%s", want, stderr)
			}
			entries, err := os.ReadDir(filepath.Join(out, "rootfs", dir))
			if err != nil || len(entries) != 3 {
				t.Fatalf("rootfs store holds %v, %v", entries, err)
			}
			if _, err := os.Stat(filepath.Join(out, "config.json")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDeeperThanPathMax builds a bundle of a store path nested deeper than
// PATH_MAX, which Nix 2.8 itself cannot register ("getting status of ...:
// File name too long" while canonicalising the output), so the store path
// is made by the test: the copy must be exactly the source, by NAR hash.
func TestDeeperThanPathMax(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	p := dir + "/" + strings.Repeat("d", 32) + "-deep"
	mkdirs(t, p)
	component := strings.Repeat("n", 250)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	depth := 0
	for ; depth*(len(component)+1) <= 2*unix.PathMax; depth++ {
		if err := unix.Mkdirat(fd, component, 0o755); err != nil {
			t.Fatal(err)
		}
		fileFd, err := unix.Openat(fd, "level", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o444)
		if err != nil {
			t.Fatal(err)
		}
		unix.Write(fileFd, []byte(fmt.Sprint(depth)))
		unix.Close(fileFd)
		next, err := unix.Openat(fd, component, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	bottom, err := unix.Openat(fd, "bottom", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o555)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(bottom, []byte("#!/bin/sh\n"))
	unix.Close(bottom)
	if err := unix.Symlinkat("../"+component, fd, "up"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkdirat(fd, "empty", 0o555); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)

	sum, err := nar.HashPath(p)
	if err != nil {
		t.Fatal(err)
	}
	top, out := builderCase{
		storeDir:  dir,
		graph:     []map[string]any{{"path": p, "references": []string{}, "narHash": sum.String(), "narSize": sum.Size}},
		container: programFromHost(p + "/" + component + "/level"),
	}.write(t)
	t.Cleanup(func() { writableDeep(out) })
	code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-builder")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := fmt.Sprintf("oci-builder: done: mode copy, 1 paths, %d files, %d directories, 1 symlinks", depth+1, depth+2); !strings.Contains(stderr, want) {
		t.Fatalf("want %q in:\n%s", want, stderr)
	}
	if err := nar.Verify(filepath.Join(out, "rootfs", p), sum.String()); err != nil {
		t.Fatal(err)
	}
}

// writableDeep makes every directory under root writable, through
// directory descriptors, so that a tree deeper than PATH_MAX made of 0555
// directories can be removed.
func writableDeep(root string) {
	var walk func(fd int)
	walk = func(fd int) {
		unix.Fchmod(fd, 0o755)
		f := os.NewFile(uintptr(fd), "dir")
		defer f.Close()
		names, _ := f.Readdirnames(-1)
		for _, name := range names {
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
			if err == nil {
				walk(sub)
			}
		}
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return
	}
	walk(fd)
}

// programFromHost is container options whose program is the host's
// /bin/true, bind-mounted, with args naming the store paths to copy: the
// builder refuses a bundle whose program would not start.
func programFromHost(args ...string) map[string]any {
	// In a build sandbox /bin may hold nothing but sh (Nix 2.26's
	// sandbox-paths, NixOS's): there the mount's source is one the builder
	// cannot see, and so cannot check, as when the sandbox has no /bin.
	source := "/bin"
	if _, err := os.Stat("/bin/true"); err != nil {
		source = "/nonexistent/bin"
	}
	return map[string]any{
		"args":   append([]string{"/bin/true"}, args...),
		"mounts": []map[string]any{{"destination": "/bin", "source": source, "options": []string{"rbind", "ro"}}},
	}
}
