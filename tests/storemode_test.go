package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/rootfs"
	"github.com/oci-builder/oci-builder/pkg/store"
)

// modeProgExpr adds to progExpr a script that is a store path of its own (a
// file, not a directory), so that bind mode mounts a file too.
const modeProgExpr = progExpr + `
  script = derivation {
    name = "modes-${nonce}.sh";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "printf '%s' \"$text\" > $out" ];
    text = ''
      bb=${busybox}/bin/busybox
      ${prog.bin}/bin/prog "$@"
      $bb ls /nix/store
      $bb touch ${prog}/new 2>&1 | $bb sed 's/.*: //'
      $bb mkdir /nix/store/new 2>&1 | $bb sed 's/.*: //'
    '';
  };
`

// TestStoreModes builds a container in every store mode with real
// nix-build, sandboxed and not, checks that a rebuild gives the same bytes
// and runs it with runc: the program prints its output, the container's
// /nix/store holds exactly the closure, and the closure cannot be written.
func TestStoreModes(t *testing.T) {
	need(t)
	for _, mode := range []string{"copy", "reflink", "hardlink", "bind"} {
		for _, sandbox := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/sandbox=%v", mode, sandbox), func(t *testing.T) {
				t.Parallel()
				file := writeExpr(t, fmt.Sprintf(`
let
%s
in
ociTools.buildContainer {
  name = "mode-%s-%v-${nonce}";
  storeMode = %q;
  args = [ "${busybox}/bin/sh" script "one" ];
}`, modeProgExpr, mode, sandbox, mode))
				r := nixBuildFile(t, file, sandbox)
				if r.err != nil {
					t.Fatal(r)
				}
				bundleDir := r.out
				if c := nixBuildFile(t, file, sandbox, "--check"); c.err != nil {
					t.Fatal(c)
				}
				validate(t, bundleDir)
				checkModeLog(t, mode, r.log)

				closure := closureOf(t, nixEval(t, fmt.Sprintf(`let
%s
in [ busybox prog.bin script ]`, modeProgExpr))...)
				var names []string
				for _, p := range closure {
					names = append(names, path.Base(p))
				}
				sort.Strings(names)
				if mode == "bind" {
					checkBindBundle(t, bundleDir, closure)
				}
				// The root filesystem is read-only in every mode; in bind
				// mode the store directory is a tmpfs of mode 0555.
				inStore := "Read-only file system"
				if mode == "bind" {
					inStore = "Permission denied"
				}
				want := "message from the out output\nargs: one\n" + strings.Join(names, "\n") + "\nRead-only file system\n" + inStore + "\n"
				res := runc(t, bundleDir)
				if res.code != 0 || res.stdout != want {
					t.Fatalf("exit %d, stdout\n%s\nwant\n%s\nstderr %q", res.code, res.stdout, want, res.stderr)
				}
			})
		}
	}
}

// checkModeLog checks the builder's log lines for mode: its summary, which
// says that the closure was verified against the narHash Nix gave (but in
// bind mode, where verification is off by default), and for hardlink the
// one line saying that Nix would reject the links.
func checkModeLog(t *testing.T, mode, log string) {
	t.Helper()
	verified := "; verified 4 of 4 store paths against their NAR hashes\n"
	if mode == "bind" {
		verified = "; not verified\n"
	}
	if !strings.Contains(log, verified) {
		t.Fatalf("the summary lacks %q:\n%s", verified, log)
	}
	refused := strings.Count(log, "oci-builder: storeMode hardlink: the store belongs to uid ")
	var summary string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "oci-builder: done: ") {
			summary = l
		}
	}
	switch mode {
	case "hardlink":
		// The build runs as a build user (nixbld, or uid 1000 in the
		// sandbox) while the store belongs to root: Nix would reject links.
		if refused != 1 || !strings.Contains(log, "Nix would reject hard links to it (invalid ownership); copying the closure instead") {
			t.Fatalf("want the refusal once, got %d times:\n%s", refused, log)
		}
		if !strings.HasPrefix(summary, "oci-builder: done: mode copy (hardlink refused by Nix), 4 paths, ") {
			t.Fatalf("summary %q", summary)
		}
	case "bind":
		if refused != 0 || !strings.HasPrefix(summary, "oci-builder: done: mode bind, 4 paths bind-mounted read-only, 0 files copied") {
			t.Fatalf("summary %q\n%s", summary, log)
		}
	case "reflink":
		// The store's ext4 cannot clone, and the sandbox's bind mounts are
		// other mounts: every file falls back to a copy, and says why.
		if !strings.HasPrefix(summary, "oci-builder: done: mode reflink, 4 paths, ") || !strings.Contains(summary, "; 0 cloned, ") ||
			!(strings.Contains(summary, " EOPNOTSUPP") || strings.Contains(summary, " EXDEV")) {
			t.Fatalf("summary %q", summary)
		}
	default:
		if !strings.HasPrefix(summary, "oci-builder: done: mode copy, 4 paths, ") {
			t.Fatalf("summary %q", summary)
		}
	}
}

