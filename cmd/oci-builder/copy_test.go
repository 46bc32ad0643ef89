package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/outside/outsidetest"
)

// TestCopyAndSBOMBadReferences: a docker:// reference without a registry
// host is a usage error (exit 2) of one line naming it.
func TestCopyAndSBOMBadReferences(t *testing.T) {
	out := "oci:" + t.TempDir() + "/out"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"copy", "img", "docker:///repo:tag"},
			`copy: destination "docker:///repo:tag": the registry host is missing (want docker://HOST/REPO[:TAG])`},
		{[]string{"copy", "img", "docker://:5000/r:t"},
			`copy: destination "docker://:5000/r:t": the registry host is missing (want docker://HOST/REPO[:TAG])`},
		{[]string{"copy", "docker:///repo:tag", out},
			`copy: source "docker:///repo:tag": the registry host is missing (want docker://HOST/REPO[:TAG])`},
		{[]string{"sbom", "docker:///repo:tag"},
			`sbom: image "docker:///repo:tag": the registry host is missing (want docker://HOST/REPO[:TAG])`},
		{[]string{"sbom", "docker://:5000/r:t"},
			`sbom: image "docker://:5000/r:t": the registry host is missing (want docker://HOST/REPO[:TAG])`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runWith(t, nil, tc.args...)
			if want := "oci-builder: error: " + tc.want + "\n"; code != 2 || stdout != "" || stderr != want {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2, stderr %q", code, stdout, stderr, want)
			}
		})
	}
}

// TestCredentialFileMissing: a credentials file that cannot be read fails
// copy (either side) and sbom with one line naming the flag, a colon
// after it, and the file.
func TestCredentialFileMissing(t *testing.T) {
	img := t.TempDir()
	outsidetest.OCILayout(t, img, outsidetest.Image{RepoTag: "app:v1", Layers: [][]outsidetest.Entry{{{Name: "a", Data: "a"}}}})
	missing := filepath.Join(t.TempDir(), "nonexist")
	out := "oci:" + filepath.Join(t.TempDir(), "out")
	const reg = "docker://127.0.0.1:1/r:t" // never reached
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"copy", "--dest-authfile", missing, img, reg},
			"copy to " + reg + ": --dest-authfile: open " + missing + ": no such file or directory"},
		{[]string{"copy", "--src-authfile", missing, reg, out},
			"source " + reg + ": --src-authfile: open " + missing + ": no such file or directory"},
		{[]string{"sbom", "--authfile", missing, reg},
			reg + ": --authfile: open " + missing + ": no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args[:2], " "), func(t *testing.T) {
			code, stdout, stderr := runWith(t, nil, tc.args...)
			if want := "oci-builder: error: " + tc.want + "\n"; code != 1 || stdout != "" || stderr != want {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1, stderr %q", code, stdout, stderr, want)
			}
		})
	}
}
