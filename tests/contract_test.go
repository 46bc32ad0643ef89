package tests

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	validatepkg "github.com/oci-builder/oci-builder/pkg/validate"
)

// contractPieces are the option values the property test draws from: valid
// ones, and ones a runtime rejects that the builder must refuse.
var contractPieces = [][]string{
	{"--user", "app"}, {"--user", "4294967295"}, {"--user", "2147483648"}, {"--user", "65534"},
	{"--hostname", "h1"}, {"--hostname", strings.Repeat("h", 70)},
	{"--env", "A=1"}, {"--env", "A\nB=1"}, {"--env", "BIG=" + strings.Repeat("v", 140000)},
	{"--cap", "CAP_SYS_ADMIN"}, {"--cap", "NET_RAW"}, {"--cap", "CAP_BOGUS"},
	{"--rlimit", "nofile=64"}, {"--rlimit", "nproc=10:5"},
	{"--mount", "dst=/tmp/x,type=tmpfs"}, {"--mount", "dst=/data,src=/srv"}, {"--mount", "dst=/nix/store/x,src=/srv"},
	{"--mount", "dst=relative,src=/srv"}, {"--mount", "dst=/a/../b,src=/srv"},
	{"--store-mode", "bind"}, {"--store-mode", "hardlink"}, {"--store-mode", "reflink"},
	{"--seccomp", "unconfined"}, {"--no-tmp"}, {"--readonly=false"}, {"--network", "host"},
	{"--workdir", "/srv/app"}, {"--workdir", "/tmp/in-tmpfs"},
	{"--extra-config", `{"process":null}`}, {"--extra-config", `{"root":null}`},
	{"--extra-config", `{"ociVersion":"0.0.1"}`}, {"--extra-config", `{"linux":{"namespaces":null}}`},
	{"--extra-config", `{"process":{"capabilities":{"effective":["CAP_KILL"],"permitted":null}}}`},
	{"--extra-config", `{"process":{"capabilities":{"ambient":["CAP_KILL"]}}}`},
	{"--extra-config", `{"process":{"user":{"additionalGids":[4294967295]}}}`},
	{"--extra-config", `{"process":{"rlimits":[{"type":"RLIMIT_BOGUS","soft":1,"hard":1}]}}`},
	{"--extra-config", `{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_BOGUS"}}}`},
	{"--extra-config", `{"mounts":[{"destination":"/x","type":"bind","source":"/srv"}]}`},
	{"--extra-config", `{"root":{"readonly":false}}`},
	{"--extra-config", `{"hostname":"other"}`},
	{"--extra-config", `{"process":{"cwd":"relative"}}`},
	{"--extra-config", `{"process":{"args":[]}}`},
	{"--extra-config", `{"process":{"args":["/nix/store/00000000000000000000000000000000-missing/bin/x"]}}`},
}

// TestBuildValidateRunContract is the property test of the contract: for
// option sets drawn at random (a fixed seed, so that a failure can be
// replayed; CONTRACT_CASES and CONTRACT_SEED change the count and the draw,
// as scripts/fuzz's long run does),
// `oci-builder bundle` either fails with exactly one error line and leaves
// nothing, or writes a bundle that validate accepts and runc starts.
func TestBuildValidateRunContract(t *testing.T) {
	need(t)
	t.Parallel()
	bb := storePath(t, "busybox")
	cases, seed := 40, uint64(2026)
	if v, err := strconv.Atoi(os.Getenv("CONTRACT_CASES")); err == nil && v > 0 {
		cases = v
	}
	if v, err := strconv.ParseUint(os.Getenv("CONTRACT_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(11, seed))
	built, refused := 0, 0
	for i := range cases {
		var flags []string
		for range 1 + rng.IntN(3) {
			flags = append(flags, contractPieces[rng.IntN(len(contractPieces))]...)
		}
		out := filepath.Join(t.TempDir(), "b")
		args := append(append([]string{"bundle", "--out", out}, flags...), "--", bb+"/bin/sh", "-c", "busybox true")
		cmd := exec.Command(builderBin(), args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err != nil {
			lines := strings.Count(stderr.String(), "oci-builder: error: ")
			if lines != 1 || cmd.ProcessState.ExitCode() > 2 || strings.Contains(stderr.String(), "panic") {
				t.Fatalf("case %d %q: %v, stderr:\n%s", i, flags, err, stderr.String())
			}
			if _, statErr := exec.Command("test", "-e", out).Output(); statErr == nil {
				t.Fatalf("case %d %q: failed but left %s", i, flags, out)
			}
			refused++
			continue
		}
		built++
		t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", out).Run() })
		if r := validatepkg.Bundle(out, "/nix/store"); !r.Valid() {
			t.Fatalf("case %d %q: built, but validate says:\n%s", i, flags, strings.Join(r.Problems, "\n"))
		}
		if r := runc(t, out); r.code != 0 {
			t.Fatalf("case %d %q: validate accepts it, runc exits %d: %s", i, flags, r.code, r.stderr)
		}
	}
	if built == 0 || refused == 0 {
		t.Fatalf("%d built, %d refused: the draw exercises only one side", built, refused)
	}
	t.Logf("%d bundles built, validated and run; %d refused with one error line", built, refused)
}
