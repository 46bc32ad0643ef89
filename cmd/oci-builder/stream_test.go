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
// over the fake store; stream replaces the "stream" attribute.
func streamCase(t *testing.T, stream any) (top, out string) {
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
	return builderCase{
		storeDir: dir,
		graph: []map[string]any{
			{"path": prog, "references": []string{lib, prog}, "narHash": progHash, "narSize": progSize},
			{"path": lib, "references": []string{}},
		},
		container: map[string]any{"args": []string{prog + "/bin/prog"}, "os": "linux", "arch": "amd64"},
		extra:     extra,
	}.write(t)
}

// TestStreamBuilderAndCommand builds a description with nix-stream-builder
// and streams it with stream-image: an executable #! file, a docker-archive
// with four layers (/etc, two store paths, contents) and manifest.json last
// but repositories.
func TestStreamBuilderAndCommand(t *testing.T) {
	top, out := streamCase(t, map[string]any{"repository": "example.org/app", "interpreter": "/nix/store/x-oci-builder/bin/oci-builder"})
	code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top, "NIX_BUILD_CORES": "2"}, "nix-stream-builder")
	if code != 0 {
		t.Fatalf("nix-stream-builder: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "verifying their NAR hashes") || !strings.Contains(stderr, "oci-builder: done: "+out+" streams 4 layers") {
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
	code, stdout, stderr := runWith(t, nil, "stream-image", out)
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
	if len(names) != 7 || names[5] != "manifest.json" || names[6] != "repositories" || !strings.HasSuffix(names[0], "/layer.tar") {
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
				top, out = streamCase(t, tc.stream)
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
