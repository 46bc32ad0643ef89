package tests

// The flake, default.nix and the overlay, offline: nixpkgs is replaced by the
// stand-in in tests/standin-nixpkgs (see its default.nix), its buildGoModule
// packaging the oci-builder this file compiles exactly as the package asks
// (the same src, vendored, with its GOFLAGS, ldflags, CGO_ENABLED, GOOS and
// GOARCH). Real `nix build`, `nix flake check` and `nix-build` build the
// example containers and real runc runs them.

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// flakeSystems are the systems flake.nix has outputs for, with their GOOS,
// GOARCH and, for Linux, the ELF machine of their executables. The test
// compiles the package for the Linux ones; the macOS ones are only
// evaluated (there is no macOS here: CI cross-compiles for it).
var flakeSystems = []struct {
	system  string
	goos    string
	goarch  string
	machine elf.Machine
}{
	{"x86_64-linux", "linux", "amd64", elf.EM_X86_64},
	{"aarch64-linux", "linux", "arm64", elf.EM_AARCH64},
	{"x86_64-darwin", "darwin", "amd64", elf.EM_NONE},
	{"aarch64-darwin", "darwin", "arm64", elf.EM_NONE},
}

// hostSystem is the Nix system of this machine, whose outputs the tests
// build; the others' are only evaluated.
func hostSystem(t *testing.T) string {
	t.Helper()
	for _, s := range flakeSystems {
		if s.goos == runtime.GOOS && s.goarch == runtime.GOARCH {
			return s.system
		}
	}
	t.Fatalf("flake.nix has no outputs for this machine (GOARCH %s)", runtime.GOARCH)
	return ""
}

// goBuild is the environment the stand-in's buildGoModule gives `go
// install`, as nixpkgs' does; it is also what prebuilt/SYSTEM/build.json
// records.
type goBuild struct {
	Src         string   `json:"src"`
	GOFLAGS     []string `json:"GOFLAGS"`
	Ldflags     []string `json:"ldflags"`
	CGOEnabled  string   `json:"CGO_ENABLED"`
	GOOS        string   `json:"GOOS"`
	GOARCH      string   `json:"GOARCH"`
	SubPackages []string `json:"subPackages"`
}

// goPackage is the flake's oci-builder package as the stand-in evaluates it.
type goPackage struct {
	goBuild
	VendorHash string `json:"vendorHash"`
	Version    string `json:"version"`
}

// standin is the stand-in nixpkgs, prepared once for every test here.
var standin struct {
	once sync.Once
	err  error
	dir  string               // the copy given to --override-input
	pkgs map[string]goPackage // by system
	// vendorHash is the NAR hash of `go mod vendor` of the package's src.
	vendorHash string
}

// needStandin skips or fails as need does, then prepares the stand-in.
func needStandin(t *testing.T) {
	t.Helper()
	need(t)
	standin.once.Do(func() { standin.err = prepareStandin() })
	if standin.err != nil {
		t.Fatalf("stand-in nixpkgs: %v", standin.err)
	}
}

// nixFlags are the options of every flake command here: offline, the
// stand-in for nixpkgs, and no flake.lock written into the repository.
func nixFlags(standinDir string, sandbox bool) []string {
	return []string{
		"--extra-experimental-features", "nix-command flakes",
		"--option", "substituters", "",
		"--option", "sandbox", fmt.Sprint(sandbox),
		"--no-write-lock-file",
		"--override-input", "nixpkgs", "path:" + standinDir,
	}
}

// nixFlake runs `nix SUBCOMMAND` with nixFlags and args. The repository is
// named by its directory, as a user names it (`nix build .#example`): Nix
// then sees what git tracks, as in a clone.
func nixFlake(t *testing.T, standinDir string, sandbox bool, subcommand []string, args ...string) nixResult {
	t.Helper()
	all := append(append(subcommand, nixFlags(standinDir, sandbox)...), args...)
	return runNix(t, "nix", all...)
}

// flakeRef names an output of the repository's flake.
func flakeRef(attr string) string {
	return h.repo + "#" + attr
}

