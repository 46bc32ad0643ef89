package tests

import (
	"fmt"
	"strings"
	"testing"
)

// nixShellRefusal is what streamNixShellImage says without nixpkgs.
const nixShellRefusal = "ociTools.streamNixShellImage: needs nixpkgs (bashInteractive, cacert, coreutils, stdenv)"

// nixShellChecks are nixos/tests/docker-tools-nix-shell.nix's checks of
// the streamNixShellImage examples that TestDockerToolsExamples loaded
// into the daemon d, besides the probes it ran: those run with a
// terminal (docker run -t: bash reads its rcfile when interactive), and
// what the image is (its user, the directories it owns, the
// environment).
func nixShellChecks(t *testing.T, d *daemon) {
	t.Helper()
	terminal := func(ref string, args ...string) string {
		t.Helper()
		out, err := d.try(d.dockerEnv(), "", append([]string{"docker", "run", "--rm", "-t", "--network", "none", ref}, args...)...)
		if err != nil {
			t.Errorf("%s: docker run -t: %v\n%s", ref, err, out)
		}
		return strings.ReplaceAll(out, "\r\n", "\n")
	}
	for ref, want := range map[string]string{
		// The shellHook runs (runHook, defined by $stdenv/setup).
		"nix-shell-hook:latest": "This is the shell hook!\n",
		// $stdenv/setup puts the inputs on PATH.
		"nix-shell-inputs:latest": "Hello, world!\n",
		// passAsFile's attributes are files, named by NAMEPath.
		"nix-shell-pass-as-file:latest": "this is a string",
		// command runs in an interactive shell, run in one that is not,
		// even on a terminal.
		"nix-shell-command:latest": "This shell is interactive\n",
		"nix-shell-run:latest":     "This shell is not interactive\n",
	} {
		if got := terminal(ref); !strings.Contains(got, want) {
			t.Errorf("%s: docker run -t printed %q, want %q", ref, got, want)
		}
	}
	// In one container, the stdenv's setup sourced (its tools on PATH), as
	// the rcfile does: as nixpkgs' fakeRootCommands leaves them, the build
	// user owns the store, Nix's state, /etc/nix, the build, home and
	// temporary directories; the build user by name and the sandbox's
	// variables; the CA bundle where the variables and distributions look;
	// /bin/sh, /usr/bin/env, the C compiler's libraries, nix.conf.
	script := `. "$stdenv/setup"
stat -c '%n %u:%g %a' /nix/store /nix/var/nix /etc/nix /build /homeless-shelter /tmp
echo "$(id -un) $(id -u):$(id -g) $PWD $HOME $NIX_BUILD_TOP $TMPDIR $NIX_BUILD_CORES $TERM"
cat "$SSL_CERT_FILE" "$NIX_SSL_CERT_FILE" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt | sort -u
/bin/sh -c 'echo sh' && /usr/bin/env true && echo env
cat "${LD_LIBRARY_PATH%%:*}/README" /etc/nix/nix.conf`
	want := `/nix/store 1000:1000 755
/nix/var/nix 1000:1000 755
/etc/nix 1000:1000 755
/build 1000:1000 755
/homeless-shelter 1000:1000 755
/tmp 1000:1000 755
nixbld 1000:1000 /homeless-shelter /homeless-shelter /build /tmp 1 xterm-256color
-- a stand-in CA bundle --
sh
env
stand-in for gcc's libraries
experimental-features = nix-command flakes
`
	if got := d.docker(t, "", "run", "--rm", "--network", "none", "nix-shell-nonexistent-home:latest", "bash", "-c", script); got != want {
		t.Errorf("nix-shell-nonexistent-home: %s\nprinted %q, want %q", script, got, want)
	}
}

