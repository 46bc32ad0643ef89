package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// verifyExpr builds, with busybox, a store path holding what a verified
// copy hashes in different ways: small files (read ahead into buffers), a
// file bigger than any buffer (hashed chunk by chunk when its turn comes),
// a sparse file, an executable, symlinks and an empty directory.
const verifyExpr = `
  tree = derivation {
    name = "verify-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" ''
      set -e
      bb=${busybox}/bin/busybox
      $bb mkdir -p $out/bin $out/share/empty
      echo small > $out/share/small
      $bb seq 1 1000000 > $out/share/big
      $bb truncate -s 64M $out/share/sparse
      echo middle | $bb dd of=$out/share/sparse bs=1M seek=32 conv=notrunc 2>/dev/null
      printf '#!${busybox}/bin/sh\necho ran\n' > $out/bin/run
      $bb chmod 555 $out/bin/run
      $bb ln -s ${busybox}/bin/busybox $out/bin/bb
      $bb ln -s ../share/small $out/bin/rel
    '' ];
  };
`

// graphEntry is a closure graph entry as Nix writes it into .attrs.json.
type graphEntry struct {
	Path       string   `json:"path"`
	NarHash    string   `json:"narHash"`
	NarSize    uint64   `json:"narSize"`
	References []string `json:"references"`
}

// restoredGraph copies each store path of closure into storeDir with
// nix-store --dump | nix-store --restore and returns the closure graph of
// the copies with the narHash and narSize Nix registered for the
// originals (nix-store --query --hash, --size: "sha256:<nix-base32>", as
// .attrs.json has them).
func restoredGraph(t *testing.T, closure []string, storeDir string) []graphEntry {
	t.Helper()
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	move := func(p string) string { return storeDir + strings.TrimPrefix(p, "/nix/store") }
	var graph []graphEntry
	for _, p := range closure {
		dump := exec.Command("nix-store", "--dump", p)
		restore := exec.Command("nix-store", "--restore", move(p))
		pipe, err := dump.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		restore.Stdin = pipe
		var stderr bytes.Buffer
		restore.Stderr = &stderr
		if err := dump.Start(); err != nil {
			t.Fatal(err)
		}
		if err := restore.Run(); err != nil {
			t.Fatalf("nix-store --restore %s: %v\n%s", move(p), err, stderr.String())
		}
		if err := dump.Wait(); err != nil {
			t.Fatalf("nix-store --dump %s: %v", p, err)
		}
		hash := runNix(t, "nix-store", "--query", "--hash", p)
		size := runNix(t, "nix-store", "--query", "--size", p)
		refs := runNix(t, "nix-store", "--query", "--references", p)
		for _, r := range []nixResult{hash, size, refs} {
			if r.err != nil {
				t.Fatal(r)
			}
		}
		n, err := strconv.ParseUint(size.out, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		e := graphEntry{Path: move(p), NarHash: hash.out, NarSize: n, References: []string{}}
		for _, ref := range strings.Fields(refs.out) {
			e.References = append(e.References, move(ref))
		}
		graph = append(graph, e)
	}
	return graph
}

// runBuilder runs `oci-builder nix-builder` as a process on an .attrs.json
// naming graph, storeDir and container, with NIX_BUILD_CORES=2, and returns
// its exit status and stderr.
func runBuilder(t *testing.T, graph []graphEntry, storeDir string, container map[string]any, out string) (int, string) {
	t.Helper()
	top := t.TempDir()
	var roots []string
	for _, e := range graph {
		roots = append(roots, e.Path)
	}
	attrs := map[string]any{
		"builder":               filepath.Join(h.builder, "bin/oci-builder"),
		"args":                  []string{"nix-builder"},
		"exportReferencesGraph": map[string]any{"closure": roots},
		"closure":               graph,
		"container":             container,
		"storeDir":              storeDir,
		"outputs":               map[string]string{"out": out},
	}
	data, err := json.Marshal(attrs)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(top, ".attrs.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(h.builder, "bin/oci-builder"), "nix-builder")
	cmd.Env = []string{"NIX_ATTRS_JSON_FILE=" + file, "NIX_BUILD_TOP=" + top, "NIX_BUILD_CORES=2", "PATH=/path-not-set"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return code, stderr.String()
}

// flipByte changes the byte at off of the file at p, as a corrupted disk
// or a careless root would.
func flipByte(t *testing.T, p string, off int64) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chmod(p, st.Mode()); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyAgainstStore runs the builder, as a process, on .attrs.json
// naming copies of real store paths (restored from nix-store --dump) with
// the narHash and narSize Nix registered for them. Untouched, every mode
// builds and reports the paths verified; with one byte of the tree changed
// (in a small file, read ahead, or in the big one, hashed when its turn
// comes) every mode fails with the one line naming the path, the hash Nix
// registered and the hash nix-hash gives of the changed copy, exit status
// 1 and no config.json. reflink runs on an XFS filesystem holding the
// copies, where it really clones and hashes the source. bind verifies only
// when asked.
func TestVerifyAgainstStore(t *testing.T) {
	// Parallel: its own builds and directories (CI time).
	t.Parallel()
	need(t)
	xfs := mountXFS(t)
	roots := nixEval(t, "let\n"+verifyExpr+"in [ busybox tree ]")
	closure := closureOf(t, roots...)
	if len(closure) != 2 {
		t.Fatalf("closure %v: want busybox and the tree", closure)
	}
	on := true
	tests := []struct {
		name   string
		mode   string
		verify *bool
		tamper string // file of the tree to change, or ""
		offset int64
		onXFS  bool
		want   string // in the summary of a build that succeeds
	}{
		{"copy", "copy", nil, "", 0, false, "oci-builder: done: mode copy, 2 paths, 5 files, "},
		{"copy, small file changed", "copy", nil, "share/small", 2, false, ""},
		{"copy, big file changed", "copy", nil, "share/big", 4 << 20, false, ""},
		{"copy, sparse file changed", "copy", nil, "share/sparse", 32<<20 + 1, false, ""},
		{"hardlink", "hardlink", nil, "", 0, false, "; 5 linked, 0 copied; fallbacks: none"},
		{"hardlink, big file changed", "hardlink", nil, "share/big", 4 << 20, false, ""},
		{"reflink on XFS", "reflink", nil, "", 0, true, "; 5 cloned, 0 copied; fallbacks: none"},
		{"reflink on XFS, big file changed", "reflink", nil, "share/big", 4 << 20, true, ""},
		{"reflink on XFS, small file changed", "reflink", nil, "share/small", 2, true, ""},
		{"bind, verify", "bind", &on, "", 0, false, "oci-builder: done: mode bind, 2 paths bind-mounted read-only, 0 files copied"},
		{"bind, verify, small file changed", "bind", &on, "share/small", 2, false, ""},
		{"bind, not verified by default", "bind", nil, "share/small", 2, false, "; not verified\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			if tc.onXFS {
				var err error
				if base, err = os.MkdirTemp(xfs, "case-"); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { exec.Command("rm", "-rf", base).Run() })
			}
			storeDir := filepath.Join(base, "store")
			graph := restoredGraph(t, closure, storeDir)
			tree := graph[0].Path
			if !strings.HasSuffix(tree, "-verify-"+h.nonce) {
				tree = graph[1].Path
			}
			expected := ""
			for _, e := range graph {
				if e.Path == tree {
					expected = e.NarHash
				}
			}
			if tc.tamper != "" {
				flipByte(t, filepath.Join(tree, tc.tamper), tc.offset)
			}
			actual := runNix(t, "nix-hash", "--type", "sha256", "--base32", tree)
			if actual.err != nil {
				t.Fatal(actual)
			}
			busybox := graph[0].Path
			if busybox == tree {
				busybox = graph[1].Path
			}
			container := map[string]any{"args": []string{busybox + "/bin/sh", tree + "/bin/run"}, "storeMode": tc.mode}
			if tc.verify != nil {
				container["verify"] = *tc.verify
			}
			out := filepath.Join(base, "bundle")
			code, stderr := runBuilder(t, graph, storeDir, container, out)
			t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", base).Run() })

			if tc.want != "" {
				if code != 0 || !strings.Contains(stderr, tc.want) {
					t.Fatalf("exit %d, want 0 and %q in:\n%s", code, tc.want, stderr)
				}
				if tc.verify != nil || tc.mode != "bind" {
					if !strings.Contains(stderr, "; verified 2 of 2 store paths against their NAR hashes\n") {
						t.Fatalf("summary does not say the paths were verified:\n%s", stderr)
					}
				}
				if _, err := os.Stat(filepath.Join(out, "config.json")); err != nil {
					t.Fatal(err)
				}
				return
			}
			if "sha256:"+actual.out == expected {
				t.Fatalf("changing %s left the NAR hash %s", tc.tamper, expected)
			}
			want := fmt.Sprintf("oci-builder: error: store path %s: NAR hash mismatch: expected %s, got sha256:%s", tree, expected, actual.out)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if code != 1 || lines[len(lines)-1] != want || strings.Count(stderr, "error") != 1 {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and the last line\n%s", code, stderr, want)
			}
			if _, err := os.Lstat(filepath.Join(out, "config.json")); !os.IsNotExist(err) {
				t.Fatalf("config.json written after the mismatch: %v", err)
			}
		})
	}
}

