package tests

// What nixpkgs users get, through the stand-in nixpkgs (see
// tests/standin-nixpkgs): cross package sets, an overlay that extends
// ociTools, a builder that stays static whatever the pie hardening flag
// says, the package's meta and passthru.tests, the attributes of the
// results, the os/arch checks and nixpkgs' buildContainer defaults that
// buildImage accepts.

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/container"
)

// standinPkgs is an expression for the stand-in nixpkgs of this machine,
// with the project's overlay when overlay is true.
func standinPkgs(t *testing.T, overlay bool) string {
	t.Helper()
	overlays := ""
	if overlay {
		overlays = fmt.Sprintf(`overlays = [ (import %s/nix/overlay.nix) ]; `, h.repo)
	}
	return fmt.Sprintf(`(import %s { system = %q; %s})`, standin.dir, hostSystem(t), overlays)
}

// evalJSON evaluates expr strictly (writing the derivations it
// instantiates) and decodes the JSON of its value into v.
func evalJSON(t *testing.T, expr string, v any) {
	t.Helper()
	r := runNix(t, "nix-instantiate", "--eval", "--strict", "--json", "--read-write-mode", "--option", "substituters", "", "-E", expr)
	if r.err != nil {
		t.Fatal(r)
	}
	if err := json.Unmarshal([]byte(r.out), v); err != nil {
		t.Fatalf("decode %q: %v", r.out, err)
	}
}

// elfMachine returns the machine an ELF executable is for.
func elfMachine(t *testing.T, file string) elf.Machine {
	t.Helper()
	f, err := elf.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.Machine
}

// hasInterpreter tells whether an ELF executable names an interpreter.
func hasInterpreter(t *testing.T, file string) bool {
	t.Helper()
	f, err := elf.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// imagePlatform returns the os and architecture the image config of an OCI
// layout says.
func imagePlatform(t *testing.T, layout string) (string, string) {
	t.Helper()
	_, m := readLayout(t, layout)
	var cfg struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	}
	readJSONFile(t, blobPath(layout, m.Config.Digest), &cfg)
	return cfg.OS, cfg.Architecture
}

