package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// progExpr is a two-output derivation built with busybox: "bin" holds an
// executable script that reads a message from "out", so the container's
// closure needs both outputs, found through the derivation's string context.
const progExpr = `
  prog = derivation {
    name = "prog-${nonce}";
    inherit system;
    outputs = [ "out" "bin" ];
    builder = "${busybox}/bin/sh";
    args = [ "-c" ''
      ${busybox}/bin/busybox mkdir -p $out/share $bin/bin
      echo "message from the out output" > $out/share/msg
      printf '#!${busybox}/bin/sh\n${busybox}/bin/busybox cat %s/share/msg\necho "args: $*"\n' $out > $bin/bin/prog
      ${busybox}/bin/busybox chmod 555 $bin/bin/prog
    '' ];
  };
`

func TestBusyboxScript(t *testing.T) {
	need(t)
	for _, sandbox := range []bool{true, false} {
		t.Run(fmt.Sprintf("sandbox=%v", sandbox), func(t *testing.T) {
			t.Parallel()
			file := writeExpr(t, fmt.Sprintf(`
let
  script = builtins.toFile "hello.sh" ''
    echo "hello from the container"
    echo "script is $0"
    exit 7
  '';
in
ociTools.buildContainer {
  name = "script-%v-${nonce}";
  args = [ "${busybox}/bin/sh" script ];
}`, sandbox))
			r0 := nixBuildFile(t, file, sandbox)
			if r0.err != nil {
				t.Fatal(r0)
			}
			bundle := r0.out
			// A rebuild must give the same bytes.
			if r := nixBuildFile(t, file, sandbox, "--check"); r.err != nil {
				t.Fatal(r)
			}
			validate(t, bundle)
			r := runc(t, bundle)
			if r.code != 7 || !strings.Contains(r.stdout, "hello from the container\n") {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, "script is /nix/store/") || !strings.Contains(r.stdout, "-hello.sh") {
				t.Fatalf("stdout %q", r.stdout)
			}
			// The rootfs holds exactly the closure: busybox and the script.
			entries, err := os.ReadDir(filepath.Join(bundle, "rootfs/nix/store"))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name()[33:])
			}
			if strings.Join(names, ",") != "busybox,hello.sh" && strings.Join(names, ",") != "hello.sh,busybox" {
				t.Fatalf("rootfs store holds %v", names)
			}
		})
	}
}

