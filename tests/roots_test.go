package tests

// The closure roots nix/oci-tools.nix takes from the strings' context
// (rootsOf): exactly the context's store paths, whether or not the text
// names them; store paths the text names without context are not roots.
// Each test builds with nix-build and runs the container with runc.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// storeNames lists the names (without hashes) of the store paths in a
// bundle's rootfs, sorted.
func storeNames(t *testing.T, bundle string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(bundle, "rootfs", "nix", "store"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name()[33:])
	}
	sort.Strings(names)
	return names
}

// TestRootsExactPaths: a path the text names with another path's hash and a
// longer name ("<busybox's hash>-busybox-extra", "<prog.bin's
// hash>-prog-bin-extra") is not that path: the build used to fail ("not in
// the input closure"), and the container has only the context's paths.
func TestRootsExactPaths(t *testing.T) {
	need(t)
	t.Parallel()
	bundle := mustBuild(t, `
let
`+progExpr+`
  hashOf = p: builtins.substring 11 32 (builtins.unsafeDiscardStringContext p);
in
ociTools.buildContainer {
  name = "exact-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" ''
    echo /nix/store/${hashOf "${busybox}"}-busybox-extra/x
    echo /nix/store/${hashOf "${prog.bin}"}-prog-${nonce}-bin-extra/y
    ${prog.bin}/bin/prog
    ${busybox}/bin/busybox ls /nix/store | ${busybox}/bin/busybox cut -c34- | ${busybox}/bin/busybox sort
  '' ];
}`, true)
	validate(t, bundle)
	r := runc(t, bundle)
	want := regexp.MustCompile(`^/nix/store/[0-9a-z]{32}-busybox-extra/x
/nix/store/[0-9a-z]{32}-prog-` + h.nonce + `-bin-extra/y
message from the out output
args: 
busybox
prog-` + h.nonce + `
prog-` + h.nonce + `-bin
$`)
	if r.code != 0 || !want.MatchString(r.stdout) {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	names := storeNames(t, bundle)
	wantNames := []string{"busybox", "prog-" + h.nonce, "prog-" + h.nonce + "-bin"}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Errorf("rootfs store has %v, want %v", names, wantNames)
	}
}

// contextOnlyExpr defines dep, a derivation, and note, a file, and hidden,
// an empty string whose context holds both (as lib.addContextFrom and
// builtins.appendContext leave them).
const contextOnlyExpr = `
  dep = derivation {
    name = "dep-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "${busybox}/bin/busybox mkdir $out; echo dep data > $out/data" ];
  };
  note = builtins.toFile "note-${nonce}" "a note";
  hidden = builtins.substring 0 0 "${dep}"
    + builtins.appendContext "" { ${builtins.unsafeDiscardStringContext note} = { path = true; }; };
`

// TestRootsContextOnly: store paths only in the context, a derivation's
// output and a file, are roots, so the container has what nixpkgs'
// writeClosure would give and more, never less.
func TestRootsContextOnly(t *testing.T) {
	need(t)
	for _, sandbox := range []bool{true, false} {
		t.Run(fmt.Sprintf("sandbox=%v", sandbox), func(t *testing.T) {
			t.Parallel()
			bundle := mustBuild(t, `
let
`+contextOnlyExpr+`
in
ociTools.buildContainer {
  name = "context-only-`+fmt.Sprint(sandbox)+`-${nonce}";
  args = [ "${busybox}/bin/sh" ("-c" + hidden) "${busybox}/bin/busybox cat /nix/store/*-dep-*/data /nix/store/*-note-*" ];
}`, sandbox)
			validate(t, bundle)
			if r := runc(t, bundle); r.code != 0 || r.stdout != "dep data\na note" {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			want := []string{"busybox", "dep-" + h.nonce, "note-" + h.nonce}
			if names := storeNames(t, bundle); strings.Join(names, " ") != strings.Join(want, " ") {
				t.Errorf("rootfs store has %v, want %v", names, want)
			}
		})
	}
}

// TestRootsContentAddressed: the output of a content-addressed derivation
// (Nix's ca-derivations feature, experimental in every Nix tested here),
// whose path the strings hold as a placeholder until it is built, named in
// the text and only in the context.
func TestRootsContentAddressed(t *testing.T) {
	need(t)
	// The first Nix command with the feature adds its tables to the store's
	// database; several at once race to (Nix 2.26: "UNIQUE constraint
	// failed: SchemaMigrations.migration"), so one goes first.
	if r := runNix(t, "nix-instantiate", "--extra-experimental-features", "ca-derivations", "--read-write-mode", "--eval", "-E", `builtins.toFile "ca-derivations" ""`); r.err != nil {
		t.Fatal(r)
	}
	ca := `
  ca = derivation {
    name = "ca-${nonce}";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" ''
      ${busybox}/bin/busybox mkdir -p $out/bin
      printf '#!${busybox}/bin/sh\necho "content-addressed hello"\n' > $out/bin/hello
      ${busybox}/bin/busybox chmod 555 $out/bin/hello
    '' ];
    __contentAddressed = true;
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
  };
`
	for _, c := range []struct {
		name, args, want, extra string
	}{
		{"named", `[ "${ca}/bin/hello" ]`, "content-addressed hello\n", ""},
		{"context only", `[ "${busybox}/bin/sh" ("-c" + builtins.substring 0 0 "${ca}") "/nix/store/*-ca-*/bin/hello" ]`, "content-addressed hello\n", ""},
		// Verifying nothing, the container gets the closure graph from
		// the text export, through its graph helper derivation.
		{"unverified", `[ "${ca}/bin/hello" ]`, "content-addressed hello\n", "verify = false;"},
	} {
		for _, sandbox := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/sandbox=%v", c.name, sandbox), func(t *testing.T) {
				t.Parallel()
				r := nixBuild(t, fmt.Sprintf(`
let
%s
in
ociTools.buildContainer {
  name = "ca-%s-%v-${nonce}";
  args = %s;
  %s
}`, ca, strings.ReplaceAll(c.name, " ", "-"), sandbox, c.args, c.extra), sandbox, "--extra-experimental-features", "ca-derivations")
				if r.err != nil {
					t.Fatal(r)
				}
				validate(t, r.out)
				if rr := runc(t, r.out); rr.code != 0 || rr.stdout != c.want {
					t.Fatalf("exit %d, stdout %q, stderr %q", rr.code, rr.stdout, rr.stderr)
				}
				if names := storeNames(t, r.out); !strings.Contains(strings.Join(names, " "), "ca-"+h.nonce) {
					t.Errorf("rootfs store has %v, want ca-%s", names, h.nonce)
				}
			})
		}
	}
}