// TestStandinCross: pkgsCross.aarch64-multiplatform.ociTools.buildImage, from
// the overlay and from default.nix (lib.ociToolsFor), makes an arm64 image
// with an oci-builder built for, and run on, this x86_64 machine, while the
// cross package set's own oci-builder is an arm64 executable.
func TestStandinCross(t *testing.T) {
	needStandin(t)
	t.Parallel()
	if hostSystem(t) != "x86_64-linux" {
		t.Skip("the stand-in cross-compiles from x86_64-linux to aarch64-linux")
	}
	expr := fmt.Sprintf(`let
  cross = %s.pkgsCross.aarch64-multiplatform;
  viaDefault = (import %s/default.nix { pkgs = %s.pkgsCross.aarch64-multiplatform; }).ociTools;
  image = via: tools: tools.buildImage {
    name = "cross-${via}-%s";
    args = [ "${cross.hello}/bin/hello" ];
  };
  native = %s;
in {
  overlay = image "overlay" cross.ociTools;
  default = image "default" viaDefault;
  package = cross.oci-builder;
  # One index over the cross-built images (arm64, and arm v7 and v6 whose
  # variant only the host platform says) and a native one.
  index = cross.ociTools.buildImageIndex {
    name = "cross-index-%[4]s";
    images = [
      (image "overlay" cross.ociTools)
      (image "armv7" native.pkgsCross.armv7l-hf-multiplatform.ociTools)
      (image "armv6" native.pkgsCross.raspberryPi.ociTools)
      (native.ociTools.buildImage { name = "native-%[4]s"; args = [ "${native.hello}/bin/hello" ]; })
    ];
  };
  # nixpkgs' default arch, "x86_64", kept on aarch64: metadata only.
  container = cross.ociTools.buildContainer {
    name = "cross-container-%[4]s";
    args = [ "${cross.hello}/bin/hello" ];
    arch = "x86_64";
  };
}`, standinPkgs(t, true), h.repo, standinPkgs(t, false), h.nonce, standinPkgs(t, true))
	var info map[string]struct {
		Builder string `json:"builder"`
		System  string `json:"system"`
		Arch    string `json:"arch"`
	}
	evalJSON(t, fmt.Sprintf(`builtins.mapAttrs (n: d: { builder = d.builder or ""; system = d.system; arch = d.options.arch or ""; }) (%s)`, expr), &info)

	r := runNix(t, "nix-build", "--no-out-link", "--option", "substituters", "", "--option", "sandbox", "true", "-E", expr)
	if r.err != nil {
		t.Fatal(r)
	}
	// nix-build prints the attributes' outputs in name order.
	outs := strings.Fields(r.out)
	if len(outs) != 5 {
		t.Fatalf("nix-build printed %q", r.out)
	}
	built := map[string]string{"container": outs[0], "default": outs[1], "index": outs[2], "overlay": outs[3], "package": outs[4]}
	var index struct {
		Manifests []struct{ Digest, MediaType, ArtifactType string }
	}
	readJSONFile(t, filepath.Join(built["index"], "index.json"), &index)
	var platforms struct {
		Manifests []struct {
			Platform struct{ Architecture, Variant string }
		}
	}
	// The image index first, then its images' documents (three each).
	if len(index.Manifests) != 1+3*4 || index.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("the index layout names %d entries, the first a %q; want the image index and 12 documents", len(index.Manifests), index.Manifests[0].MediaType)
	}
	for _, m := range index.Manifests[1:] {
		if m.ArtifactType == "" {
			t.Errorf("the index layout's entry %s has no artifactType", m.Digest)
		}
	}
	readJSONFile(t, blobPath(built["index"], index.Manifests[0].Digest), &platforms)
	var got []string
	for _, m := range platforms.Manifests {
		got = append(got, m.Platform.Architecture+"/"+m.Platform.Variant)
	}
	if strings.Join(got, " ") != "arm64/v8 arm/v7 arm/v6 amd64/" {
		t.Errorf("the index of the cross-built and native images has %v, want arm64/v8 arm/v7 arm/v6 amd64/", got)
	}

	// The bundle's seccomp filter is the platform's (aarch64), whatever
	// arch says; arch is recorded as given.
	var config struct {
		Annotations map[string]string
		Linux       struct {
			Seccomp struct{ Architectures []string }
		}
	}
	readJSONFile(t, filepath.Join(built["container"], "config.json"), &config)
	if a := config.Linux.Seccomp.Architectures; len(a) == 0 || a[0] != "SCMP_ARCH_AARCH64" || config.Annotations["org.opencontainers.image.architecture"] != "amd64" {
		t.Errorf("cross container with arch = \"x86_64\": seccomp architectures %v, arch annotation %q; want SCMP_ARCH_AARCH64 first and amd64", a, config.Annotations["org.opencontainers.image.architecture"])
	}

	pkg := built["package"]
	if m := elfMachine(t, filepath.Join(pkg, "bin", "oci-builder")); m != elf.EM_AARCH64 {
		t.Errorf("pkgsCross.aarch64-multiplatform.oci-builder is for %v, want EM_AARCH64", m)
	}
	for _, via := range []string{"overlay", "default"} {
		d := info[via]
		if d.System != "x86_64-linux" || d.Arch != "arm64" {
			t.Errorf("%s: the image derivation builds on %q for arch %q, want x86_64-linux and arm64", via, d.System, d.Arch)
		}
		if strings.HasPrefix(d.Builder, pkg+"/") {
			t.Errorf("%s: the builder is the cross-compiled package %s", via, d.Builder)
		}
		if m := elfMachine(t, d.Builder); m != elf.EM_X86_64 {
			t.Errorf("%s: the builder %s is for %v, want EM_X86_64", via, d.Builder, m)
		}
		if os, arch := imagePlatform(t, built[via]); os != "linux" || arch != "arm64" {
			t.Errorf("%s: image config says %s/%s, want linux/arm64", via, os, arch)
		}
	}
}