// prepareStandin copies the stand-in with busybox and the nonce, evaluates
// the package's build arguments through it, vendors and hashes the package's
// dependencies and compiles its programs for every system.
func prepareStandin() error {
	standin.dir = filepath.Join(h.work, "standin-nixpkgs")
	if err := copyTree(filepath.Join(h.repo, "tests", "standin-nixpkgs"), standin.dir); err != nil {
		return fmt.Errorf("copy the stand-in: %w", err)
	}
	if err := copyTree(h.busybox, filepath.Join(standin.dir, "busybox")); err != nil {
		return fmt.Errorf("add busybox: %w", err)
	}
	bash, err := os.ReadFile("/bin/bash-static")
	if err != nil {
		return fmt.Errorf("add bash: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(standin.dir, "bash", "bin"), 0o755); err != nil {
		return fmt.Errorf("add bash: %w", err)
	}
	if err := os.WriteFile(filepath.Join(standin.dir, "bash", "bin", "bash"), bash, 0o755); err != nil {
		return fmt.Errorf("add bash: %w", err)
	}
	if err := os.WriteFile(filepath.Join(standin.dir, "nonce"), []byte(h.nonce), 0o644); err != nil {
		return fmt.Errorf("add the nonce: %w", err)
	}
	if err := addHostTools(filepath.Join(standin.dir, "hosttools")); err != nil {
		return fmt.Errorf("add this machine's tools: %w", err)
	}

	// What the package asks buildGoModule for, on every system.
	apply := `pkgs: builtins.mapAttrs (system: p: { inherit (p.oci-builder) src GOFLAGS ldflags CGO_ENABLED GOOS GOARCH subPackages vendorHash version; }) pkgs`
	args := append([]string{"eval", "--json"}, nixFlags(standin.dir, false)...)
	out, err := command(h.repo, nil, "nix", append(args, flakeRef("packages"), "--apply", apply)...)
	if err != nil {
		return err
	}
	// packages.SYSTEM.oci-builder, through the apply above.
	var evaluated map[string]goPackage
	if err := json.Unmarshal(out, &evaluated); err != nil {
		return fmt.Errorf("decode %s: %w", out, err)
	}
	standin.pkgs = evaluated

	// nixpkgs vendors the dependencies of src in buildGoModule's goModules
	// derivation; so does the test, in a writable copy of src.
	first := evaluated[flakeSystems[0].system]
	src := filepath.Join(h.work, "go-src")
	if err := copyTree(first.Src, src); err != nil {
		return fmt.Errorf("copy src: %w", err)
	}
	goEnv := []string{"GOFLAGS=", "GO111MODULE=on", "GOTOOLCHAIN=local"}
	if _, err := command(src, goEnv, "go", "mod", "vendor"); err != nil {
		return err
	}
	hash, err := command(src, nil, "nix", "--extra-experimental-features", "nix-command", "hash", "path", "--type", "sha256", "vendor")
	if err != nil {
		return err
	}
	standin.vendorHash = strings.TrimSpace(string(hash))

	for _, s := range flakeSystems {
		p, ok := evaluated[s.system]
		if !ok {
			return fmt.Errorf("flake.nix has no packages.%s.oci-builder", s.system)
		}
		if p.Src != first.Src {
			return fmt.Errorf("src differs between systems: %s and %s", p.Src, first.Src)
		}
		if s.goos != "linux" {
			if err := expectFor(s.system, s.goos, s.goarch, first.goBuild, p.goBuild); err != nil {
				return err
			}
			continue
		}
		if err := compileFor(s.system, s.machine, p.goBuild, src); err != nil {
			return fmt.Errorf("compile for %s: %w", s.system, err)
		}
	}
	return nil
}

// expectFor checks that the package asks buildGoModule on system (one the
// test does not compile for: macOS) for what it asks on Linux but GOOS and
// GOARCH, and records that in prebuilt/SYSTEM/build.json, without programs,
// so that the package's derivation evaluates there.
func expectFor(system, goos, goarch string, linux, b goBuild) error {
	want := linux
	want.GOOS, want.GOARCH = goos, goarch
	wantJSON, err := json.Marshal(want)
	if err != nil {
		return err
	}
	got, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if string(got) != string(wantJSON) {
		return fmt.Errorf("packages.%s.oci-builder asks buildGoModule for %s, want %s", system, got, wantJSON)
	}
	dir := filepath.Join(standin.dir, "prebuilt", system)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "build.json"), wantJSON, 0o644)
}