// TestReproducibleAcrossWorkers builds each store mode's container twice,
// with one copy worker (nix-build --option cores 1) and with two (cores 2,
// a derivation that differs only in an attribute the builder ignores, so
// that it is built again), and compares the NAR hashes Nix registered for
// the two outputs; then nix-build --check rebuilds the first with two
// workers. Verification is on in every mode (bind asks for it).
func TestReproducibleAcrossWorkers(t *testing.T) {
	need(t)
	for _, mode := range []string{"copy", "reflink", "hardlink", "bind"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			build := func(variant string, cores int, extra ...string) nixResult {
				file := writeExpr(t, fmt.Sprintf(`
let
%s
  c = ociTools.buildContainer {
    name = "repro-%s-${nonce}";
    storeMode = %q;
    verify = true;
    args = [ "${busybox}/bin/sh" "${tree}/bin/run" ];
  };
in
derivation (c.drvAttrs // { variant = %q; })`, verifyExpr, mode, mode, variant))
				return nixBuildFile(t, file, true, append([]string{"--option", "cores", strconv.Itoa(cores)}, extra...)...)
			}
			var hashes []string
			for i, cores := range []int{1, 2} {
				r := build(fmt.Sprint(i), cores)
				if r.err != nil {
					t.Fatal(r)
				}
				if !strings.Contains(r.log, fmt.Sprintf("with %d workers", cores)) ||
					!strings.Contains(r.log, "; verified 2 of 2 store paths against their NAR hashes") {
					t.Fatalf("cores %d: the log does not show %d workers verifying every path:\n%s", cores, cores, r.log)
				}
				q := runNix(t, "nix-store", "--query", "--hash", r.out)
				if q.err != nil {
					t.Fatal(q)
				}
				hashes = append(hashes, q.out)
			}
			if hashes[0] != hashes[1] {
				t.Fatalf("NAR hash with 1 worker %s, with 2 workers %s", hashes[0], hashes[1])
			}
			if c := build("0", 2, "--check"); c.err != nil {
				t.Fatal(c)
			}
		})
	}
}
