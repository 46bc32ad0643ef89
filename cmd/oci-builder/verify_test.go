package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tamper changes one byte of the file at p, keeping its mode.
func tamper(t *testing.T, p string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 1
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, st.Mode())
}

// TestNixBuilderVerifyMismatch runs the builder in every store mode on a
// graph whose narHash for the library is that of its contents before they
// were changed: one error line naming the path and both hashes, exit 1, no
// config.json.
func TestNixBuilderVerifyMismatch(t *testing.T) {
	tests := []struct {
		mode   string
		verify any
	}{
		{"copy", nil},
		{"reflink", nil},
		{"hardlink", nil},
		{"bind", true},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			dir, prog, lib := fakeStore(t)
			progHash, progSize := narOf(t, prog)
			libHash, libSize := narOf(t, lib)
			tamper(t, lib+"/sh")
			actual, _ := narOf(t, lib)
			container := map[string]any{"args": []string{prog + "/bin/prog"}, "storeMode": tc.mode}
			if tc.verify != nil {
				container["verify"] = tc.verify
			}
			top, out := builderCase{
				storeDir: dir,
				graph: []map[string]any{
					{"path": prog, "references": []string{lib}, "narHash": progHash, "narSize": progSize},
					{"path": lib, "references": []string{}, "narHash": libHash, "narSize": libSize},
				},
				container: container,
			}.write(t)
			t.Cleanup(func() { makeWritable(out) })
			code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top, "NIX_BUILD_CORES": "2"}, "nix-builder")
			want := fmt.Sprintf("oci-builder: error: store path %s: NAR hash mismatch: expected %s, got %s\n", lib, libHash, actual)
			if code != 1 || !strings.HasSuffix(stderr, want) || strings.Count(stderr, "error:") != 1 {
				t.Fatalf("exit %d, stderr:\n%s\nwant it to end with:\n%s", code, stderr, want)
			}
			if _, err := os.Lstat(filepath.Join(out, "config.json")); !os.IsNotExist(err) {
				t.Fatalf("config.json written: %v", err)
			}
		})
	}
}

// TestNixBuilderVerifyOption covers the verify option's decisions: a graph
// without hashes, a malformed hash, verification turned off, a wrong type.
func TestNixBuilderVerifyOption(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	progHash, progSize := narOf(t, prog)
	noHashes := []map[string]any{
		{"path": prog, "references": []string{lib}},
		{"path": lib, "references": []string{}},
	}
	badHash := []map[string]any{
		{"path": prog, "references": []string{lib}, "narHash": "sha256:x", "narSize": progSize},
		{"path": lib, "references": []string{}, "narHash": progHash},
	}
	tests := []struct {
		name    string
		graph   any
		verify  any
		mode    string
		code    int
		want    []string
		notWant string
	}{
		{"no hashes, default", noHashes, nil, "copy", 0, []string{
			"oci-builder: warning: not verifying the closure: the closure graph gives no narHash (the text format of exportReferencesGraph carries none)\n",
			"; not verified\n"}, "verified 0"},
		{"no hashes, asked", noHashes, true, "copy", 1, []string{
			"oci-builder: error: verify: the closure graph gives no narHash for " + prog + " (2 of 2 store paths have none; the text format of exportReferencesGraph carries none): set verify to false, or give a graph with hashes\n"}, ""},
		{"no hashes, bind asked", noHashes, true, "bind", 1, []string{"oci-builder: error: verify: the closure graph gives no narHash for " + prog}, ""},
		{"no hashes, bind default", noHashes, nil, "bind", 0, []string{"; not verified\n"}, "not verifying"},
		{"malformed hash", badHash, nil, "copy", 1, []string{"oci-builder: error: store path " + prog + `: narHash "sha256:x": `}, ""},
		{"malformed hash, not verified", badHash, false, "copy", 1, []string{"oci-builder: error: store path " + prog + `: narHash "sha256:x": `}, ""},
		{"malformed hash, bind", badHash, nil, "bind", 1, []string{"oci-builder: error: store path " + prog + `: narHash "sha256:x": `}, ""},
		{"not a boolean", noHashes, "yes", "copy", 1, []string{`oci-builder: error: container options: option "verify": expected true or false, got JSON string`}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			container := map[string]any{"args": []string{prog + "/bin/prog"}, "storeMode": tc.mode}
			if tc.verify != nil {
				container["verify"] = tc.verify
			}
			top, out := builderCase{storeDir: dir, graph: tc.graph, container: container}.write(t)
			t.Cleanup(func() { makeWritable(out) })
			code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-builder")
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("log lacks %q:\n%s", w, stderr)
				}
			}
			if tc.notWant != "" && strings.Contains(stderr, tc.notWant) {
				t.Errorf("log has %q:\n%s", tc.notWant, stderr)
			}
		})
	}
}

// TestBundleCommandVerify: oci-builder bundle verifies what --graph gives
// hashes for, --verify=false turns it off, --verify=true refuses a graph
// without hashes, and a tampered path is not renamed into place.
func TestBundleCommandVerify(t *testing.T) {
	_, prog, lib := fakeStore(t)
	progHash, progSize := narOf(t, prog)
	libHash, libSize := narOf(t, lib)
	write := func(entries []map[string]any) string {
		data, _ := json.Marshal(entries)
		f := filepath.Join(t.TempDir(), "graph.json")
		os.WriteFile(f, data, 0o644)
		return f
	}
	hashed := write([]map[string]any{
		{"path": prog, "references": []string{lib}, "narHash": progHash, "narSize": progSize},
		{"path": lib, "references": []string{}, "narHash": libHash, "narSize": libSize},
	})
	plain := graphFile(t, prog, lib)
	text := filepath.Join(t.TempDir(), "graph.txt")
	os.WriteFile(text, []byte(prog+"\n\n1\n"+lib+"\n"+lib+"\n\n0\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"hashed", []string{"--graph", hashed}, 0, "; verified 2 of 2 store paths against their NAR hashes\n"},
		{"hashed, off", []string{"--graph", hashed, "--verify=false"}, 0, "; not verified\n"},
		{"bind, on", []string{"--graph", hashed, "--store-mode", "bind", "--verify=true"}, 0, "; verified 2 of 2 store paths"},
		{"text format", []string{"--graph", text}, 0, "oci-builder: warning: not verifying the closure: the closure graph gives no narHash"},
		{"text format, on", []string{"--graph", text, "--verify"}, 1, "oci-builder: error: verify: the closure graph gives no narHash for " + prog},
		{"json without hashes, on", []string{"--graph", plain, "--verify=1"}, 1, "oci-builder: error: verify: the closure graph gives no narHash"},
		{"not a boolean", []string{"--graph", hashed, "--verify=maybe"}, 2, `invalid boolean value "maybe" for -verify`},
		{"tampered", []string{"--graph", hashed}, 1, "oci-builder: error: store path " + lib + ": NAR hash mismatch: expected " + libHash + ", got "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "tampered" {
				tamper(t, lib+"/sh")
			}
			parent := t.TempDir()
			out := filepath.Join(parent, "bundle")
			args := append([]string{"bundle", "--out", out}, tc.args...)
			code, _, stderr := runWith(t, nil, append(args, "--", prog+"/bin/prog")...)
			t.Cleanup(func() { makeWritable(parent) })
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant %d and %q", code, stderr, tc.code, tc.want)
			}
			if code != 0 {
				if entries, _ := os.ReadDir(parent); len(entries) != 0 {
					t.Fatalf("left %v beside the bundle", entries)
				}
			}
		})
	}
}
