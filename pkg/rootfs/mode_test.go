//go:build linux

package rootfs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func inode(t *testing.T, p string) (uint64, uint64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Dev, st.Ino
}

// TestModes copies the awkward tree in each mode into the source's own
// filesystem and into another one (a tmpfs, when /dev/shm is one): the tree
// is always the same; links and clones are made where the filesystem
// allows, and every other file is copied and counted as a fallback.
func TestModes(t *testing.T) {
	otherFS := "/dev/shm"
	var sfs unix.Statfs_t
	if err := unix.Statfs(otherFS, &sfs); err != nil || sfs.Type != unix.TMPFS_MAGIC {
		t.Skip("/dev/shm is not a tmpfs")
	}
	tests := []struct {
		mode    Mode
		other   bool
		linked  bool
		reasons []string
	}{
		{ModeCopy, false, false, nil},
		{ModeCopy, true, false, nil},
		{ModeHardlink, false, true, nil},
		{ModeHardlink, true, false, []string{"EXDEV"}},
		// Neither the test's filesystem (ext4 or tmpfs here) nor a pair of
		// filesystems can clone: FICLONE fails and each file is copied.
		{ModeReflink, false, false, []string{"EOPNOTSUPP", "EXDEV", "EINVAL"}},
		{ModeReflink, true, false, []string{"EXDEV", "EOPNOTSUPP"}},
	}
	for _, tc := range tests {
		name := tc.mode.String()
		if tc.other {
			name += "/other-fs"
		}
		t.Run(name, func(t *testing.T) {
			src := t.TempDir()
			sources := storeTree(t, src)
			dst := t.TempDir()
			if tc.other {
				var err error
				dst, err = os.MkdirTemp(otherFS, "rootfs-test-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dst) })
			}
			stats, err := Copy(context.Background(), openDir(t, dst), sources, Options{Mode: tc.mode, Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { chmodTree(dst, 0o755) })
			want, got := manifest(t, src), manifest(t, dst)
			if tc.mode == ModeHardlink && tc.linked {
				// A link keeps the source's mode, write bits included; a
				// store's files have none.
				want = dropWriteBits(want)
				got = dropWriteBits(got)
			}
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Fatalf("trees differ\nsource:\n%s\ncopy:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
			}
			if stats.Files != 9 || stats.Copied+stats.Cloned+stats.Linked != stats.Files {
				t.Fatalf("stats %+v", stats)
			}
			sd, si := inode(t, filepath.Join(src, "aaaa-pkg/share/doc/readme"))
			dd, di := inode(t, filepath.Join(dst, "aaaa-pkg/share/doc/readme"))
			if (sd == dd && si == di) != tc.linked {
				t.Fatalf("linked: got %v, want %v", !tc.linked, tc.linked)
			}
			if tc.linked && (stats.Linked != 9 || stats.Fallbacks != nil) {
				t.Fatalf("stats %+v: want 9 links", stats)
			}
			if tc.reasons == nil && stats.Fallbacks != nil {
				t.Fatalf("fallbacks %v", stats.Fallbacks)
			}
			if tc.reasons != nil {
				if stats.FallbackTotal() == 0 {
					t.Fatalf("no fallbacks counted: %+v", stats)
				}
				for r := range stats.Fallbacks {
					found := false
					for _, w := range tc.reasons {
						found = found || r == w
					}
					if !found {
						t.Fatalf("fallback reason %q, want one of %v", r, tc.reasons)
					}
				}
			}
			if tc.mode == ModeReflink && stats.Cloned+stats.FallbackTotal() < stats.Files-1 {
				// Every non-empty file was either cloned or fell back.
				t.Fatalf("stats %+v", stats)
			}
		})
	}
}

func dropWriteBits(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.NewReplacer(" file 644 ", " file 444 ", " file 755 ", " file 555 ").Replace(l)
	}
	return out
}

// TestOwnedLinksOnly checks that, inside a Nix build, a file owned by
// someone else is copied instead of linked, and counted as "not owned".
func TestOwnedLinksOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	src := t.TempDir()
	pkg := filepath.Join(src, "aaaa-pkg")
	mustWrite(t, filepath.Join(pkg, "mine"), "mine", 0o444)
	mustWrite(t, filepath.Join(pkg, "theirs"), "theirs", 0o444)
	if err := os.Chown(filepath.Join(pkg, "theirs"), 12345, 12345); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	stats, err := Copy(context.Background(), openDir(t, dst), []string{pkg}, Options{Mode: ModeHardlink, OwnedLinksOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Linked != 1 || stats.Copied != 1 || !reflect.DeepEqual(stats.Fallbacks, map[string]int64{"not owned": 1}) {
		t.Fatalf("stats %+v", stats)
	}
	_, a := inode(t, filepath.Join(pkg, "theirs"))
	_, b := inode(t, filepath.Join(dst, "aaaa-pkg/theirs"))
	if a == b {
		t.Fatal("a file of another owner was linked")
	}
}

// TestCheckBindable checks which store paths bind mode accepts: directories
// and regular files, not symlinks (a bind mount follows them), FIFOs or
// missing paths, each refusal naming the path.
func TestCheckBindable(t *testing.T) {
	src := t.TempDir()
	dir := filepath.Join(src, "aaaa-dir")
	file := filepath.Join(src, "bbbb-file")
	mustWrite(t, filepath.Join(dir, "bin/x"), "x", 0o555)
	mustWrite(t, file, "contents", 0o444)
	link := filepath.Join(src, "cccc-link")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(src, "dddd-fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(src, "eeee-missing")
	for _, tc := range []struct {
		sources []string
		want    string
	}{
		{[]string{dir, file}, ""},
		{[]string{dir, link}, "store path " + link + " is a symlink, which a bind mount would follow out of the store"},
		{[]string{fifo}, "store path " + fifo + " is a FIFO; only directories and regular files can be bind-mounted"},
		{[]string{file, missing}, "bind mount of " + missing + ": no such file or directory"},
	} {
		err := CheckBindable(context.Background(), tc.sources)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.sources, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.sources, err, tc.want)
		}
	}
}

func TestModeNames(t *testing.T) {
	for m, want := range map[Mode]string{ModeCopy: "copy", ModeReflink: "reflink", ModeHardlink: "hardlink", Mode(7): "Mode(7)"} {
		if m.String() != want {
			t.Errorf("%d: %q", int(m), m.String())
		}
	}
	if _, err := Copy(context.Background(), openDir(t, t.TempDir()), nil, Options{Mode: Mode(7)}); err == nil {
		t.Error("unknown mode accepted")
	}
}

// TestCopyKeepsModificationTimes checks that files, directories and
// symlinks keep their modification times, as tar and cp -a keep them: in a
// Nix store they are all 1, so Nix has nothing to fix in the output.
func TestCopyKeepsModificationTimes(t *testing.T) {
	for _, mode := range []Mode{ModeCopy, ModeReflink, ModeHardlink} {
		t.Run(mode.String(), func(t *testing.T) {
			src := t.TempDir()
			sources := storeTree(t, src)
			var entries []string
			filepath.Walk(src, func(p string, _ os.FileInfo, _ error) error {
				entries = append(entries, p)
				return nil
			})
			epoch := []unix.Timespec{{Sec: 1}, {Sec: 1}}
			for _, p := range entries[1:] {
				if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, epoch, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					t.Fatal(err)
				}
			}
			dst := t.TempDir()
			if _, err := Copy(context.Background(), openDir(t, dst), sources, Options{Mode: mode}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { chmodTree(dst, 0o755) })
			n := 0
			filepath.Walk(dst, func(p string, _ os.FileInfo, _ error) error {
				if p == dst {
					return nil
				}
				var st unix.Stat_t
				if err := unix.Lstat(p, &st); err != nil {
					t.Fatal(err)
				}
				if st.Mtim.Sec != 1 || st.Mtim.Nsec != 0 {
					t.Errorf("%s: mtime %v, want 1", p, st.Mtim)
				}
				n++
				return nil
			})
			if n != len(entries)-1 {
				t.Fatalf("%d entries copied, %d in the source", n, len(entries)-1)
			}
		})
	}
}
