package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// storePath evaluates expr (after the prelude) to a store path, adding
// sources to the store as needed.
func storePath(t *testing.T, expr string) string {
	t.Helper()
	r := runNix(t, "nix-instantiate", "--eval", "--read-write-mode", writeExpr(t, `"${`+expr+`}"`))
	if r.err != nil {
		t.Fatal(r)
	}
	p, err := strconv.Unquote(r.out)
	if err != nil || !strings.HasPrefix(p, "/nix/store/") {
		t.Fatalf("store path %q: %v", r.out, err)
	}
	return p
}

func builderBin() string { return filepath.Join(h.builder, "bin", "oci-builder") }

func TestCLIBundleFromLocalStore(t *testing.T) {
	need(t)
	t.Parallel()
	bb := storePath(t, "busybox")
	out := filepath.Join(t.TempDir(), "bundle")
	cmd := exec.Command(builderBin(), "bundle", "--out", out, "--user", "nobody", "--hostname", "cli",
		"--", bb+"/bin/sh", "-c", "echo from the cli; busybox id; busybox hostname; busybox ls /nix/store")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("oci-builder bundle: %v\n%s", err, stderr.String())
	}
	if stdout.String() != out+"\n" || !strings.Contains(stderr.String(), "oci-builder: done: mode copy, 1 paths") {
		t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", out).Run() })
	validate(t, out)
	r := runc(t, out)
	want := "from the cli\nuid=65534(nobody) gid=65534(nobody)\ncli\n" + filepath.Base(bb) + "\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("exit %d, stdout %q, want %q, stderr %q", r.code, r.stdout, want, r.stderr)
	}
}

// TestCLIInterrupted stops `oci-builder bundle` in the middle of copying a
// large closure (GOROOT) and checks that nothing is left behind.
func TestCLIInterrupted(t *testing.T) {
	need(t)
	goroot := storePath(t, `builtins.path { path = /usr/local/go; name = "goroot"; }`)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "bundle")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, builderBin(), "bundle", "--out", out, "--", goroot+"/bin/go", "version")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until the copy has started: files appear in the staged rootfs.
			deadline := time.Now().Add(time.Minute)
			for {
				staged, _ := filepath.Glob(filepath.Join(parent, ".bundle.tmp-*", "bundle", "rootfs", "nix", "store", filepath.Base(goroot), "*"))
				if len(staged) > 0 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("the copy did not start: %s", stderr.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "oci-builder: error: interrupted; removed the partial bundle") {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Fatalf("left behind: %v", entries)
			}
		})
	}
}
