package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/nar"
)

// hostileExpr builds, with busybox, store paths that are hard to copy:
// awkward names, every mode Nix 2.8 leaves (files 0444 and 0555,
// directories 0555 and 0444), symlinks of every kind, hard links, empty
// files and directories and a sparse 2 GiB file; a store path that is a
// symlink to another store path and one that is an executable file. The
// container lists the tree the same way listTree does.
const hostileExpr = `
let
  bb = "${busybox}/bin/busybox";
  other = builtins.toFile "other-${nonce}" "from another store path\n";
  tree = derivation {
    name = "hostile-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" ''
      set -e
      ${bb} mkdir -p $out/dir/sub/deeper "$out/empty dir" $out/d444
      cd $out
      echo space > "with space"
      echo newline > "$(${bb} printf 'new\nline')"
      echo backslash > 'back\slash'
      echo latin1 > "$(${bb} printf 'caf\351 \377\376')"
      echo long > "$(${bb} printf '%0255d' 0)"
      echo dots > ..dots
      echo paren > ')'
      echo deep > dir/sub/deeper/file
      : > empty
      printf '#!${busybox}/bin/sh\necho hi\n' > exec
      ${bb} chmod 555 exec
      echo linked > linked-a
      ${bb} ln linked-a linked-b
      ${bb} ln -s /etc/hostname absolute
      ${bb} ln -s ../../dir dir/sub/deeper/up
      ${bb} ln -s ${other} store-link
      ${bb} ln -s nowhere dangling
      ${bb} ln -s loop-b loop-a
      ${bb} ln -s loop-a loop-b
      ${bb} ln -s self self
      ${bb} truncate -s 2G sparse
      ${bb} printf middle | ${bb} dd of=sparse bs=1 seek=1073741824 conv=notrunc 2>/dev/null
      echo end >> sparse
      # Nix makes these 0444 (no owner x bit) and 0555.
      ${bb} chmod 644 d444
      ${bb} chmod 700 dir/sub
    '' ];
  };
  link = derivation {
    name = "hostile-link-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "${bb} ln -s ${other} $out" ];
  };
  exe = derivation {
    name = "hostile-exe-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "printf '#!${busybox}/bin/sh\\necho exe ran\\n' > $out; ${bb} chmod 555 $out" ];
  };
  list = builtins.toFile "list.sh" ''
    bb=$1
    shift
    for f; do
      hex=$(printf %s "$f" | $bb xxd -p | $bb tr -d "\n")
      raw=$($bb stat -c %f "$f")
      size=$($bb stat -c %s "$f")
      x=-
      if [ -L "$f" ]; then
        x=$(printf %s "$($bb readlink "$f")" | $bb xxd -p | $bb tr -d "\n")
        size=0
      elif [ -d "$f" ]; then
        size=0
      elif [ "$size" -lt 1000000 ]; then
        x=$($bb sha256sum < "$f" | $bb cut -d" " -f1)
      else
        x=big
      fi
      echo "$hex $raw $size $x"
    done
  '';
  container = sandbox: ociTools.buildContainer {
    name = "hostile-${if sandbox then "sandbox" else "nosandbox"}-${nonce}";
    args = [ "${busybox}/bin/sh" "-c" ''
      cd ${tree}
      ${bb} find . -exec ${busybox}/bin/sh ${list} ${bb} {} +
      echo "store-link: $(${bb} cat store-link)"
      echo "link: $(${bb} cat ${link})"
      echo "exe: $(${exe})"
      echo "sparse middle: $(${bb} dd if=sparse bs=1 skip=1073741824 count=6)"
      echo "sparse end: $(${bb} tail -c 4 sparse)"
    '' ];
  };
in
{
  inherit tree link exe;
  sandbox = container true;
  nosandbox = container false;
}
`

// listTree lists the tree at root as the container's list.sh does: for
// each entry, its path relative to root (hex), its raw st_mode (hex), its
// size (0 for directories and symlinks) and its symlink target (hex) or the
// SHA-256 of its contents ("big" from 1 MB).
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel != "." {
			rel = "./" + rel
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		size, x := st.Size, "-"
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			size, x = 0, hex.EncodeToString([]byte(target))
		case syscall.S_IFDIR:
			size = 0
		case syscall.S_IFREG:
			x = "big"
			if size < 1000000 {
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
				x = hex.EncodeToString(h.Sum(nil))
			}
		}
		lines = append(lines, fmt.Sprintf("%s %x %d %s", hex.EncodeToString([]byte(rel)), st.Mode, size, x))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return lines
}

// narHashOf asks Nix for the narHash it registered for a store path
// (nix-store --query --hash: nix path-info --json changed its shape in Nix
// 2.19, from a list to an object by path).
func narHashOf(t *testing.T, storePath string) string {
	t.Helper()
	r := runNix(t, "nix-store", "--query", "--hash", storePath)
	if r.err != nil {
		t.Fatal(r)
	}
	if !strings.HasPrefix(r.out, "sha256:") || strings.Contains(r.out, "\n") {
		t.Fatalf("nix-store --query --hash %s printed %q", storePath, r.out)
	}
	return r.out
}

