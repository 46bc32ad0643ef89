package tests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// dockerExpr is a typical dockerTools.buildLayeredImage expression, with
// ociTools in place of dockerTools: busybox in contents, a config with
// Cmd, Env, WorkingDir, User, ExposedPorts and Labels.
const dockerExpr = `ociTools.buildLayeredImage {
  name = "example.org/team/app-${nonce}";
  contents = [ busybox ];
  config = {
    Cmd = [ "/bin/sh" "-c" ''
      echo "sh $(readlink /bin/sh)"
      echo "id $(id -u):$(id -g)"
      echo "greeting $GREETING"
      echo "pwd $(pwd)"
    '' ];
    Env = [ "GREETING=hello world" "PATH=/bin" ];
    WorkingDir = "/srv/app";
    User = "1000:1000";
    ExposedPorts = { "8080/tcp" = { }; };
    Labels = { "org.example.answer" = "42"; };
  };
  %s
}`

// TestDockerCompatLayeredImage builds a dockerTools-style expression with
// ociTools.buildLayeredImage (builtins only, and through the stand-in
// nixpkgs with the overlay), rebuilds it with --check, inspects the archive
// with skopeo (oci-archive:) and runs it with umoci and runc, and with
// podman (the archive, and the docker-archive oci-builder copy writes of
// it): /bin/sh comes from contents, and env, cwd and user are as written.
func TestDockerCompatLayeredImage(t *testing.T) {
	// Parallel: its own builds, directories and image names (CI time).
	t.Parallel()
	needTools(t)
	for _, via := range []string{"builtins", "standin"} {
		t.Run(via, func(t *testing.T) {
			img := buildDockerExpr(t, dockerExpr, via)
			tag := "v1"
			if via == "standin" {
				// dockerTools' default: the output path's hash.
				tag = filepath.Base(img)[:32]
			}
			if !strings.HasSuffix(img, "-app-"+h.nonce+".tar") {
				t.Fatalf("output %s: the derivation is not named as the image's baseNameOf, .tar", img)
			}
			ref := "oci-archive:" + img + ":" + tag
			var inspect struct {
				Config struct {
					Cmd          []string
					Entrypoint   []string
					Env          []string
					WorkingDir   string
					User         string
					ExposedPorts map[string]any
					Labels       map[string]string
				} `json:"config"`
			}
			if err := json.Unmarshal(tool(t, "skopeo", "inspect", "--config", ref), &inspect); err != nil {
				t.Fatal(err)
			}
			c := inspect.Config
			if c.Entrypoint != nil || len(c.Cmd) != 3 || c.Cmd[0] != "/bin/sh" ||
				strings.Join(c.Env, ",") != "GREETING=hello world,PATH=/bin" || c.WorkingDir != "/srv/app" ||
				c.User != "1000:1000" || c.Labels["org.example.answer"] != "42" || c.ExposedPorts["8080/tcp"] == nil || len(c.ExposedPorts) != 1 {
				t.Fatalf("image config %+v", c)
			}
			layout := filepath.Join(t.TempDir(), "layout")
			tool(t, "skopeo", "--insecure-policy", "copy", ref, "oci:"+layout+":"+tag)
			res := unpackAndRun(t, layout+":"+tag)
			if res.code != 0 {
				t.Fatalf("runc: exit %d, stderr %q", res.code, res.stderr)
			}
			checkDockerRun(t, "umoci+runc", res.stdout)
			if havePodman(t) {
				// podman runs the archive itself, and the docker-archive
				// oci-builder copy writes of it.
				root := podmanRoot(t)
				checkDockerRun(t, "podman run oci-archive:", podmanRun(t, root, ref))
				archive := filepath.Join(t.TempDir(), "image.tar")
				dockerRef := "example.org/team/app-" + h.nonce + ":" + tag
				tool(t, builderBin(), "copy", img, "docker-archive:"+archive+":"+dockerRef)
				if out := podman(t, root, nil, "load", "-i", archive); !strings.Contains(out, dockerRef) {
					t.Fatalf("podman load: %s", out)
				}
				checkDockerRun(t, "podman load of oci-builder copy's docker-archive", podmanRun(t, root, dockerRef))
			}
		})
	}
}