// TestNixShellImage checks what streamNixShellImage and buildNixShellImage
// refuse, in one line each, with the stand-in nixpkgs and without; and
// builds buildNixShellImage's archive (twice: nix-build --check), which
// docker loads and runs, its build user building the derivation.
func TestNixShellImage(t *testing.T) {
	needStandin(t)
	pkgs := standinPkgs(t, true)
	for _, c := range []struct{ call, want string }{
		{`pkgs.ociTools.streamNixShellImage { drv = pkgs.hello; command = "a"; run = "b"; }`,
			"ociTools.streamNixShellImage: Can't specify both command and run"},
		{`pkgs.ociTools.streamNixShellImage { drv = derivation { name = "s"; system = "x"; builder = "/b"; __structuredAttrs = true; }; }`,
			"ociTools.streamNixShellImage: Does not work with the derivation s because it uses __structuredAttrs"},
		{`pkgs.ociTools.buildNixShellImage { drv = pkgs.hello; foo = 1; }`,
			"ociTools.buildNixShellImage: 'foo' is not an argument of dockerTools.buildNixShellImage"},
		{`pkgs.ociTools.streamNixShellImage { name = "x"; }`,
			"ociTools.streamNixShellImage: 'drv' must be a derivation"},
		{`pkgs.ociTools.streamNixShellImage { drv = pkgs.hello; uid = "1000"; }`,
			"ociTools.streamNixShellImage: 'uid' must be an integer, got a string"},
		{`pkgs.ociTools.streamNixShellImage { drv = pkgs.hello; homeDirectory = "home"; }`,
			"ociTools.streamNixShellImage: 'homeDirectory' must be an absolute path"},
		{`pkgs.ociTools.buildNixShellImage { drv = pkgs.hello; compressor = "xz"; }`,
			"ociTools.buildNixShellImage: 'compressor' must be \"gz\", \"zstd\" or \"none\""},
		{`pkgs.ociTools.streamNixShellImage { drv = pkgs.hello; name = "a..b"; }`,
			"ociTools.streamNixShellImage: 'name' \"a..b\" is not a valid image name"},
		{`pkgs.ociTools.buildNixShellImage { drv = pkgs.hello; tag = "-x"; }`,
			"ociTools.buildNixShellImage: 'tag' \"-x\" is not a valid tag"},
		{`pkgs.ociTools.streamNixShellImage { drv = pkgs.hello; maxLayers = 1; }`,
			"ociTools.streamNixShellImage: 'maxLayers' must be an integer from 2 to 125"},
		{`pkgs.ociTools.buildNixShellImage "hello"`,
			"ociTools.buildNixShellImage: 'arguments' must be an attribute set"},
		{`pkgs.ociTools.buildNixShellImage pkgs.hello`,
			"ociTools.buildNixShellImage: 'arguments' must be an attribute set (dockerTools.buildNixShellImage's arguments: { drv = derivation; }), got a derivation"},
		{`pkgs.ociTools.streamNixShellImage pkgs.hello`,
			"ociTools.streamNixShellImage: takes an attribute set of dockerTools.streamNixShellImage's arguments ({ drv = derivation; }), got a derivation"},
		{`pkgs.ociTools.streamNixShellImage { drv = pkgs.hello; name = 3; }`,
			"ociTools.streamNixShellImage: 'name' must be a string, got an int"},
		{`ociTools.buildNixShellImage { drv = pkgs.hello; }`,
			"ociTools.buildNixShellImage: needs nixpkgs (bashInteractive, cacert, coreutils, stdenv)"},
	} {
		r := runNix(t, "nix-instantiate", writeExpr(t, fmt.Sprintf("let pkgs = %s; in (%s).drvPath", pkgs, c.call)))
		if r.err == nil || strings.Count(r.log, c.want) != 1 || len(nixErrorMessage.FindAllString(r.log, -1)) != 1 {
			t.Errorf("%s: want one error containing %q, got %v\n%s", c.call, c.want, r.err, r.log)
		}
	}

	file := writeExpr(t, fmt.Sprintf(`let pkgs = %s; in pkgs.ociTools.buildNixShellImage {
  drv = pkgs.hello;
  run = "buildDerivation && $out/bin/hello";
  tag = "v1";
}`, pkgs))
	r := nixBuildFile(t, file, true)
	if r.err != nil {
		t.Fatal(r)
	}
	if r := nixBuildFile(t, file, true, "--check"); r.err != nil {
		t.Fatal(r)
	}
	archive := strings.TrimSpace(r.out)
	if !strings.HasSuffix(archive, "-hello-standin-env.tar") {
		t.Errorf("buildNixShellImage's output is %s, want NAME.tar (NAME hello-standin-env)", archive)
	}
	d := dockerDaemon(t)
	if loaded := d.docker(t, archive, "load"); !strings.Contains(loaded, "Loaded image: hello-standin-env:v1") {
		t.Fatalf("docker load printed %q", loaded)
	}
	if got := d.docker(t, "", "run", "--rm", "--network", "none", "hello-standin-env:v1"); got != "Hello, world!\n" {
		t.Errorf("docker run printed %q, want Hello, world!", got)
	}
}