// TestStandinOverlay: the overlay extends nixpkgs' ociTools (its other
// attributes stay), the containers default to the host platform's arch as a
// GOARCH value, carry their options and closure roots as attributes, and
// their derivations do not depend on stdenv.
func TestStandinOverlay(t *testing.T) {
	needStandin(t)
	t.Parallel()
	var got struct {
		Names         []string `json:"names"`
		PlainNames    []string `json:"plainNames"`
		SomethingElse string   `json:"somethingElse"`
		Arch          string   `json:"arch"`
		ImageArch     string   `json:"imageArch"`
		Args          []string `json:"args"`
		Roots         []string `json:"roots"`
		PassthruRoots []string `json:"passthruRoots"`
		ImageTag      string   `json:"imageTag"`
		Hello         string   `json:"hello"`
		DrvPath       string   `json:"drvPath"`
		ImageDrvPath  string   `json:"imageDrvPath"`
		Stdenv        string   `json:"stdenv"`
	}
	evalJSON(t, fmt.Sprintf(`let
  pkgs = %s;
  plain = %s;
  args = [ "${pkgs.hello}/bin/hello" "--greeting" ];
  c = pkgs.ociTools.buildContainer { inherit args; };
  i = pkgs.ociTools.buildImage { inherit args; tag = "v1"; };
in {
  # Names starting with "_" are the library's internal attributes.
  names = builtins.filter (n: builtins.substring 0 1 n != "_") (builtins.attrNames pkgs.ociTools);
  plainNames = builtins.attrNames plain.ociTools;
  inherit (pkgs.ociTools) somethingElse;
  arch = c.options.arch;
  imageArch = i.options.arch;
  args = c.options.args;
  roots = c.closureRoots;
  passthruRoots = c.passthru.closureRoots;
  imageTag = i.imageTag;
  hello = pkgs.hello.outPath;
  drvPath = c.drvPath;
  imageDrvPath = i.drvPath;
  stdenv = pkgs.stdenv.drvPath;
}`, standinPkgs(t, true), standinPkgs(t, false)), &got)

	if strings.Join(got.Names, ",") != "buildContainer,buildImage,buildImageIndex,buildImageWithNixDb,buildLayer,buildLayeredImage,buildLayeredImageWithNixDb,buildNixShellImage,exportImage,mergeImages,pullImage,somethingElse,streamLayeredImage,streamNixShellImage" || got.SomethingElse != "nixpkgs' ociTools.somethingElse" {
		t.Errorf("ociTools with the overlay has %v (somethingElse %q), want nixpkgs' somethingElse kept", got.Names, got.SomethingElse)
	}
	if strings.Join(got.PlainNames, ",") != "buildContainer,somethingElse" {
		t.Errorf("the stand-in's own ociTools has %v", got.PlainNames)
	}
	if got.Arch != "amd64" && got.Arch != "arm64" || got.ImageArch != got.Arch {
		t.Errorf("default arch %q (image %q), want the host platform's GOARCH", got.Arch, got.ImageArch)
	}
	if len(got.Args) != 2 || got.Args[0] != got.Hello+"/bin/hello" {
		t.Errorf("options.args %v", got.Args)
	}
	if strings.Join(got.Roots, ",") != got.Hello || strings.Join(got.PassthruRoots, ",") != got.Hello {
		t.Errorf("closureRoots %v, passthru.closureRoots %v, want [%s]", got.Roots, got.PassthruRoots, got.Hello)
	}
	if got.ImageTag != "v1" {
		t.Errorf("imageTag %q", got.ImageTag)
	}
	// stdenv is read at evaluation only: no derivation depends on it.
	for _, drv := range []string{got.DrvPath, got.ImageDrvPath} {
		r := runNix(t, "nix-store", "--query", "--requisites", drv)
		if r.err != nil {
			t.Fatal(r)
		}
		if strings.Contains(r.out, got.Stdenv) || strings.Contains(r.out, "stdenv") {
			t.Errorf("%s depends on stdenv:\n%s", drv, r.out)
		}
	}
}