// TestRootsPureEvaluation: in a flake (pure evaluation), a file only in the
// context is a root, and a derivation's output only in the context, whose
// path only its .drv file tells and pure evaluation cannot read, is an
// evaluation error that says what to do.
func TestRootsPureEvaluation(t *testing.T) {
	needStandin(t)
	t.Parallel()
	system := hostSystem(t)
	dir := t.TempDir()
	flake := fmt.Sprintf(`{
  inputs.nixpkgs.url = "path:%s";
  inputs.oci-builder.url = "git+file://%s";
  inputs.oci-builder.inputs.nixpkgs.follows = "nixpkgs";
  outputs = { nixpkgs, oci-builder, ... }:
    let
      pkgs = import nixpkgs { system = %q; overlays = [ oci-builder.overlays.default ]; };
      busybox = pkgs.busybox;
      nonce = %q;
      system = %q;
%s
    in {
      packages.${system} = {
      file = pkgs.ociTools.buildContainer {
        name = "pure-file-${nonce}";
        args = [ "${busybox}/bin/sh" ("-c" + builtins.substring 0 0 "${note}") "${busybox}/bin/busybox cat /nix/store/*-note-*" ];
      };
      derivation = pkgs.ociTools.buildContainer {
        name = "pure-drv-${nonce}";
        args = [ "${busybox}/bin/sh" ("-c" + builtins.substring 0 0 "${dep}") "true" ];
      };
      };
    };
}
`, standin.dir, h.repo, system, h.nonce, system, contextOnlyExpr)
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(flake), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--extra-experimental-features", "nix-command flakes", "--option", "substituters", "", "--no-write-lock-file"}
	r := runNix(t, "nix", append(append([]string{"build"}, args...), "--no-link", "--json", "path:"+dir+"#file")...)
	bundle := builtPaths(t, r)[0]
	validate(t, bundle)
	if rr := runc(t, bundle); rr.code != 0 || rr.stdout != "a note" {
		t.Fatalf("exit %d, stdout %q, stderr %q", rr.code, rr.stdout, rr.stderr)
	}
	r = runNix(t, "nix", append(append([]string{"build"}, args...), "--no-link", "path:"+dir+"#derivation")...)
	want := regexp.MustCompile(`ociTools.buildContainer: the output 'out' of /nix/store/[0-9a-z]{32}-dep-` + h.nonce + `\.drv is in the strings' context but their text names no path for it, and pure evaluation cannot read its path from the .drv file: name the output in a string \("\$\{drv.out\}"\), or evaluate with --impure`)
	if r.err == nil || !want.MatchString(r.log) {
		t.Fatalf("want the error %s, got %v", want, r)
	}
}

// TestRootsLiteralPath: a store path the strings name without context is no
// dependency for Nix, so no root (as a root it would fail the build: "not in
// the input closure"), and the container would lack it: the builder refuses
// the process's strings that name a store path outside the closure, naming
// it, even one that exists.
func TestRootsLiteralPath(t *testing.T) {
	need(t)
	t.Parallel()
	r := nixBuild(t, `
let
  literal = builtins.unsafeDiscardStringContext (builtins.toFile "literal-${nonce}" "x");
in
assert builtins.pathExists literal;
ociTools.buildContainer {
  name = "literal-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" "echo ${literal}" ];
}`, true)
	want := regexp.MustCompile(`^oci-builder: error: args\[2\]: /nix/store/[0-9a-z]{32}-literal-` + h.nonce + ` is not in the closure graph`)
	if r.err == nil || !want.MatchString(errorLine(r.log)) {
		t.Fatalf("want the builder's error %s, got %v", want, r)
	}
}
