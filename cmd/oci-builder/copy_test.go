package main

import (
	"strings"
	"testing"
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