// TestHostileTree builds the hostile store paths with real Nix, puts them
// in a container (sandboxed build and not) and checks that the rootfs copy
// is exactly the source (same listing, modes included; same NAR hash as Nix
// registered), that the sparse file stays sparse, and that the container
// sees every entry as on the host.
func TestHostileTree(t *testing.T) {
	// Parallel: its own builds and directories (CI time).
	t.Parallel()
	need(t)
	file := writeExpr(t, hostileExpr)
	build := func(t *testing.T, attr string, sandbox bool) string {
		t.Helper()
		r := nixBuildFile(t, file, sandbox, "-A", attr)
		if r.err != nil {
			t.Fatal(r)
		}
		return r.out
	}
	tree := build(t, "tree", true)
	link := build(t, "link", false)
	exe := build(t, "exe", false)
	source := listTree(t, tree)
	if len(source) < 25 {
		t.Fatalf("tree has only %d entries:\n%s", len(source), strings.Join(source, "\n"))
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(tree, "sparse"), &st); err != nil || st.Blocks*512 > 1<<20 {
		t.Fatalf("source sparse file: %d blocks, %v", st.Blocks, err)
	}
	treeHash := narHashOf(t, tree)

	for _, sandbox := range []bool{true, false} {
		attr := map[bool]string{true: "sandbox", false: "nosandbox"}[sandbox]
		t.Run(attr, func(t *testing.T) {
			bundle := build(t, attr, sandbox)
			validate(t, bundle)
			rootfs := filepath.Join(bundle, "rootfs")

			copied := filepath.Join(rootfs, tree)
			if got := listTree(t, copied); strings.Join(got, "\n") != strings.Join(source, "\n") {
				t.Fatalf("rootfs copy differs from the source:\n%s\nsource:\n%s", strings.Join(got, "\n"), strings.Join(source, "\n"))
			}
			if err := nar.Verify(copied, treeHash); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Stat(filepath.Join(copied, "sparse"), &st); err != nil || st.Size != 2<<30+4 || st.Blocks*512 > 1<<20 {
				t.Fatalf("copied sparse file: size %d, %d blocks, %v", st.Size, st.Blocks, err)
			}
			if target, err := os.Readlink(filepath.Join(rootfs, link)); err != nil || !strings.HasSuffix(target, "-other-"+h.nonce) {
				t.Fatalf("symlink store path: %q, %v", target, err)
			}
			if err := nar.Verify(filepath.Join(rootfs, exe), narHashOf(t, exe)); err != nil {
				t.Fatal(err)
			}

			r := runc(t, bundle)
			if r.code != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if len(lines) < 5 {
				t.Fatalf("container printed %q", r.stdout)
			}
			seen := append([]string(nil), lines[:len(lines)-5]...)
			sort.Strings(seen)
			if strings.Join(seen, "\n") != strings.Join(source, "\n") {
				t.Fatalf("the container sees:\n%s\nthe source is:\n%s\nstderr %s", strings.Join(seen, "\n"), strings.Join(source, "\n"), r.stderr)
			}
			want := "store-link: from another store path\nlink: from another store path\nexe: exe ran\nsparse middle: middle\nsparse end: end\n"
			if tail := strings.Join(lines[len(lines)-5:], "\n") + "\n"; tail != want {
				t.Fatalf("container printed\n%s\nwant\n%s", tail, want)
			}
		})
	}
}

// TestUnsearchableDirectory: Nix 2.8 leaves a directory without its owner's
// x bit as 0444, which no one but root can enter. The builder, running as a
// build user, cannot read what is inside; the build must fail naming it.
func TestUnsearchableDirectory(t *testing.T) {
	need(t)
	for _, sandbox := range []bool{true, false} {
		t.Run(fmt.Sprintf("sandbox=%v", sandbox), func(t *testing.T) {
			t.Parallel()
			r := nixBuild(t, fmt.Sprintf(`
let
  bb = "${busybox}/bin/busybox";
  locked = derivation {
    name = "locked-%[1]v-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "${bb} mkdir -p $out/d/inner; echo x > $out/d/inner/f; ${bb} chmod 644 $out/d" ];
  };
in
ociTools.buildContainer {
  name = "locked-%[1]v-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" "${bb} ls ${locked}/d" ];
}`, sandbox), sandbox)
			if r.err == nil {
				t.Fatalf("build succeeded: %s", r.out)
			}
			line := errorLine(r.log)
			if !strings.HasPrefix(line, "oci-builder: error: copy /nix/store/") || !strings.HasSuffix(line, "-locked-"+fmt.Sprint(sandbox)+"-"+h.nonce+"/d/inner: permission denied") {
				t.Fatalf("error line %q\n%s", line, r.log)
			}
		})
	}
}
