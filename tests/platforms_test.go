package tests

// The flake's systems, macOS included, through the stand-in nixpkgs: there
// is no macOS machine here, so the macOS outputs are evaluated (their
// derivations instantiated), not built; CI cross-compiles the command for
// macOS. And the flake's conventions: formatter and devShells.default.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// flakeEval evaluates the flake output attr with apply and decodes it.
func flakeEval(t *testing.T, attr, apply string, v any) {
	t.Helper()
	r := nixFlake(t, standin.dir, false, []string{"eval"}, "--json", flakeRef(attr), "--apply", apply)
	if r.err != nil {
		t.Fatal(r)
	}
	if err := json.Unmarshal([]byte(r.out), v); err != nil {
		t.Fatalf("decode %q: %v", r.out, err)
	}
}

// names is the sorted attribute names of a decoded attribute set.
func names[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, " ")
}

// TestFlakeSystems: every system has the package and an example image,
// built on that system and for Linux, with the package as its builder;
// the Linux systems have the example bundle and its checks too. The
// derivations of every system are instantiated.
func TestFlakeSystems(t *testing.T) {
	needStandin(t)
	t.Parallel()
	type drv struct {
		DrvPath string   `json:"drvPath"`
		Out     string   `json:"out"`
		System  string   `json:"system"`
		Builder string   `json:"builder"`
		OS      string   `json:"os"`
		Arch    string   `json:"arch"`
		GOOS    string   `json:"GOOS"`
		Plats   []string `json:"platforms"`
		Tests   []string `json:"tests"`
	}
	var packages, checks map[string]map[string]drv
	apply := `builtins.mapAttrs (system: builtins.mapAttrs (name: d: {
  inherit (d) drvPath system;
  # Not outPath: JSON would give the attribute set as that string.
  out = d.outPath;
  builder = d.builder or "";
  os = d.options.os or "";
  arch = d.options.arch or "";
  GOOS = d.GOOS or "";
  platforms = d.meta.platforms or [ ];
  tests = builtins.attrNames (d.passthru.tests or { });
}))`
	flakeEval(t, "packages", apply, &packages)
	flakeEval(t, "checks", apply, &checks)
	for _, s := range flakeSystems {
		ps, cs := packages[s.system], checks[s.system]
		wantPackages, wantChecks, wantTests := "default example example-image oci-builder", "example example-image lib-example oci-builder oci-builder-version", "example example-image version"
		if s.goos == "darwin" {
			wantPackages, wantChecks, wantTests = "default example-image oci-builder", "example-image oci-builder oci-builder-version", "example-image version"
		}
		if names(ps) != wantPackages || names(cs) != wantChecks {
			t.Errorf("%s: packages %q, checks %q; want %q and %q", s.system, names(ps), names(cs), wantPackages, wantChecks)
			continue
		}
		pkg, image := ps["oci-builder"], ps["example-image"]
		if pkg.System != s.system || pkg.GOOS != s.goos || !slices.Contains(pkg.Plats, s.system) || strings.Join(pkg.Tests, " ") != wantTests {
			t.Errorf("%s: the package is %+v", s.system, pkg)
		}
		// The image is built on the system, by the package, for Linux on
		// the system's CPU.
		if image.System != s.system || image.Builder != pkg.Out+"/bin/oci-builder" || image.OS != "linux" || image.Arch != s.goarch {
			t.Errorf("%s: the example image is %+v, want one built on %s by %s, for linux/%s", s.system, image, s.system, pkg.Out, s.goarch)
		}
		for name, d := range ps {
			if !strings.HasSuffix(d.DrvPath, ".drv") {
				t.Errorf("packages.%s.%s: no derivation (%q)", s.system, name, d.DrvPath)
			}
		}
	}
}

// TestDarwinRefusesBundles: on a macOS build platform, buildContainer fails
// at evaluation with one line pointing at images, while buildImage makes a
// Linux image (the os stays linux whatever the host platform's kernel).
func TestDarwinRefusesBundles(t *testing.T) {
	needStandin(t)
	t.Parallel()
	pkgs := fmt.Sprintf(`(import %s { system = "aarch64-darwin"; overlays = [ (import %s/nix/overlay.nix) ]; })`, standin.dir, h.repo)
	r := runNix(t, "nix-instantiate", "--eval", "--strict", "-E", fmt.Sprintf(`let pkgs = %s; in (pkgs.ociTools.buildContainer { args = [ "${pkgs.hello}/bin/hello" ]; }).drvPath`, pkgs))
	want := `error: ociTools.buildContainer: bundles are built on Linux, and this build platform is aarch64-darwin; on darwin build images instead (buildImage, buildLayeredImage, streamLayeredImage)`
	// The message is one line (Nix 2.26 puts a trace above it).
	var errLines []string
	for _, l := range strings.Split(r.log, "\n") {
		if strings.Contains(l, "error: ociTools.") {
			errLines = append(errLines, strings.TrimSpace(l))
		}
	}
	if r.err == nil || len(errLines) != 1 || errLines[0] != want {
		t.Fatalf("buildContainer on aarch64-darwin: want the one error line %q, got %v", want, r)
	}
	var image struct {
		System string `json:"system"`
		OS     string `json:"os"`
		Arch   string `json:"arch"`
	}
	evalJSON(t, fmt.Sprintf(`let pkgs = %s; i = pkgs.ociTools.buildImage { args = [ "${pkgs.hello}/bin/hello" ]; }; in { inherit (i) system; inherit (i.options) os arch; }`, pkgs), &image)
	if image.System != "aarch64-darwin" || image.OS != "linux" || image.Arch != "arm64" {
		t.Fatalf("buildImage on aarch64-darwin: %+v, want system aarch64-darwin, os linux, arch arm64", image)
	}
}