// compileFor builds the package's programs as buildGoModule's build phase
// would, into prebuilt/SYSTEM/bin of the stand-in, checks that they are
// static executables for the system, compiles their tests as its check
// phase would, into prebuilt/SYSTEM/tests, and records the arguments.
func compileFor(system string, machine elf.Machine, b goBuild, src string) error {
	dir := filepath.Join(standin.dir, "prebuilt", system)
	env := []string{
		"GO111MODULE=on",
		"GOTOOLCHAIN=local",
		"GOFLAGS=" + strings.Join(b.GOFLAGS, " "),
		"CGO_ENABLED=" + b.CGOEnabled,
		"GOOS=" + b.GOOS,
		"GOARCH=" + b.GOARCH,
	}
	for _, sub := range b.SubPackages {
		bin := filepath.Join(dir, "bin", filepath.Base(sub))
		if _, err := command(src, env, "go", "build", "-ldflags="+strings.Join(b.Ldflags, " "), "-o", bin, "./"+sub); err != nil {
			return err
		}
		if err := checkStatic(bin, machine); err != nil {
			return err
		}
		// buildGoModule's checkPhase runs `go test` on subPackages, with
		// the same flags but -trimpath.
		var testFlags []string
		for _, f := range b.GOFLAGS {
			if f != "-trimpath" {
				testFlags = append(testFlags, f)
			}
		}
		testEnv := append(env, "GOFLAGS="+strings.Join(testFlags, " "))
		test := filepath.Join(dir, "tests", filepath.Base(sub)+".test")
		if _, err := command(src, testEnv, "go", "test", "-c", "-vet=off", "-ldflags="+strings.Join(b.Ldflags, " "), "-o", test, "./"+sub); err != nil {
			return err
		}
	}
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode build.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "build.json"), data, 0o644); err != nil {
		return fmt.Errorf("write build.json: %w", err)
	}
	return nil
}

// checkStatic fails unless file is an executable for machine that needs no
// dynamic loader or library: a builder finds nothing else in its sandbox.
func checkStatic(file string, machine elf.Machine) error {
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("read the executable: %w", err)
	}
	defer f.Close()
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		return fmt.Errorf("%s is a %v %v, want an executable for %v", file, f.Machine, f.Type, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%s is dynamically linked (it has %v)", file, p.Type)
		}
	}
	return nil
}

// command runs name in dir with the environment plus env and returns its
// standard output; the error carries what it printed.
func command(dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s (in %s): %w\n%s", name, strings.Join(args, " "), dir, err, stderr.String())
	}
	return out, nil
}

// copyTree copies the directory src to dst (which must not exist) with its
// files, symlinks and directories, everything writable by the owner.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			info, err := d.Info()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm()|0o200)
		}
	})
}

// builtPaths decodes `nix build --json`: the out paths, in order, each
// once (Nix 2.26 lists an installable's outputs more than once).
func builtPaths(t *testing.T, r nixResult) []string {
	t.Helper()
	if r.err != nil {
		t.Fatal(r)
	}
	var built []struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(r.out), &built); err != nil {
		t.Fatalf("decode nix build --json %q: %v", r.out, err)
	}
	var paths []string
	seen := map[string]bool{}
	for _, b := range built {
		if p := b.Outputs["out"]; !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	return paths
}

// TestFlakeVendorHash recomputes vendorHash: the NAR hash of the directory
// `go mod vendor` makes of the package's src, as buildGoModule's goModules
// derivation does.
func TestFlakeVendorHash(t *testing.T) {
	needStandin(t)
	data, err := os.ReadFile(filepath.Join(h.repo, "nix", "package.nix"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*vendorHash = "([^"]*)";`).FindSubmatch(data)
	if m == nil {
		t.Fatal("nix/package.nix has no vendorHash = \"...\"; line")
	}
	written := string(m[1])
	for system, p := range standin.pkgs {
		if p.VendorHash != written {
			t.Errorf("packages.%s.oci-builder has vendorHash %s, nix/package.nix says %s", system, p.VendorHash, written)
		}
	}
	if written != standin.vendorHash {
		t.Errorf("vendorHash in nix/package.nix is %s but the module's vendored dependencies hash to %s: set vendorHash = %q;", written, standin.vendorHash, standin.vendorHash)
	}
}