// TestBindStoreSealed checks that a bind-mode container cannot add to its
// /nix/store even with CAP_DAC_OVERRIDE, which passes the tmpfs's 0555
// mode: the tmpfs has no inode left once the runtime has made the
// mountpoints. The closure paths stay read-only and unmovable.
func TestBindStoreSealed(t *testing.T) {
	need(t)
	t.Parallel()
	bundle := shellContainer(t, "sealed", `storeMode = "bind"; capabilities = [ "CAP_DAC_OVERRIDE" "CAP_FOWNER" ];`, `
bb=busybox
$bb mkdir /nix/store/new 2>&1 | $bb sed 's/.*: //'
$bb touch /nix/store/new-file 2>&1 | $bb sed 's/.*: //'
bbdir=$($bb dirname $($bb dirname $0))
$bb touch $bbdir/new 2>&1 | $bb sed 's/.*: //'
$bb mv $bbdir /nix/store/moved 2>&1 | $bb sed 's/.*: //'
$bb ls /nix/store | $bb wc -l`, true)
	want := "No space left on device\nNo space left on device\nRead-only file system\nDevice or resource busy\n1\n"
	if got := run(t, bundle); got != want {
		t.Fatalf("stdout\n%s\nwant\n%s", got, want)
	}
}

// checkBindBundle checks a bind-mode bundle: its rootfs store directory is
// empty (the runtime makes the mountpoints in a tmpfs), and config.json
// mounts that tmpfs, with an inode for each mountpoint and its root, then
// each closure path read-only, in order, as its last mounts.
func checkBindBundle(t *testing.T, bundleDir string, closure []string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(bundleDir, "rootfs/nix/store"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("rootfs store directory holds %d entries, want none", len(entries))
	}
	data, err := os.ReadFile(filepath.Join(bundleDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		Mounts []struct {
			Destination, Type, Source string
			Options                   []string
		}
	}
	if err := json.Unmarshal(data, &config); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("/nix/store tmpfs tmpfs nosuid,nodev,noexec,mode=0555,nr_inodes=%d", len(closure)+1)}
	for _, p := range closure {
		want = append(want, p+" none "+p+" rbind,ro,nosuid,nodev")
	}
	var got []string
	if n := len(config.Mounts); n >= len(want) {
		for _, m := range config.Mounts[n-len(want):] {
			got = append(got, m.Destination+" "+m.Type+" "+m.Source+" "+strings.Join(m.Options, ","))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("config.json's last mounts\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// nixEval evaluates a list of store paths and derivations (after the
// prelude), builds the derivations and returns the paths.
func nixEval(t *testing.T, expr string) []string {
	t.Helper()
	file := writeExpr(t, "map (x: { s = \"${x}\"; d = x.drvPath or \"\"; }) ("+expr+")")
	r := runNix(t, "nix-instantiate", "--eval", "--strict", "--json", "--read-write-mode", "--option", "substituters", "", file)
	if r.err != nil {
		t.Fatal(r)
	}
	var items []struct{ S, D string }
	if err := json.Unmarshal([]byte(r.out), &items); err != nil {
		t.Fatalf("nix-instantiate printed %q: %v", r.out, err)
	}
	var paths []string
	for _, it := range items {
		if it.D != "" {
			if b := runNix(t, "nix-store", "--realise", "--option", "substituters", "", it.D); b.err != nil {
				t.Fatal(b)
			}
		}
		if _, err := os.Lstat(it.S); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, it.S)
	}
	return paths
}

// closureOf returns the closure of paths in the local store, sorted.
func closureOf(t *testing.T, paths ...string) []string {
	t.Helper()
	r := runNix(t, "nix-store", append([]string{"--query", "--requisites"}, paths...)...)
	if r.err != nil {
		t.Fatal(r)
	}
	out := strings.Split(r.out, "\n")
	sort.Strings(out)
	return out
}

// graphOf builds the closure graph of the store paths closure (a whole
// closure) from the local store's references, with every path moved from
// /nix/store to storeDir.
func graphOf(t *testing.T, closure []string, storeDir string) *store.Graph {
	t.Helper()
	move := func(p string) string { return storeDir + strings.TrimPrefix(p, "/nix/store") }
	var infos []store.PathInfo
	for _, p := range closure {
		r := runNix(t, "nix-store", "--query", "--references", p)
		if r.err != nil {
			t.Fatal(r)
		}
		info := store.PathInfo{Path: move(p), References: []string{}}
		for _, ref := range strings.Fields(r.out) {
			info.References = append(info.References, move(ref))
		}
		infos = append(infos, info)
	}
	g, err := store.NewGraph(infos, storeDir)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// awkwardExpr is a closure full of awkward cases, built by real Nix: odd
// names, long names, nesting, every kind of symlink, hard links inside a
// path, empty and sparse files, executables, empty directories, a store
// path that is a file and one that is a symlink.
const awkwardExpr = `
  linkPath = derivation {
    name = "link-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "${busybox}/bin/busybox ln -s ${busybox}/bin/busybox $out" ];
  };
  note = builtins.toFile "note.txt" "a store path that is a file\n";
  awkward = derivation {
    name = "awkward-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" ''
      set -e
      bb=${busybox}/bin/busybox
      $bb mkdir -p $out/bin $out/share/doc $out/empty/dir $out/deep
      cd $out
      printf '#!${busybox}/bin/sh\necho tool ran\n' > bin/tool
      $bb chmod 555 bin/tool
      echo "read me" > share/doc/readme
      $bb ln share/doc/readme share/hardlink
      : > share/empty-file
      echo spaces > "share/name with spaces"
      echo newline > "share/$(printf 'new\nline')"
      echo backslash > 'share/back\slash'
      echo latin1 > "share/$(printf '\377\376x')"
      echo long > "share/$($bb printf '%0255d' 0)"
      $bb truncate -s 64M share/sparse
      echo "data in the middle" | $bb dd of=share/sparse bs=1M seek=32 conv=notrunc 2>/dev/null
      $bb head -c 3000000 /dev/zero | $bb tr '\0' 'x' > share/big
      $bb ln -s ${busybox}/bin/busybox bin/abs
      $bb ln -s tool bin/rel
      $bb ln -s ../nowhere bin/dangling
      $bb ln -s loop2 loop1
      $bb ln -s loop1 loop2
      $bb ln -s ${linkPath} to-link-path
      echo ${note} > share/note-path
      d=deep
      for i in $($bb seq 40); do
        d=$d/level-$i-abcdefghijklmnopqrstuvwxyz0123456789
      done
      $bb mkdir -p $d
      echo bottom > $d/leaf
    '' ];
  };
`

// treeManifest describes the tree at root: for each entry its relative
// path, type, permission bits, symlink target or contents' SHA-256. Hard
// links and timestamps are not part of it.
func treeManifest(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			// The store directory itself is the bundle's, not the closure's.
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		perm := info.Mode().Perm() | info.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("%q symlink -> %q", rel, target))
		case info.IsDir():
			out = append(out, fmt.Sprintf("%q dir %v", rel, perm))
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("%q file %v %d %s", rel, perm, info.Size(), hex.EncodeToString(h.Sum(nil))))
		default:
			out = append(out, fmt.Sprintf("%q other %v", rel, info.Mode()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTrees(t *testing.T, what string, want, got []string) {
	t.Helper()
	if strings.Join(want, "\n") == strings.Join(got, "\n") {
		return
	}
	w := map[string]bool{}
	for _, l := range want {
		w[l] = true
	}
	g := map[string]bool{}
	for _, l := range got {
		g[l] = true
	}
	var diff []string
	for _, l := range want {
		if !g[l] {
			diff = append(diff, "- "+l)
		}
	}
	for _, l := range got {
		if !w[l] {
			diff = append(diff, "+ "+l)
		}
	}
	t.Fatalf("%s differs from the tar pipeline's tree (%d vs %d entries):\n%s", what, len(got), len(want), strings.Join(diff, "\n"))
}

// tarPipeline assembles a rootfs as nixpkgs' buildContainer does, with GNU
// tar: xargs tar c < paths | tar -xC rootfs.
func tarPipeline(t *testing.T, paths []string, rootfsDir string) {
	t.Helper()
	list := filepath.Join(t.TempDir(), "store-paths")
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(rootfsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shell(t, fmt.Sprintf("set -o pipefail; xargs tar c < %s 2>/dev/null | tar -xC %s", shellQuote(list), shellQuote(rootfsDir)))
}

// goBundle writes a bundle of the closure with bundle.Write, outside Nix,
// as the standalone CLI will.
func goBundle(t *testing.T, g *store.Graph, args []string, mode bundle.StoreMode, out string) rootfs.Stats {
	t.Helper()
	plan, err := bundle.NewPlan(g, container.Options{Args: args, StoreMode: string(mode)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := bundle.Write(context.Background(), out, plan, bundle.WriteOptions{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

// TestStoreModeTreesMatchTar checks that copy, reflink and hardlink put the
// same tree in the rootfs as nixpkgs' tar pipeline, on a closure full of
// awkward cases built by real Nix: the bundle nix-build makes in copy mode,
// and bundles written by bundle.Write outside Nix, where hardlink really
// links (into the store's filesystem) and reflink really clones (on an XFS
// filesystem holding a copy of the store). Each bundle runs under runc.
func TestStoreModeTreesMatchTar(t *testing.T) {
	need(t)
	xfs := mountXFS(t)
	roots := nixEval(t, "let\n"+awkwardExpr+"in [ busybox awkward ]")
	closure := closureOf(t, roots...)
	if len(closure) != 4 {
		t.Fatalf("closure %v: want busybox, awkward, the link path and the note", closure)
	}
	program := func(storeDir string) []string {
		move := func(p string) string { return storeDir + strings.TrimPrefix(p, "/nix/store") }
		tool := move(roots[1]) + "/bin/tool; "
		if storeDir != "/nix/store" {
			// Its #! line names /nix/store.
			tool = ""
		}
		return []string{move(roots[0]) + "/bin/sh", "-c", fmt.Sprintf("%scat %s/share/doc/readme %s/share/note-path",
			tool, move(roots[1]), move(roots[1]))}
	}
	note := ""
	for _, p := range closure {
		if strings.HasSuffix(p, "-note.txt") {
			note = p
		}
	}
	wantOutput := "tool ran\nread me\n" + note + "\n"

	work := t.TempDir()
	tarRoot := filepath.Join(work, "tar")
	tarPipeline(t, closure, tarRoot)
	want := treeManifest(t, filepath.Join(tarRoot, "nix/store"))
	if len(want) < 60 {
		t.Fatalf("tar tree has only %d entries", len(want))
	}

	t.Run("copy/nix-build", func(t *testing.T) {
		bundleDir := mustBuild(t, "let\n"+awkwardExpr+"in ociTools.buildContainer { name = \"awkward-copy-${nonce}\"; args = [ \"${busybox}/bin/sh\" \"-c\" \"${awkward}/bin/tool; cat ${awkward}/share/doc/readme ${awkward}/share/note-path\" ]; }", true)
		sameTrees(t, "nix-build copy bundle", want, treeManifest(t, filepath.Join(bundleDir, "rootfs/nix/store")))
		if r := runc(t, bundleDir); r.code != 0 || r.stdout != wantOutput {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	g := graphOf(t, closure, "/nix/store")
	for _, mode := range []bundle.StoreMode{bundle.StoreCopy, bundle.StoreHardlink} {
		t.Run(string(mode)+"/bundle.Write", func(t *testing.T) {
			// On the store's own filesystem, as the CLI writes next to it.
			out := filepath.Join(work, string(mode))
			stats := goBundle(t, g, program("/nix/store"), mode, out)
			sameTrees(t, string(mode)+" bundle", want, treeManifest(t, filepath.Join(out, "rootfs/nix/store")))
			if mode == bundle.StoreHardlink {
				if stats.Linked == 0 || stats.Copied != 0 || len(stats.Fallbacks) != 0 {
					t.Fatalf("hardlink stats %+v: want every file linked", stats)
				}
				checkSameInode(t, filepath.Join(roots[1], "share/doc/readme"), filepath.Join(out, "rootfs", roots[1], "share/doc/readme"), true)
			} else {
				checkSameInode(t, filepath.Join(roots[1], "share/doc/readme"), filepath.Join(out, "rootfs", roots[1], "share/doc/readme"), false)
			}
			if r := runc(t, out); r.code != 0 || r.stdout != wantOutput {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		})
	}

	t.Run("reflink/bundle.Write on XFS", func(t *testing.T) {
		// A store on XFS: the closure copied there as it is.
		xstore := filepath.Join(xfs, "store")
		if err := os.Mkdir(xstore, 0o755); err != nil {
			t.Fatal(err)
		}
		args := []string{"cp", "-a", "--reflink=never"}
		shell(t, strings.Join(append(args, append(closure, xstore)...), " "))
		xg := graphOf(t, closure, xstore)
		out := filepath.Join(xfs, "bundle")
		stats := goBundle(t, xg, program(xstore), bundle.StoreReflink, out)
		if stats.Cloned != stats.Files || stats.Copied != 0 || len(stats.Fallbacks) != 0 {
			t.Fatalf("reflink stats %+v: want every file cloned", stats)
		}
		sameTrees(t, "reflink bundle", want, treeManifest(t, filepath.Join(out, "rootfs", xstore)))
		// The clone shares its extents with the source.
		big := filepath.Join(out, "rootfs", xstore, path.Base(roots[1]), "share/big")
		if frag := shell(t, "filefrag -v "+shellQuote(big)); !strings.Contains(frag, "shared") {
			t.Fatalf("%s does not share extents:\n%s", big, frag)
		}
		wantX := strings.TrimPrefix(wantOutput, "tool ran\n")
		if r := runc(t, out); r.code != 0 || r.stdout != wantX {
			t.Fatalf("exit %d, stdout %q, want %q, stderr %q", r.code, r.stdout, wantX, r.stderr)
		}
	})

	t.Run("bind refuses a symlink store path", func(t *testing.T) {
		r := nixBuild(t, "let\n"+awkwardExpr+"in ociTools.buildContainer { name = \"awkward-bind-${nonce}\"; storeMode = \"bind\"; args = [ \"${busybox}/bin/sh\" \"${awkward}/bin/tool\" ]; }", true)
		if r.err == nil {
			t.Fatalf("build succeeded: %s", r.out)
		}
		line := errorLine(r.log)
		if !strings.Contains(line, "-link-"+h.nonce+" is a symlink, which a bind mount would follow out of the store: use storeMode \"copy\"") {
			t.Fatalf("error line %q\n%s", line, r.log)
		}
	})
}

func checkSameInode(t *testing.T, a, b string, same bool) {
	t.Helper()
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(a, &sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(b, &sb); err != nil {
		t.Fatal(err)
	}
	if (sa.Dev == sb.Dev && sa.Ino == sb.Ino) != same {
		t.Fatalf("%s and %s: same inode is %v, want %v", a, b, !same, same)
	}
}

var _ = exec.Command
