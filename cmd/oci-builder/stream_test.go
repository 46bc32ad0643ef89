package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// streamCase writes the .attrs.json of a streamLayeredImage derivation
// over the fake store dir; stream replaces the "stream" attribute.
func streamCase(t *testing.T, stream any) (dir, top, out string) {
	t.Helper()
	dir, prog, lib := fakeStore(t)
	progHash, progSize := narOf(t, prog)
	extra := map[string]any{
		"image":        map[string]any{"tag": "v1", "maxLayers": 100, "created": "1970-01-01T00:00:01Z"},
		"dockerCompat": map[string]any{"config": map[string]any{"Cmd": []string{prog + "/bin/prog"}}, "contents": []string{prog}},
	}
	if stream != nil {
		extra["stream"] = stream
	}
	top, out = builderCase{
		storeDir: dir,
		graph: []map[string]any{
			{"path": prog, "references": []string{lib, prog}, "narHash": progHash, "narSize": progSize},
			{"path": lib, "references": []string{}},
		},
		container: map[string]any{"args": []string{prog + "/bin/prog"}, "os": "linux", "arch": "amd64"},
		extra:     extra,
	}.write(t)
	return dir, top, out
}

// TestStreamBuilderAndCommand builds a description with nix-stream-builder
// and streams it with stream-image: an executable #! file, a docker-archive
// with three layers (two store paths, the customisation layer: no /etc
// layer in the dockerTools style) and manifest.json last but repositories.
func TestStreamBuilderAndCommand(t *testing.T) {
	dir, top, out := streamCase(t, map[string]any{"repository": "example.org/app", "interpreter": "/nix/store/x-oci-builder/bin/oci-builder"})
	code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top, "NIX_BUILD_CORES": "2"}, "nix-stream-builder")
	if code != 0 {
		t.Fatalf("nix-stream-builder: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "verifying their NAR hashes") || !strings.Contains(stderr, "oci-builder: done: "+out+" streams 3 layers") {
		t.Fatalf("log: %s", stderr)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o555 {
		t.Fatalf("output: %v %v", fi, err)
	}
	data, _ := os.ReadFile(out)
	if !bytes.HasPrefix(data, []byte("#!/nix/store/x-oci-builder/bin/oci-builder stream-image\n{")) {
		t.Fatalf("output starts with %q", data[:80])
	}
	code, stdout, stderr := runWith(t, map[string]string{"NIX_STORE_DIR": dir}, "stream-image", out)
	if code != 0 {
		t.Fatalf("stream-image: exit %d: %s", code, stderr)
	}
	var names []string
	tr := tar.NewReader(strings.NewReader(stdout))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if len(names) != 6 || names[4] != "manifest.json" || names[5] != "repositories" || !strings.HasSuffix(names[0], "/layer.tar") {
		t.Fatalf("archive entries %v", names)
	}
}

// TestStreamErrors: each bad input is one error line with the right exit
// status.
func TestStreamErrors(t *testing.T) {
	notDescription := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDescription, []byte("#!/bin/sh\necho hi\n"), 0o755)
	for _, tc := range []struct {
		name   string
		stream any
		args   []string
		code   int
		want   string
	}{
		{name: "no FILE", args: []string{"stream-image"}, code: 2, want: "stream-image takes one FILE"},
		{name: "missing FILE", args: []string{"stream-image", "/nonexistent"}, code: 1, want: "read the image description: open /nonexistent"},
		{name: "not a description", args: []string{"stream-image", notDescription}, code: 1, want: notDescription + ": not a streamed image description"},
		{name: "no stream attribute", code: 1, want: `no "stream" attribute`},
		{name: "unknown stream key", stream: map[string]any{"repository": "app", "interpreter": "/x", "compress": true}, code: 1, want: "compress"},
		{name: "bad repository", stream: map[string]any{"repository": "Upper/Case", "interpreter": "/x"}, code: 1, want: `the image reference "Upper/Case:v1"`},
		{name: "long interpreter", stream: map[string]any{"repository": "app", "interpreter": "/" + strings.Repeat("x", 130)}, code: 1, want: "more than the 127 that Linux before 5.1 reads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, vars := tc.args, map[string]string(nil)
			var out string
			if args == nil {
				var top string
				_, top, out = streamCase(t, tc.stream)
				args, vars = []string{"nix-stream-builder"}, map[string]string{"NIX_BUILD_TOP": top}
			}
			code, _, stderr := runWith(t, vars, args...)
			if code != tc.code || strings.Count(stderr, "oci-builder: error: ") != 1 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "hashing") {
				t.Fatalf("exit %d, stderr %q; want exit %d and one error line containing %q, before any hashing", code, stderr, tc.code, tc.want)
			}
			if out != "" {
				if _, err := os.Lstat(out); err == nil {
					t.Fatalf("a failed build left %s", out)
				}
			}
		})
	}
}