// TestFlakeExample builds packages.SYSTEM.example, GNU hello's stand-in in a
// container, sandboxed, rebuilds it without the sandbox (the same bytes
// must come out) and runs it.
func TestFlakeExample(t *testing.T) {
	needStandin(t)
	t.Parallel()
	system := hostSystem(t)
	ref := flakeRef("packages." + system + ".example")
	bundle := builtPaths(t, nixFlake(t, standin.dir, true, []string{"build"}, "--no-link", "--json", ref))[0]
	if r := nixFlake(t, standin.dir, false, []string{"build"}, "--no-link", "--rebuild", ref); r.err != nil {
		t.Fatal(r)
	}
	if !strings.HasSuffix(bundle, "-hello-standin-container") {
		t.Errorf("example is %s, want the default name hello-standin-container", bundle)
	}
	validate(t, bundle)
	r := runc(t, bundle)
	if r.code != 0 || r.stdout != "Hello, world!\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	config, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(config), `"org.opencontainers.image.architecture": "`+runtime.GOARCH+`"`) {
		t.Errorf("the example is not built for %s:\n%s", system, config)
	}
}

// TestFlakePackage builds packages.SYSTEM.oci-builder and default, with the
// sandbox and without it (the stand-in's check phase runs the tests of
// cmd/oci-builder as the build user there), and runs the command.
func TestFlakePackage(t *testing.T) {
	needStandin(t)
	t.Parallel()
	system := hostSystem(t)
	refs := []string{flakeRef("packages." + system + ".oci-builder"), flakeRef("packages." + system + ".default")}
	paths := builtPaths(t, nixFlake(t, standin.dir, true, []string{"build"}, append([]string{"--no-link", "--json"}, refs...)...))
	if len(paths) != 1 {
		t.Fatalf("oci-builder and default are %v, want one package", paths)
	}
	// The package does not change between runs: rebuild it, so that the
	// build and its tests really run, in the sandbox and out of it, and
	// give the same bytes.
	for _, sandbox := range []bool{true, false} {
		if r := nixFlake(t, standin.dir, sandbox, []string{"build"}, "--no-link", "--rebuild", refs[0]); r.err != nil {
			t.Fatal(r)
		}
	}
	want := "oci-builder " + standin.pkgs[system].Version + "\n"
	out, err := command(h.work, nil, filepath.Join(paths[0], "bin", "oci-builder"), "version")
	if err != nil || string(out) != want {
		t.Fatalf("oci-builder version printed %q (%v), want %q: ldflags do not set main.version", out, err, want)
	}
}