func TestStringsEmbeddingPaths(t *testing.T) {
	need(t)
	t.Parallel()
	bundle := mustBuild(t, `
let
  greeting = builtins.toFile "greeting" "embedded paths work";
in
ociTools.buildContainer {
  name = "embedded-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" "exec ${busybox}/bin/busybox cat ${greeting}" ];
}`, true)
	validate(t, bundle)
	r := runc(t, bundle)
	if r.code != 0 || r.stdout != "embedded paths work" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestDerivationOutputs(t *testing.T) {
	need(t)
	t.Parallel()
	for _, form := range []string{
		`args = [ "${prog.bin}/bin/prog" "one" "two" ];`,
		// cmd, as in the original manual: one program and no arguments.
		`cmd = "${prog.bin}/bin/prog";`,
	} {
		t.Run(strings.Fields(form)[0], func(t *testing.T) {
			bundle := mustBuild(t, "let\n"+progExpr+"in\nociTools.buildContainer { "+form+" }", false)
			validate(t, bundle)
			r := runc(t, bundle)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "message from the out output\nargs:") {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if form[0] == 'a' && !strings.Contains(r.stdout, "args: one two") {
				t.Fatalf("stdout %q", r.stdout)
			}
			if !strings.HasSuffix(bundle, "-prog-"+h.nonce+"-bin-container") {
				t.Fatalf("default name: %s", bundle)
			}
		})
	}
}

func TestMountsAndReadonly(t *testing.T) {
	need(t)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(t.TempDir(), "single")
	if err := os.WriteFile(hostFile, []byte("a single file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, readonly := range []bool{true, false} {
		t.Run(fmt.Sprintf("readonly=%v", readonly), func(t *testing.T) {
			bundle := mustBuild(t, fmt.Sprintf(`
let
  bb = "${busybox}/bin/busybox";
in
ociTools.buildContainer {
  name = "mounts-%[1]v-${nonce}";
  readonly = %[1]v;
  mounts = {
    "/data" = { source = %[2]q; options = [ "ro" ]; };
    "/etc/single" = { source = %[3]q; isFile = true; };
    "/scratch" = { type = "tmpfs"; options = [ "size=1m" ]; };
  };
  args = [ "${busybox}/bin/sh" "-c" ''
    ${bb} cat /data/f /etc/single
    ${bb} awk '$2 == "/" { split($4, o, ","); print "root " o[1] }' /proc/mounts
    ${bb} touch /data/new 2>&1 | ${bb} sed 's/.*: //'
    ${bb} awk '$2 == "/scratch" { print "scratch " $3 }' /proc/mounts
    ${bb} touch /new 2>&1 | ${bb} sed 's/.*: //'
  '' ];
}`, readonly, data, hostFile), true)
			config := validate(t, bundle)
			// nixpkgs' readonly = false gives a read-only root too: a
			// bundle in the store is never written through.
			if !strings.Contains(string(config), `"readonly": true`) {
				t.Fatalf("root.readonly not true in config")
			}
			r := runc(t, bundle)
			want := "from the host\na single file\nroot ro\nRead-only file system\nscratch tmpfs\nRead-only file system\n"
			if r.code != 0 || r.stdout != want {
				t.Fatalf("exit %d, stdout\n%s\nwant\n%s\nstderr %q", r.code, r.stdout, want, r.stderr)
			}
		})
	}
}

// TestEvaluationErrors checks that the Nix library rejects wrong arguments
// when it is evaluated, naming the argument.
func TestEvaluationErrors(t *testing.T) {
	need(t)
	tests := []struct {
		name, args, want string
	}{
		{"args not a list", `args = "${busybox}/bin/sh";`, "ociTools.buildContainer: 'args' must be a list of strings, got a string"},
		{"args element", `args = [ "${busybox}/bin/sh" 1 ];`, "'args' must be a list of strings, got an element that is an int"},
		{"args empty", `args = [ ];`, "'args' must not be empty"},
		{"no args", ``, "'args' (or 'cmd') is required"},
		{"cmd and args", `cmd = "${busybox}/bin/sh"; args = [ "x" ];`, "give either 'cmd' or 'args', not both"},
		{"cmd not a program", `cmd = [ "x" ];`, "'cmd' must be a program (a string, path or derivation), got a list"},
		{"mounts a list", `args = [ "x" ]; mounts = [ ];`, "'mounts' must be an attribute set of mounts, got a list"},
		{"mount not a set", `args = [ "x" ]; mounts."/d" = "/x";`, `'mounts."/d"' must be an attribute set, got a string`},
		{"mount unknown attr", `args = [ "x" ]; mounts."/d" = { source = "/x"; sorce = "/y"; };`, `'mounts."/d"' has unknown attribute 'sorce'`},
		{"mount options", `args = [ "x" ]; mounts."/d" = { source = "/x"; options = "ro"; };`, `'mounts."/d".options' must be a list of strings, got a string`},
		{"mount source", `args = [ "x" ]; mounts."/d" = { source = 1; };`, `'mounts."/d".source' must be a string, got an int`},
		{"readonly", `args = [ "x" ]; readonly = "yes";`, "'readonly' must be a boolean, got a string"},
		{"arch", `args = [ "x" ]; arch = 64;`, "'arch' must be a string, got an int"},
		// The builder's own checks of os and arch come at evaluation too.
		{"unknown arch", `args = [ "x" ]; arch = "vax";`, `ociTools.buildContainer: 'arch' must be one of the architectures oci-builder accepts (amd64, x86_64, arm64, aarch64, `},
		{"unknown os", `args = [ "x" ]; os = "plan9";`, `ociTools.buildContainer: 'os' must be "linux" (oci-builder makes Linux containers), got "plan9"`},
		{"name", `args = [ "x" ]; name = 1;`, "'name' must be a string, got an int"},
		{"name not a store name", `args = [ "x" ]; name = "../../x";`, `ociTools.buildContainer: 'name' "../../x" cannot name a store path: use letters, digits and + - . _ ? =`},
		{"unknown argument", `args = [ "x" ]; usr = "nobody";`, "called with unexpected argument 'usr'"},
		{"storeMode unknown", `args = [ "x" ]; storeMode = "symlink";`, `ociTools.buildContainer: 'storeMode' must be one of "copy", "reflink", "hardlink", "bind", got "symlink"`},
		{"storeMode not a string", `args = [ "x" ]; storeMode = true;`, `'storeMode' must be one of "copy", "reflink", "hardlink", "bind", got a bool`},
		{"verify not a bool", `args = [ "x" ]; verify = "yes";`, "ociTools.buildContainer: 'verify' must be a boolean, got a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runNix(t, "nix-instantiate", writeExpr(t, "ociTools.buildContainer { "+tc.args+" }"))
			if r.err == nil || !strings.Contains(r.log, tc.want) {
				t.Fatalf("want error %q, got %v", tc.want, r)
			}
		})
	}
}

// TestBuilderErrors checks the builder's own checks through real nix-build:
// one error line naming the culprit and a failed build.
func TestBuilderErrors(t *testing.T) {
	need(t)
	tests := []struct {
		name, args, want string
	}{
		{"relative mount", `mounts.data = { source = "/srv"; };`, `oci-builder: error: mount destination "data" is not an absolute path`},
		{"dot-dot mount", `mounts."/data/../etc" = { source = "/srv"; };`, `oci-builder: error: mount destination "/data/../etc" contains ".."`},
		{"mount without source", `mounts."/data" = { };`, "oci-builder: error: mount /data: a bind mount needs a source"},
		{"path outside the closure", `args = [ "${busybox}/bin/sh" (builtins.unsafeDiscardStringContext (builtins.toFile "other" "x")) ];`,
			"oci-builder: error: args[1]: /nix/store/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			if !strings.Contains(args, "args =") {
				args += ` args = [ "${busybox}/bin/sh" ];`
			}
			r := nixBuild(t, `ociTools.buildContainer { name = "err-${nonce}"; `+args+` }`, true)
			if r.err == nil {
				t.Fatalf("build succeeded: %s", r.out)
			}
			line := errorLine(r.log)
			if !strings.HasPrefix(line, tc.want) {
				t.Fatalf("error line %q, want %q\n%s", line, tc.want, r.log)
			}
		})
	}
}