// TestStreamImageRefuses: a description that names another store directory
// than the local one, or paths that are not store paths in it, is refused
// with one line naming the culprit, before anything is written to stdout.
func TestStreamImageRefuses(t *testing.T) {
	dir, top, out := streamCase(t, map[string]any{"repository": "example.org/app", "interpreter": "/nix/store/x-oci-builder/bin/oci-builder"})
	if code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-stream-builder"); code != 0 {
		t.Fatalf("nix-stream-builder: exit %d: %s", code, stderr)
	}
	good, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	secret := filepath.Join(home, "secret")
	if err := os.WriteFile(secret, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	lib := dir + "/" + strings.Repeat("b", 32) + "-lib"
	// crafted is the description with each old string of oldNew replaced
	// by the new one after it.
	crafted := func(t *testing.T, oldNew []string) string {
		t.Helper()
		for i := 0; i < len(oldNew); i += 2 {
			if !strings.Contains(string(good), oldNew[i]) {
				t.Fatalf("the description has no %s", oldNew[i])
			}
		}
		f := filepath.Join(t.TempDir(), "crafted")
		if err := os.WriteFile(f, []byte(strings.NewReplacer(oldNew...).Replace(string(good))), 0o555); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		name     string
		storeDir string
		oldNew   []string
		want     string
	}{
		{name: "other local store", storeDir: "/nix/store", want: `names the store directory "` + dir + `", not this machine's /nix/store`},
		{name: "home as the store, its secret", storeDir: dir, oldNew: []string{`"storeDir":"` + dir + `"`, `"storeDir":"` + home + `"`, `"` + lib + `"`, `"` + secret + `"`}, want: `names the store directory "` + home + `"`},
		{name: "home as the local store, its secret", storeDir: home, oldNew: []string{`"storeDir":"` + dir + `"`, `"storeDir":"` + home + `"`, `"` + lib + `"`, `"` + secret + `"`}, want: `"` + secret + `" is not a store path: not a valid store path name`},
		{name: "a private file", storeDir: dir, oldNew: []string{`"` + lib + `"`, `"` + secret + `"`}, want: `"` + secret + `" is not a store path in ` + dir},
		{name: "empty repo tag", storeDir: dir, oldNew: []string{`"repoTag":"example.org/app:v1"`, `"repoTag":""`}, want: `the image reference "" is not NAME:TAG`},
		{name: "repo tag with a newline", storeDir: dir, oldNew: []string{`"repoTag":"example.org/app:v1"`, `"repoTag":"a\nb:c"`}, want: `the image reference "a\nb:c" is not NAME:TAG`},
		{name: "repo tag climbing", storeDir: dir, oldNew: []string{`"repoTag":"example.org/app:v1"`, `"repoTag":"../../x:y"`}, want: `the image reference "../../x:y" is not NAME:TAG`},
		{name: "contents of /", storeDir: dir, oldNew: []string{`"kind":"contents","paths":["`, `"kind":"contents","paths":["/","`}, want: `"/" is not a store path in ` + dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := out
			if tc.oldNew != nil {
				f = crafted(t, tc.oldNew)
			}
			code, stdout, stderr := runWith(t, map[string]string{"NIX_STORE_DIR": tc.storeDir}, "stream-image", f)
			if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "oci-builder: error: "+f+": ") || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, %d bytes on stdout, stderr %q; want exit 1, nothing on stdout and one error line containing %q", code, len(stdout), stderr, tc.want)
			}
		})
	}
}
