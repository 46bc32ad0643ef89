package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestLinuxOnlyCommands runs every command as oci-builder does on darwin
// (env.goos): those that make or read bundles fail with one line saying
// so and pointing at images, before reading their arguments; the image
// side runs. On Linux nothing is refused. A new command must be put in
// one list or the other.
func TestLinuxOnlyCommands(t *testing.T) {
	linuxOnly := map[string]string{
		"nix-builder":  "bundles (buildContainer) are built",
		"bundle":       "bundles are built",
		"rootless":     "rootless bundles are written",
		"writable":     "writable copies of bundles are made",
		"validate":     "bundles are validated, as runc would",
		"check-mounts": "bundles' mount sources are checked (runc's createRuntime hook)",
	}
	portable := map[string]bool{
		"image": true, "copy": true, "sbom": true, "stream-image": true, "version": true,
		"nix-image-builder": true, "nix-layer-builder": true, "nix-graph-builder": true, "nix-stream-builder": true, "nix-copier-builder": true,
		"nix-merge-builder": true, "nix-export-builder": true, "nix-pull-builder": true, "nix-index-builder": true, "customisation-tree": true, "base-tree": true, "layer-diff": true,
	}
	seen := map[string]bool{}
	for _, c := range commands() {
		seen[c.name] = true
		work, isLinuxOnly := linuxOnly[c.name]
		if !isLinuxOnly && !portable[c.name] {
			t.Errorf("command %q is in neither list: does it work on darwin? (a Linux-only one goes in linuxOnlyWork)", c.name)
			continue
		}
		for _, goos := range []string{"darwin", "linux"} {
			var stdout, stderr bytes.Buffer
			// An unknown flag: what a command that runs makes of it is a
			// usage error, never the refusal.
			code := run(context.Background(), []string{c.name, "--no-such-flag"}, env{
				getenv: func(string) string { return "" },
				stdout: &stdout,
				stderr: &stderr,
				goos:   goos,
			})
			refused := strings.Contains(stderr.String(), "on Linux only")
			if !isLinuxOnly || goos == "linux" {
				if refused {
					t.Errorf("%s on %s: refused: %s", c.name, goos, stderr.String())
				}
				continue
			}
			want := "oci-builder: error: " + c.name + ": " + work + " on Linux only; on darwin build images instead (oci-builder image, copy and stream-image; buildImage, buildLayeredImage and streamLayeredImage in Nix)\n"
			if code != exitError || stdout.Len() != 0 || stderr.String() != want {
				t.Errorf("%s on darwin: exit %d, stdout %q, stderr %q; want exit 1 and the one line %q", c.name, code, stdout.String(), stderr.String(), want)
			}
		}
	}
	for name := range linuxOnly {
		if !seen[name] {
			t.Errorf("Linux-only command %q is not a command", name)
		}
		if linuxOnlyWork(name) == "" {
			t.Errorf("linuxOnlyWork does not know %q", name)
		}
	}
}
