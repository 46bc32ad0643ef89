// Package tests holds the end-to-end tests: real nix-build of containers
// made with nix/oci-tools.nix, real runc runs of the bundles.
//
// They need nix-build, nix-instantiate and runc, and root (for runc). Without
// them the tests skip, unless CI is set, where they fail instead.
package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oci-builder/oci-builder/pkg/schema"
	validatepkg "github.com/oci-builder/oci-builder/pkg/validate"
	"github.com/oci-builder/oci-builder/tests/invariants"
)

// harness is what every end-to-end test shares: the builder and busybox
// prepared once, the repository root and a nonce that makes each run's
// derivations new, so that builds really run even when the store already
// has a previous run's outputs.
type harness struct {
	repo    string
	work    string
	builder string // directory holding bin/oci-builder
	busybox string // directory holding bin/busybox and bin/sh
	nix     string // the version of Nix the tests run, as "2.8.0"
	nonce   string
	skip    string
	runcSeq atomic.Int64
}

var h harness

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "end-to-end setup:", err)
		os.Exit(1)
	}
	if code >= 0 {
		os.Exit(code)
	}
	code = m.Run()
	stopDaemons()
	os.RemoveAll(h.work)
	os.Exit(code)
}

// setup prepares the harness. It returns -1 to go on running tests.
func setup() (int, error) {
	var missing []string
	for _, tool := range []string{"nix-build", "nix-instantiate", "runc", "go", "runuser", "useradd", "newuidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		missing = append(missing, "/bin/busybox (busybox-static)")
	}
	// The stand-in nixpkgs' bash (nix develop runs its environment script
	// with the shell's builder).
	if _, err := os.Stat("/bin/bash-static"); err != nil {
		missing = append(missing, "/bin/bash-static (bash-static)")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (for runc)")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			return 0, fmt.Errorf("CI is set but %s missing", strings.Join(missing, ", "))
		}
		h.skip = "missing " + strings.Join(missing, ", ")
		return -1, nil
	}
	// The tests run with whichever Nix is on PATH (scripts/test runs them
	// with Debian 12's and, in a chroot, Debian 13's): say which.
	version, err := exec.Command("nix-build", "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("nix-build --version: %w", err)
	}
	h.nix = strings.TrimPrefix(strings.TrimSpace(string(version)), "nix-build (Nix) ")
	fmt.Fprintf(os.Stderr, "end-to-end tests with Nix %s\n", h.nix)
	repo, err := filepath.Abs("..")
	if err != nil {
		return 0, err
	}
	h.repo = repo
	h.work, err = os.MkdirTemp("", "oci-builder-e2e-")
	if err != nil {
		return 0, err
	}
	// Unprivileged users run the builder in the rootless tests.
	if err := os.Chmod(h.work, 0o755); err != nil {
		return 0, err
	}
	var b [6]byte
	rand.Read(b[:])
	h.nonce = hex.EncodeToString(b[:])

	h.builder = filepath.Join(h.work, "oci-builder")
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(h.builder, "bin", "oci-builder"), "./cmd/oci-builder")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build oci-builder: %v\n%s", err, out)
	}

	h.busybox = filepath.Join(h.work, "busybox")
	if err := os.MkdirAll(filepath.Join(h.busybox, "bin"), 0o755); err != nil {
		return 0, err
	}
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(h.busybox, "bin", "busybox"), data, 0o755); err != nil {
		return 0, err
	}
	if err := os.Symlink("busybox", filepath.Join(h.busybox, "bin", "sh")); err != nil {
		return 0, err
	}
	return -1, nil
}

func need(t *testing.T) {
	t.Helper()
	if h.skip != "" {
		t.Skip(h.skip)
	}
}

// prelude binds ociTools, busybox, nonce and system for test expressions.
func prelude() string {
	return fmt.Sprintf(`let
  ociTools = import %s/nix/oci-tools.nix {
    oci-builder = builtins.path { path = %s; name = "oci-builder"; };
  };
  busybox = builtins.path { path = %s; name = "busybox"; };
  nonce = %q;
  system = builtins.currentSystem;
in
`, h.repo, h.builder, h.busybox, h.nonce)
}

// nixResult is the outcome of a nix command.
type nixResult struct {
	out  string
	log  string
	err  error
	args []string
}

func (r nixResult) String() string {
	return fmt.Sprintf("nix %s: %v\n%s", strings.Join(r.args, " "), r.err, r.log)
}

// writeExpr writes prelude + expr to a file and returns its path.
func writeExpr(t *testing.T, expr string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "test.nix")
	if err := os.WriteFile(file, []byte(prelude()+expr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func runNix(t *testing.T, tool string, args ...string) nixResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return nixResult{out: strings.TrimSpace(stdout.String()), log: stderr.String(), err: err, args: append([]string{tool}, args...)}
}

// nixBuild builds expr (evaluated after the prelude) with the sandbox on or
// off and no substituters; extra arguments go to nix-build.
func nixBuild(t *testing.T, expr string, sandbox bool, extra ...string) nixResult {
	t.Helper()
	return nixBuildFile(t, writeExpr(t, expr), sandbox, extra...)
}

// nixBuildFile builds the expression in file; see nixBuild.
func nixBuildFile(t *testing.T, file string, sandbox bool, extra ...string) nixResult {
	t.Helper()
	args := append([]string{file, "--no-out-link", "--option", "substituters", "", "--option", "sandbox", fmt.Sprint(sandbox)}, extra...)
	return runNix(t, "nix-build", args...)
}

// mustBuild builds expr and returns the output path.
func mustBuild(t *testing.T, expr string, sandbox bool) string {
	t.Helper()
	r := nixBuild(t, expr, sandbox)
	if r.err != nil {
		t.Fatal(r)
	}
	if !strings.HasPrefix(r.out, "/nix/store/") || strings.Contains(r.out, "\n") {
		t.Fatalf("unexpected nix-build output %q", r.out)
	}
	return r.out
}

// runcResult is what a container run printed and how it ended.
type runcResult struct {
	stdout, stderr string
	code           int
}

// runc runs the bundle with `runc run` and returns what it printed.
func runc(t *testing.T, bundle string) runcResult {
	t.Helper()
	id := fmt.Sprintf("ocib-%s-%d", h.nonce, h.runcSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runc", "run", "--bundle", bundle, id)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	exec.Command("runc", "delete", "--force", id).Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("runc run: %v", err)
		}
		code = ee.ExitCode()
	}
	return runcResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// validate checks a bundle as `oci-builder validate` does (the runtime-spec
// schema, rootfs, program, mountpoints, id mappings) and for the mistakes of
// nixpkgs' config (platform, null).
func validate(t *testing.T, bundle string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r := validatepkg.Bundle(bundle, "/nix/store"); !r.Valid() || r.SchemaVersion != schema.Version {
		t.Fatalf("%s is not valid (schema %s):\n%s", bundle, r.SchemaVersion, strings.Join(r.Problems, "\n"))
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if path := invariants.FindNull(doc, ""); path != "" {
		t.Fatalf("config.json has null at %s:\n%s", path, data)
	}
	if m, ok := doc.(map[string]any); ok && m["platform"] != nil {
		t.Fatalf("config.json has platform:\n%s", data)
	}
	return data
}

// errorLine finds oci-builder's error line in a build log.
func errorLine(log string) string {
	m := regexp.MustCompile(`oci-builder: error: [^\n]*`).FindString(log)
	return m
}