// TestStandinPie: the stand-in turns the pie hardening flag on by default,
// as pkgsMusl does, and its buildGoModule then adds -buildmode=pie, as
// nixpkgs' does. The package disables it; without that, the executable
// would have an ELF interpreter, and the package's install check refuses it.
func TestStandinPie(t *testing.T) {
	needStandin(t)
	t.Parallel()
	system := hostSystem(t)
	prefix := fmt.Sprintf(`let
  pkgs = import %%s { system = %q; overlays = [ (import %s/nix/overlay.nix) ]; };
  base = pkgs.lib.fix (pkgs.callPackage %s/nix/package.nix { buildGoModule = f: f; });
  pie = pkgs.buildGoModule (base // { hardeningDisable = [ ]; doCheck = false; });
in
`, system, h.repo, h.repo)
	var flags struct {
		Defaults  []string `json:"defaults"`
		Package   string   `json:"package"`
		PackageGo []string `json:"packageGoflags"`
		Pie       string   `json:"pie"`
		PieGo     goBuild  `json:"pieBuild"`
	}
	evalJSON(t, fmt.Sprintf(prefix, standin.dir)+`{
  defaults = pkgs.stdenv.defaultHardeningFlags;
  package = pkgs.oci-builder.NIX_HARDENING_ENABLE;
  packageGoflags = pkgs.oci-builder.GOFLAGS;
  pie = pie.NIX_HARDENING_ENABLE;
  pieBuild = { inherit (pie) src GOFLAGS ldflags CGO_ENABLED GOOS GOARCH subPackages; };
}`, &flags)
	if !strings.Contains(strings.Join(flags.Defaults, " "), "pie") || !strings.Contains(flags.Pie, "pie") {
		t.Fatalf("the stand-in's default hardening flags %v lack pie", flags.Defaults)
	}
	if strings.Contains(flags.Package, "pie") || strings.Contains(strings.Join(flags.PackageGo, " "), "pie") {
		t.Fatalf("the package has NIX_HARDENING_ENABLE %q and GOFLAGS %v: hardeningDisable lost pie", flags.Package, flags.PackageGo)
	}
	if flags.PieGo.GOFLAGS[0] != "-buildmode=pie" {
		t.Fatalf("with pie on, GOFLAGS are %v, want -buildmode=pie first", flags.PieGo.GOFLAGS)
	}

	// A stand-in whose prebuilt program is what buildGoModule would make
	// with pie on: an executable with an ELF interpreter.
	dir := filepath.Join(t.TempDir(), "standin-nixpkgs")
	if err := copyTree(standin.dir, dir); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prebuilt", system, "bin", "oci-builder")
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	env := []string{"GO111MODULE=on", "GOTOOLCHAIN=local", "GOFLAGS=" + strings.Join(flags.PieGo.GOFLAGS, " "), "CGO_ENABLED=" + flags.PieGo.CGOEnabled, "GOOS=" + flags.PieGo.GOOS, "GOARCH=" + flags.PieGo.GOARCH}
	if _, err := command(filepath.Join(h.work, "go-src"), env, "go", "build", "-ldflags="+strings.Join(flags.PieGo.Ldflags, " "), "-o", bin, "./cmd/oci-builder"); err != nil {
		t.Fatal(err)
	}
	if !hasInterpreter(t, bin) {
		t.Fatal("-buildmode=pie made an executable without an ELF interpreter here: the test shows nothing")
	}
	data, err := json.Marshal(flags.PieGo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prebuilt", system, "build.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runNix(t, "nix-build", "--no-out-link", "--option", "substituters", "", "--option", "sandbox", "true", "-E", fmt.Sprintf(prefix, dir)+"pie")
	want := "/bin/oci-builder has an ELF interpreter (PT_INTERP): a builder must be a static executable"
	if r.err == nil || !strings.Contains(r.log, want) {
		t.Fatalf("building the package with pie on: want the install check to fail with %q, got %v", want, r)
	}
}

// TestFlakePassthruTests builds the package's passthru.tests (the version
// test and the example container built by the package itself) and checks
// its meta.
func TestFlakePassthruTests(t *testing.T) {
	needStandin(t)
	t.Parallel()
	system := hostSystem(t)
	pkg := "packages." + system + ".oci-builder"
	var meta struct {
		Homepage    string `json:"homepage"`
		MainProgram string `json:"mainProgram"`
		License     struct {
			SpdxID string `json:"spdxId"`
		} `json:"license"`
	}
	r := nixFlake(t, standin.dir, false, []string{"eval"}, "--json", flakeRef(pkg+".meta"))
	if r.err != nil {
		t.Fatal(r)
	}
	if err := json.Unmarshal([]byte(r.out), &meta); err != nil {
		t.Fatal(err)
	}
	if meta.License.SpdxID != "MIT" || meta.Homepage != "https://github.com/oci-builder/oci-builder" || meta.MainProgram != "oci-builder" {
		t.Errorf("meta %+v", meta)
	}
	paths := builtPaths(t, nixFlake(t, standin.dir, true, []string{"build"}, "--no-link", "--json", flakeRef(pkg+".tests.version"), flakeRef(pkg+".tests.example")))
	sort.Strings(paths)
	if len(paths) != 2 || !strings.HasSuffix(paths[0], "-hello-standin-container") && !strings.HasSuffix(paths[1], "-hello-standin-container") {
		t.Fatalf("built %v", paths)
	}
	bundle := paths[0]
	if !strings.HasSuffix(bundle, "-container") {
		bundle = paths[1]
	}
	validate(t, bundle)
	if rr := runc(t, bundle); rr.code != 0 || rr.stdout != "Hello, world!\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", rr.code, rr.stdout, rr.stderr)
	}
}