// TestDockerCompatRefused: the arguments that need a shell are refused
// without nixpkgs, naming the alternative; bad values and Docker's own
// configuration fields are refused naming the argument.
func TestDockerCompatRefused(t *testing.T) {
	need(t)
	t.Parallel()
	for arg, want := range map[string]string{
		`extraCommands = "mkdir tmp";`:                                   "ociTools.buildLayeredImage: 'extraCommands' is not supported without nixpkgs: it runs a shell",
		`fakeRootCommands = "chown 1 x";`:                                "'fakeRootCommands' is not supported",
		`runAsRoot = "true";`:                                            "'runAsRoot' is an argument of dockerTools.buildImage, not of buildLayeredImage: use fakeRootCommands with enableFakechroot = true",
		`compressor = "xz";`:                                             "'compressor' must be \"gz\", \"zstd\" or \"none\"",
		`contents = [ 3 ];`:                                              "'contents' must be a package, a store path or a list of them",
		`contents = [ "hello" ];`:                                        "'contents' must be a package, a store path or a list of them, got the string \"hello\", which names no store path",
		`fromImage = 1;`:                                                 "'fromImage' must be an image (a derivation or a path: a docker-archive, an OCI layout or an oci-archive), got an int",
		`layeringPipeline = [ ];`:                                        "'layeringPipeline' is empty: it would leave the closure one graph",
		`config.Cmd = "/bin/sh";`:                                        "'config.Cmd' must be a list of strings",
		`config.Env = [ "NOVALUE" ];`:                                    "'config.Env' must be a list of \"NAME=VALUE\" strings, got \"NOVALUE\"",
		`config.WorkingDir = "srv";`:                                     "'config.WorkingDir' must be an absolute path",
		`config.Hostname = "x";`:                                         "'config.Hostname' is not supported: an image configuration takes ArgsEscaped, Cmd,",
		`config.Healthcheck = { };`:                                      "'config.Healthcheck.Test' must be a non-empty list of strings: [ \"CMD\" PROGRAM ARGS... ], [ \"CMD-SHELL\" COMMAND ] or [ \"NONE\" ], got none",
		`config.Healthcheck.Test = [ "curl" ];`:                          "'config.Healthcheck.Test' must start with \"NONE\", \"CMD\" or \"CMD-SHELL\", got \"curl\"",
		`config.Healthcheck.Test = [ "CMD" ];`:                           "'config.Healthcheck.Test' gives no command after \"CMD\"",
		`config.Healthcheck = { Test = [ "NONE" ]; Interval = "30s"; };`: "'config.Healthcheck.Interval' must be a non-negative integer (nanoseconds, as Docker: 30 s is 30000000000), got \"30s\"",
		`config.Healthcheck = { Test = [ "NONE" ]; Retries = -1; };`:     "'config.Healthcheck.Retries' must be a non-negative integer (consecutive failures), got -1",
		`config.Healthcheck = { Test = [ "NONE" ]; interval = 1; };`:     "'config.Healthcheck.interval' is not a key of Docker's health check (Test, Interval, Timeout, StartPeriod, StartInterval, Retries)",
		`config.Healthcheck = "CMD true";`:                               "'config.Healthcheck' must be an attribute set",
		`config.Shell = "/bin/sh";`:                                      "'config.Shell' must be a list of strings (Shell = [ \"/bin/sh\" \"-c\" ]), got a string",
		`config.OnBuild = [ 1 ];`:                                        "'config.OnBuild' must be a list of strings",
		`tag = "-bad";`:                                                  "'tag' \"-bad\" is not a valid tag",
		`tag = 1;`:                                                       "'tag' must be a string (or null), got an int",
		`contnets = [ ];`:                                                "'contnets' is not an argument of dockerTools.buildLayeredImage",
		`includeNixDB = "yes";`:                                          "'includeNixDB' must be a boolean, got a string",
		`perms = [ { path = busybox; mode = "rw"; } ];`:                  "'perms.mode' must be an octal mode string such as \"0644\"",
		`dirs = [ { path = "/a"; uid = "1"; } ];`:                        "'dirs.uid' must be an integer, got a string",
		`dirs = [ { path = "/a"; mode = "9"; } ];`:                       "'dirs.mode' must be an octal mode string such as \"0755\" or \"1777\"",
		`created = "2024-1-1";`:                                          "'created' \"2024-1-1\" is not an ISO 8601 date and time (like 2024-05-01T12:00:00Z, 2024-05-01 or 20240501) or \"now\"",
		`mtime = "yesterday";`:                                           "'mtime' \"yesterday\" is not an ISO 8601 date and time",
		`architecture = "sparc";`:                                        "'architecture' must be one of the architectures oci-builder accepts (amd64, x86_64,",
		`config.ExposedPorts = [ "80/tcp" ];`:                            "'config.ExposedPorts' must be an attribute set (ExposedPorts = { \"80/tcp\" = { }; }), got a list",
		`config.Volumes."/data" = true;`:                                 "'config.Volumes.\"/data\"' must be { }",
		`config.ExposedPorts."80/tcp".a = 1;`:                            "'config.ExposedPorts.\"80/tcp\"' must be { }",
		`config.Labels.a = 1;`:                                           "'config.Labels.\"a\"' must be a string",
		`config.User = 1000;`:                                            "'config.User' must be a string",
		`config.ArgsEscaped = "yes";`:                                    "'config.ArgsEscaped' must be a boolean, got a string",
	} {
		expr := fmt.Sprintf(`ociTools.buildLayeredImage { name = "refused"; %s }`, arg)
		r := runNix(t, "nix-instantiate", writeExpr(t, expr))
		if r.err == nil || !strings.Contains(r.log, want) {
			t.Errorf("%s: want an error containing %q, got %v\n%s", arg, want, r.err, r.log)
		}
	}
	// The other functions' own arguments, named as such at evaluation
	// (a copyToRoot string was "contents: hello is not a store path of
	// the closure" in the build; a string for the arguments Nix's bare
	// "value is a string while a set was expected").
	for expr, want := range map[string]string{
		`ociTools.buildImage { name = "refused"; copyToRoot = [ "hello" ]; }`:                "ociTools.buildImage: 'copyToRoot' must be a package, a store path or a list of them, got the string \"hello\"",
		`ociTools.buildImage { name = "refused"; contents = "bin"; }`:                        "ociTools.buildImage: 'contents' must be a package, a store path or a list of them, got the string \"bin\"",
		`ociTools.buildImage { name = "refused"; created = "01/05/2024"; }`:                  "ociTools.buildImage: 'created' \"01/05/2024\" is not an ISO 8601 date and time",
		`ociTools.buildImage { name = "refused"; args = [ "/bin/sh" ]; created = "today"; }`: "ociTools.buildImage: 'created' \"today\" is not an ISO 8601 date and time",
		`ociTools.buildLayeredImage "refused"`:                                               "ociTools.buildLayeredImage: 'arguments' must be an attribute set of dockerTools.buildLayeredImage's arguments",
	} {
		if r := runNix(t, "nix-instantiate", writeExpr(t, expr)); r.err == nil || !strings.Contains(r.log, want) {
			t.Errorf("%s: want an error containing %q, got %v\n%s", expr, want, r.err, r.log)
		}
	}
	// A null Entrypoint or Cmd is unset, as Docker reads it: dockerTools
	// writes it as given, and it was a bare "value is null while a list
	// was expected".
	// Elements null in ExposedPorts, Volumes and Labels are what Docker's
	// JSON decoding takes too.
	for _, config := range []string{`{ Entrypoint = null; Cmd = [ "${busybox}/bin/sh" ]; }`, `{ Entrypoint = null; Cmd = null; }`,
		`{ ExposedPorts."80/tcp" = null; Volumes."/d" = null; Labels.a = null; User = null; }`} {
		expr := fmt.Sprintf(`ociTools.buildLayeredImage { name = "nulls"; config = %s; }`, config)
		if r := runNix(t, "nix-instantiate", writeExpr(t, expr)); r.err != nil {
			t.Errorf("config = %s: %v\n%s", config, r.err, r.log)
		}
	}
}

// buildDockerExpr builds the dockerTools-style expression expr (dockerExpr
// or its variant, with a %s for an extra argument) builtins-only with tag
// "v1", or through the stand-in nixpkgs with busybox from pkgs and the
// default tag, checks that nix-build --check rebuilds it the same, and
// returns its output path.
func buildDockerExpr(t *testing.T, expr, via string) string {
	t.Helper()
	e := fmt.Sprintf(expr, `tag = "v1";`)
	if via == "standin" {
		needStandin(t)
		s := strings.Replace(fmt.Sprintf(expr, ""), "contents = [ busybox ]", "contents = [ pkgs.busybox ]", 1)
		e = fmt.Sprintf("let pkgs = %s; in pkgs.%s", standinPkgs(t, true), s)
	}
	file := writeExpr(t, e)
	r := nixBuildFile(t, file, true)
	if r.err != nil {
		t.Fatal(r)
	}
	if r := nixBuildFile(t, file, true, "--check"); r.err != nil {
		t.Fatal(r)
	}
	return r.out
}
