package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCopierArgs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "image"), 0o755)
	os.WriteFile(filepath.Join(dir, "image", "index.json"), []byte("{}"), 0o644)
	self := filepath.Join(dir, "bin", copierName)
	img := filepath.Join(dir, "image")
	noPath := func(string) (string, error) { return "", errors.New("not on PATH") }
	onPath := func(string) (string, error) { return self, nil }

	if args, ok, err := copierArgs("/x/bin/oci-builder", []string{"image"}, noPath); ok || err != nil || args != nil {
		t.Fatalf("oci-builder itself: %v %v %v", args, ok, err)
	}
	args, ok, err := copierArgs(self, []string{"--insecure", "docker://h/r:t"}, noPath)
	if !ok || err != nil || strings.Join(args, " ") != "copy "+img+" --insecure docker://h/r:t" {
		t.Fatalf("by path: %v %v %v", args, ok, err)
	}
	if args, _, err = copierArgs(copierName, []string{"oci:/x"}, onPath); err != nil || strings.Join(args, " ") != "copy "+img+" oci:/x" {
		t.Fatalf("found on PATH: %v %v", args, err)
	}
	// The copiers to the image's own name.
	for _, prog := range []string{toRegistryName, toDaemonName, toPodmanName} {
		if _, _, err := copierArgs(filepath.Join(dir, "bin", prog), nil, noPath); err == nil || !strings.Contains(err.Error(), copierNameFile) {
			t.Errorf("%s without a name: %v", prog, err)
		}
	}
	os.WriteFile(filepath.Join(dir, copierNameFile), []byte("r.example.org/app:1\n"), 0o444)
	for prog, want := range map[string]string{
		toRegistryName: "copy --insecure " + img + " docker://r.example.org/app:1",
		toDaemonName:   "copy --insecure " + img + " docker-daemon:r.example.org/app:1",
		toPodmanName:   "copy --podman --insecure " + img + " docker-daemon:r.example.org/app:1",
	} {
		if args, ok, err := copierArgs(filepath.Join(dir, "bin", prog), []string{"--insecure"}, noPath); !ok || err != nil || strings.Join(args, " ") != want {
			t.Errorf("%s: %q %v; want %q", prog, args, err, want)
		}
	}
	if _, ok, err = copierArgs(copierName, nil, noPath); !ok || err == nil {
		t.Fatalf("not on PATH: %v %v", ok, err)
	}
	if _, _, err = copierArgs(filepath.Join(t.TempDir(), copierName), nil, noPath); err == nil || !strings.Contains(err.Error(), "../image") {
		t.Fatalf("no image beside it: %v", err)
	}
}

// TestCopyCommandLine: usage errors exit 2, failures exit 1, each with
// one line.
func TestCopyCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"copy"}, exitUsage, "want SRC and DEST"},
		{[]string{"copy", "a", "b", "c"}, exitUsage, "want SRC and DEST"},
		{[]string{"copy", "/x", "nowhere"}, exitUsage, "has no transport"},
		{[]string{"copy", "/x", "dir:/y"}, exitUsage, "unknown transport"},
		{[]string{"copy", "docker-daemon:h/r:t", "oci:/y"}, exitUsage, "not read from a Docker daemon"},
		{[]string{"copy", "--override-arch", "bogus", "/x", "oci:/y"}, exitUsage, `"bogus"`},
		{[]string{"copy", "/x", "docker-daemon:"}, exitUsage, "want docker-daemon:NAME:TAG"},
		{[]string{"copy", "--bogus", "/x", "oci:/y"}, exitUsage, "flag provided but not defined"},
		{[]string{"copy", t.TempDir(), "oci:/y"}, exitError, "not an OCI image layout"},
		{[]string{"copy", "--dest-creds", "u:p", "--dest-authfile", "f", "/x", "docker://h/r:t"}, exitUsage, "give one of --dest-creds, --dest-authfile and --dest-username with --dest-password-stdin"},
		{[]string{"copy", "--dest-authfile", "f", "--dest-username", "u", "--dest-password-stdin", "/x", "docker://h/r:t"}, exitUsage, "give one of"},
		{[]string{"copy", "--dest-username", "u", "/x", "docker://h/r:t"}, exitUsage, "--dest-username goes with --dest-password-stdin"},
		{[]string{"copy", "--dest-password-stdin", "/x", "docker://h/r:t"}, exitUsage, "--dest-password-stdin goes with --dest-username USER"},
		{[]string{"copy", "--dest-password", "p", "/x", "docker://h/r:t"}, exitUsage, "flag provided but not defined: -dest-password"},
		{[]string{"copy", "--dest-creds", "user", "/x", "docker://h/r:t"}, exitUsage, "copy: --dest-creds: want USER:PASSWORD"},
		{[]string{"sbom", "--creds", "u:p", "--authfile", "f", "docker://h/r:t"}, exitUsage, "sbom: give one of --creds, --authfile and --username with --password-stdin"},
		{[]string{"sbom", "--username", "u", "docker://h/r:t"}, exitUsage, "sbom: --username goes with --password-stdin"},
		{[]string{"sbom", "--dest-authfile", "f", "docker://h/r:t"}, exitUsage, "flag provided but not defined: -dest-authfile"},
	} {
		code, _, stderr := runWith(t, nil, c.args...)
		if code != c.code || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

func TestReadPassword(t *testing.T) {
	for _, tc := range []struct {
		stdin, want, err string
	}{
		{"secret\n", "secret", ""},
		{"secret", "secret", ""},
		{"secret\r\n", "secret", ""},
		{"with spaces \nsecond line\n", "with spaces ", ""},
		{"", "", "stdin holds no password"},
		{"\nsecret\n", "", "stdin holds no password"},
		{strings.Repeat("x", 5<<20), "", "the first line of stdin is more than 4.0 MiB long"},
	} {
		got, err := readPassword(strings.NewReader(tc.stdin), "--dest-password-stdin")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.20q: %q, %v; want an error with %q", tc.stdin, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%.20q: %q, %v; want %q", tc.stdin, got, err, tc.want)
		}
	}
}