// TestArchNames: the architectures nix/oci-tools.nix accepts at evaluation
// are exactly those oci-builder accepts (pkg/container.Platform).
func TestArchNames(t *testing.T) {
	need(t)
	t.Parallel()
	r := runNix(t, "nix-instantiate", writeExpr(t, `ociTools.buildContainer { args = [ "${busybox}/bin/sh" ]; arch = "vax"; }`))
	m := regexp.MustCompile(`'arch' must be one of the architectures oci-builder accepts \(([^)]*)\), got "vax"`).FindStringSubmatch(r.log)
	if m == nil {
		t.Fatalf("no list of architectures in %v", r)
	}
	nixNames := strings.Split(m[1], ", ")
	for _, n := range nixNames {
		if _, _, err := container.Platform("linux", n); err != nil {
			t.Errorf("nix/oci-tools.nix accepts %q, oci-builder refuses it: %v", n, err)
		}
	}
	// The names of Platform's switch.
	src, err := os.ReadFile(filepath.Join(h.repo, "pkg", "container", "container.go"))
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile(`(?s)\nfunc Platform\(.*?\n}\n`).Find(src)
	var goNames []string
	for _, c := range regexp.MustCompile(`(?m)^\s*case (.*):$`).FindAllSubmatch(body, -1) {
		for _, q := range regexp.MustCompile(`"([^"]*)"`).FindAllSubmatch(c[1], -1) {
			if s := string(q[1]); s != "" && s != "linux" {
				goNames = append(goNames, s)
			}
		}
	}
	sort.Strings(goNames)
	sorted := append([]string(nil), nixNames...)
	sort.Strings(sorted)
	if strings.Join(goNames, " ") != strings.Join(sorted, " ") {
		t.Errorf("pkg/container.Platform accepts\n%v\nnix/oci-tools.nix accepts\n%v", goNames, sorted)
	}
	// Without nixpkgs, the default is still the CPU of the system.
	var arch string
	evalJSON(t, prelude()+`(ociTools.buildContainer { args = [ "${busybox}/bin/sh" ]; }).options.arch`, &arch)
	if want := strings.Split(hostSystem(t), "-")[0]; arch != want {
		t.Errorf("default arch without nixpkgs %q, want %q", arch, want)
	}
}

// TestImageNixpkgsDefaults: buildImage takes the runtime options at the
// values nixpkgs' buildContainer gives them by default, and ignores them:
// the derivation is the one without them.
func TestImageNixpkgsDefaults(t *testing.T) {
	need(t)
	t.Parallel()
	var drvs []string
	evalJSON(t, prelude()+`map (extra: (ociTools.buildImage ({ args = [ "${busybox}/bin/sh" ]; } // extra)).drvPath) [
  { }
  { readonly = false; }
  { mounts = { }; }
  { readonly = false; mounts = { }; }
]`, &drvs)
	for _, d := range drvs[1:] {
		if d != drvs[0] {
			t.Fatalf("derivations %v, want one", drvs)
		}
	}
}