// TestFlakeCheck runs `nix flake check`, which evaluates every output of
// every system and builds this system's checks: the package, and the
// example containers of the overlay and of lib.ociToolsFor checked by
// `oci-builder validate`. With a hello whose script names a shell outside
// its closure, the check must fail and say why.
func TestFlakeCheck(t *testing.T) {
	needStandin(t)
	t.Parallel()
	system := hostSystem(t)
	if r := nixFlake(t, standin.dir, true, []string{"flake", "check"}, h.repo); r.err != nil {
		t.Fatal(r)
	}
	// The checks are built now; their outputs are validate's reports.
	reports := builtPaths(t, nixFlake(t, standin.dir, false, []string{"build"}, "--no-link", "--json",
		flakeRef("checks."+system+".example"), flakeRef("checks."+system+".lib-example")))
	for _, report := range reports {
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^/nix/store/[^ ]+-hello-standin-container: valid \(runtime-spec [0-9.]+ schema; runs /nix/store/[^ ]+-hello-standin/bin/hello\)\n$`).Match(data) {
			t.Errorf("report %s:\n%s", report, data)
		}
	}

	broken := filepath.Join(t.TempDir(), "standin-nixpkgs")
	if err := copyTree(standin.dir, broken); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "broken-hello"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := nixFlake(t, broken, false, []string{"flake", "check"}, h.repo)
	problem := regexp.MustCompile(`the interpreter of /nix/store/[^ ]+-hello-standin/bin/hello "/bin/sh" does not exist in the container`)
	if r.err == nil || !problem.MatchString(r.log) {
		t.Fatalf("nix flake check of a broken example: want a failure naming the missing interpreter, got %v\n%s", r.err, r.log)
	}
}

// TestNonFlake builds with default.nix and with the overlay, as users of
// nixpkgs without flakes do, and runs the containers.
func TestNonFlake(t *testing.T) {
	needStandin(t)
	pkgs := fmt.Sprintf(`import %s { system = builtins.currentSystem; }`, standin.dir)
	overlaid := fmt.Sprintf(`import %s { system = builtins.currentSystem; overlays = [ (import %s/nix/overlay.nix) ]; }`, standin.dir, h.repo)
	for _, c := range []struct {
		name    string
		sandbox bool
		args    []string
	}{
		{"default.nix", true, []string{filepath.Join(h.repo, "default.nix"), "--arg", "pkgs", pkgs, "-A", "example"}},
		{"callPackage", false, []string{"-E", fmt.Sprintf(`let pkgs = %s; in pkgs.callPackage %s/examples/hello.nix { ociTools = pkgs.callPackage %s/nix/oci-tools.nix { oci-builder = pkgs.callPackage %s/nix/package.nix { }; }; }`, pkgs, h.repo, h.repo, h.repo)}},
		{"overlay", true, []string{"-E", fmt.Sprintf(`let pkgs = %s; in pkgs.ociTools.buildContainer { name = "overlay"; args = [ "${pkgs.hello}/bin/hello" ]; }`, overlaid)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runNix(t, "nix-build", append([]string{"--no-out-link", "--option", "substituters", "", "--option", "sandbox", fmt.Sprint(c.sandbox)}, c.args...)...)
			if r.err != nil {
				t.Fatal(r)
			}
			validate(t, r.out)
			if rr := runc(t, r.out); rr.code != 0 || rr.stdout != "Hello, world!\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q", rr.code, rr.stdout, rr.stderr)
			}
		})
	}
	r := runNix(t, "nix-build", "--no-out-link", "--option", "substituters", "", filepath.Join(h.repo, "default.nix"), "--arg", "pkgs", pkgs, "-A", "oci-builder")
	if r.err != nil {
		t.Fatal(r)
	}
	if out, err := command(h.work, nil, filepath.Join(r.out, "bin", "oci-builder"), "version"); err != nil || !strings.HasPrefix(string(out), "oci-builder ") {
		t.Fatalf("oci-builder version: %q, %v", out, err)
	}
}

// TestStandinBuildGoModule shows that the stand-in's buildGoModule is no
// rubber stamp: given the arguments nix/package.nix gives it with one
// changed, evaluation fails and says why.
func TestStandinBuildGoModule(t *testing.T) {
	needStandin(t)
	t.Parallel()
	system := hostSystem(t)
	// The package's own arguments, caught by a buildGoModule that returns them.
	prefix := fmt.Sprintf(`let
  pkgs = import %s { system = %q; };
  base = pkgs.lib.fix (pkgs.callPackage %s/nix/package.nix { buildGoModule = f: f; });
in
(pkgs.buildGoModule (base // `, standin.dir, system, h.repo)
	for _, c := range []struct {
		name, change, want string
	}{
		{"unchanged", `{ }`, ""},
		{"vendorHash", `{ vendorHash = "sha256-AAAA"; }`, "vendorHash must be an SRI SHA-256 hash"},
		{"CGO_ENABLED", `{ env.CGO_ENABLED = 1; }`, "env.CGO_ENABLED must be 0"},
		{"subPackages", `{ subPackages = [ "./cmd/oci-builder" ]; }`, "subPackages must be a non-empty list of directories of src"},
		{"missing subPackage", `{ subPackages = [ "cmd/nothing" ]; }`, "subPackages must be a non-empty list of directories of src"},
		{"unknown argument", `{ tags = [ "netgo" ]; }`, "argument tags is not implemented"},
		{"other ldflags", `{ ldflags = [ "-X main.version=other" ]; }`, "prebuilt/" + system + " was compiled with"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runNix(t, "nix-instantiate", "--eval", "--strict", "-E", prefix+c.change+")).drvPath")
			if c.want == "" {
				if r.err != nil || !strings.Contains(r.out, "-oci-builder-") {
					t.Fatalf("want a derivation: %v", r)
				}
				return
			}
			if r.err == nil || !strings.Contains(r.log, "stand-in buildGoModule: "+c.want) {
				t.Fatalf("want the error %q: %v", c.want, r)
			}
		})
	}
}