// TestFlakeFormatterAndDevShell: every system has a formatter
// (nixfmt-tree) and a devShells.default whose packages are Go's tools and
// the tests' commands that nixpkgs has for the system; their derivations
// are instantiated.
func TestFlakeFormatterAndDevShell(t *testing.T) {
	needStandin(t)
	t.Parallel()
	var formatter map[string]struct {
		Name    string `json:"name"`
		DrvPath string `json:"drvPath"`
	}
	flakeEval(t, "formatter", `builtins.mapAttrs (system: f: { inherit (f) name drvPath; })`, &formatter)
	var shells map[string]map[string]struct {
		DrvPath  string   `json:"drvPath"`
		Packages []string `json:"packages"`
	}
	flakeEval(t, "devShells", `builtins.mapAttrs (system: builtins.mapAttrs (name: s: {
  inherit (s) drvPath;
  packages = map (p: p.pname or p.name) s.packages;
}))`, &shells)
	common := []string{"go", "gopls", "go-tools", "nixfmt-tree", "skopeo", "podman", "zstd", "pigz", "distribution", "docker-registry", "docker"}
	linuxOnly := []string{"runc", "umoci", "buildah", "busybox", "fakeroot", "proot", "containerd", "xfsprogs"}
	for _, s := range flakeSystems {
		f := formatter[s.system]
		if f.Name != "nixfmt-tree-standin" || !strings.HasSuffix(f.DrvPath, ".drv") {
			t.Errorf("formatter.%s is %+v, want nixfmt-tree", s.system, f)
		}
		if names(shells[s.system]) != "default" {
			t.Errorf("devShells.%s has %q, want default", s.system, names(shells[s.system]))
			continue
		}
		shell := shells[s.system]["default"]
		want := append([]string(nil), common...)
		if s.goos == "linux" {
			want = append(want, linuxOnly...)
		}
		got := append([]string(nil), shell.Packages...)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || !strings.HasSuffix(shell.DrvPath, ".drv") {
			t.Errorf("devShells.%s.default: packages %v (%s), want %v", s.system, got, shell.DrvPath, want)
		}
	}
}

// TestFlakeDevelop runs `nix develop` on this system's devShells.default:
// Nix builds its environment (the stand-in's stdenv setup, run by bash as
// nix develop does) and the command given finds each tool on PATH, from
// its package in the store; docker-registry is the wrapper that runs the
// registry; busybox's bin is on PATH.
func TestFlakeDevelop(t *testing.T) {
	needStandin(t)
	t.Parallel()
	system := hostSystem(t)
	// command: the package it must come from.
	commands := map[string]string{
		"go": "go", "gopls": "gopls", "staticcheck": "go-tools", "treefmt": "nixfmt-tree",
		"runc": "runc", "skopeo": "skopeo", "umoci": "umoci", "podman": "podman", "buildah": "buildah",
		"zstd": "zstd", "pigz": "pigz", "registry": "distribution", "docker-registry": "distribution",
		"containerd": "containerd", "docker": "docker", "mkfs.xfs": "xfsprogs",
	}
	// The stand-in's real tools (this machine's, tests/hosttools_test.go):
	// found on PATH from the store, not run.
	real := []string{"fakeroot", "proot"}
	var names []string
	for c := range commands {
		names = append(names, c)
	}
	slices.Sort(names)
	script := `for c in ` + strings.Join(names, " ") + `; do echo "$c $(command -v $c) $($c)"; done; ` +
		`for c in ` + strings.Join(real, " ") + `; do echo "$c $(command -v $c) real"; done; echo "PATH $PATH"`
	r := nixFlake(t, standin.dir, true, []string{"develop"}, flakeRef("devShells."+system+".default"), "--command", "sh", "-c", script)
	if r.err != nil {
		t.Fatal(r)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Fatalf("nix develop printed %q:\n%s", l, r.out)
		}
		got[f[0]] = strings.Join(f[1:], " ")
	}
	for _, c := range names {
		line := got[c]
		if !strings.HasPrefix(line, "/nix/store/") || !strings.HasSuffix(line, "/bin/"+c+" "+commands[c]+" stand-in") {
			t.Errorf("in nix develop, %s is %q, want a store path's bin/%s printing %q", c, line, c, commands[c]+" stand-in")
		}
	}
	for _, c := range real {
		if line := got[c]; !strings.HasPrefix(line, "/nix/store/") || !strings.HasSuffix(line, "/bin/"+c+" real") {
			t.Errorf("in nix develop, %s is %q, want a store path's bin/%s", c, line, c)
		}
	}
	// busybox (whose sh runs the command: its applets are its builtins).
	if !regexp.MustCompile(`(^|:)/nix/store/[^/:]+-busybox/bin(:|$)`).MatchString(got["PATH"]) {
		t.Errorf("in nix develop, PATH is %q, want busybox's bin in it", got["PATH"])
	}
}
