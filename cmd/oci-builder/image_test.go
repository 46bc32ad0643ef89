package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// imageGraphFile writes the closure graph of fakeStore's program to a file.
func imageGraphFile(t *testing.T, prog, lib string) string {
	t.Helper()
	return writeGraph(t, []map[string]any{
		{"path": prog, "references": []string{lib, prog}, "narSize": 100},
		{"path": lib, "references": []string{}, "narSize": 50},
	})
}

var digestLine = regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`)

func TestImageCommand(t *testing.T) {
	_, prog, lib := fakeStore(t)
	graph := imageGraphFile(t, prog, lib)
	parent := t.TempDir()
	var digests []string
	for i, jobs := range []string{"1", "0"} {
		out := filepath.Join(parent, "image"+jobs)
		code, stdout, stderr := runWith(t, nil, "image", "--out", out, "--graph", graph, "--jobs", jobs,
			"--tag", "v1", "--expose", "8080", "--label", "a=b=c", "--volume", "/data", "--arch", "aarch64", "--",
			prog+"/bin/prog", "--flag")
		if code != 0 || !digestLine.MatchString(stdout) {
			t.Fatalf("run %d: exit %d, stdout %q, stderr %s", i, code, stdout, stderr)
		}
		if !strings.Contains(stderr, "oci-builder: writing 2 store paths (~150 B) as 3 layers compressed with gzip") ||
			!strings.Contains(stderr, "oci-builder: done: image "+strings.TrimSpace(stdout)+" (tag v1), 3 layers") {
			t.Fatalf("log:\n%s", stderr)
		}
		digests = append(digests, stdout)
		var index struct {
			Manifests []struct {
				Digest      string
				Annotations map[string]string
				Platform    struct{ Architecture string }
			}
		}
		data, err := os.ReadFile(filepath.Join(out, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &index); err != nil {
			t.Fatal(err)
		}
		m := index.Manifests[0]
		if m.Digest+"\n" != stdout || m.Annotations["org.opencontainers.image.ref.name"] != "v1" || m.Platform.Architecture != "arm64" {
			t.Fatalf("index.json: %s", data)
		}
	}
	if digests[0] != digests[1] {
		t.Fatalf("digests differ: %v", digests)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 2 {
		t.Fatalf("left in the output's directory: %v", entries)
	}
}

func TestImageCommandErrors(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	// Programs that cannot start: a file without execute bits, a script
	// whose interpreter is missing, a link out of the closure.
	outside := filepath.Join(t.TempDir(), "outside")
	for _, err := range []error{
		os.WriteFile(prog+"/bin/data", []byte("data"), 0o444),
		os.WriteFile(prog+"/bin/script", []byte("#!"+lib+"/nope -e\n"), 0o555),
		os.WriteFile(outside, []byte("x"), 0o555),
		os.Symlink(outside, prog+"/bin/out"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	graph := imageGraphFile(t, prog, lib)
	missing := dir + "/" + strings.Repeat("d", 32) + "-missing"
	badGraph := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(badGraph, []byte(`[{"path":"`+missing+`","references":[]}]`), 0o644)
	emptyGraph := filepath.Join(t.TempDir(), "empty.json")
	os.WriteFile(emptyGraph, []byte(`[]`), 0o644)
	existing := t.TempDir()
	hostnameOptions := filepath.Join(t.TempDir(), "options.json")
	os.WriteFile(hostnameOptions, []byte(`{"hostname":"web"}`), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no out", []string{"--graph", graph, prog}, 2, "image: --out DIR is required"},
		{"no program", []string{"--out", "x", "--graph", graph}, 2, "image: no PROGRAM given"},
		{"max layers", []string{"--out", "x", "--max-layers", "0", prog}, 2, "--max-layers must be at least 2"},
		{"jobs", []string{"--out", "x", "--jobs", "-1", prog}, 2, "--jobs must not be negative"},
		{"unknown flag", []string{"--out", "x", "--frob", prog}, 2, "image: flag provided but not defined: -frob"},
		{"bad label", []string{"--out", "x", "--label", "novalue", prog}, 2, `"novalue" is not NAME=VALUE`},
		{"graph missing", []string{"--out", "x", "--graph", "/nonexistent/graph", prog}, 1, "read graph: open /nonexistent/graph"},
		{"out exists", []string{"--out", existing, "--graph", graph, prog}, 1, "output directory " + existing + " already exists"},
		{"bad tag", []string{"--out", "x", "--graph", graph, "--tag", "a/b", prog}, 1, `tag "a/b" is not a valid tag`},
		{"bad port", []string{"--out", "x", "--graph", graph, "--expose", "80/http", prog}, 1, `protocol "http"`},
		{"runtime option", []string{"--out", "x", "--graph", graph, "--options", hostnameOptions, prog}, 1, "hostname cannot be part of an image: podman run --hostname"},
		{"bad env", []string{"--out", "x", "--graph", graph, "--env", "NOVALUE", prog}, 2, `invalid value "NOVALUE" for flag -env: "NOVALUE" is not NAME=VALUE`},
		{"path not in graph", []string{"--out", "x", "--graph", graph, missing + "/bin/x"}, 1, "args[0]: " + missing + " is not in the closure graph"},
		{"path not on disk", []string{"--out", "x", "--graph", badGraph, missing + "/bin/x"}, 1, "layer 2 (" + missing + "): read " + missing + ": no such file or directory"},
		{"empty graph", []string{"--out", "x", "--graph", emptyGraph, "--store-dir", dir, prog + "/bin/prog"}, 1, "args[0]: " + prog + " is not in the closure graph (the graph " + emptyGraph + " is empty)"},
		{"no such program", []string{"--out", "x", "--graph", graph, prog + "/bin/nope"}, 1, `the image would not start: Entrypoint[0] "` + prog + `/bin/nope" does not exist in the image`},
		{"program a directory", []string{"--out", "x", "--graph", graph, prog + "/bin"}, 1, `Entrypoint[0] "` + prog + `/bin" is not a regular file`},
		{"program not executable", []string{"--out", "x", "--graph", graph, prog + "/bin/data"}, 1, `Entrypoint[0] "` + prog + `/bin/data" is not executable`},
		{"interpreter missing", []string{"--out", "x", "--graph", graph, prog + "/bin/script"}, 1, `the interpreter of ` + prog + `/bin/script "` + lib + `/nope" does not exist in the image`},
		{"link out of the closure", []string{"--out", "x", "--graph", graph, prog + "/bin/out"}, 1, `Entrypoint[0] "` + prog + `/bin/out" leads to ` + outside + `, which is not in the image's closure`},
		{"program out of the store", []string{"--out", "x", "--graph", graph, "--env", "P=" + prog, "/bin/sh"}, 1, `Entrypoint[0] "/bin/sh" is not in the image, which holds the closure's store paths and /etc, and has no base image`},
		{"escaping program", []string{"--out", "x", "--graph", graph, prog + "/bin/prog/../../../../etc/passwd"}, 1, `is not in the image`},
		{"not in PATH", []string{"--out", "x", "--graph", graph, "--env", "PATH=" + prog + "/bin", "nosuch"}, 1, `Entrypoint[0] "nosuch" is not found in the image's PATH "` + prog + `/bin"`},
		{"workdir a file", []string{"--out", "x", "--graph", graph, "--workdir", prog + "/bin/prog", prog + "/bin/prog"}, 1, `WorkingDir "` + prog + `/bin/prog" is not a directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			args := append([]string{"image"}, tc.args...)
			for i, a := range args {
				if a == "x" && args[i-1] == "--out" {
					args[i] = filepath.Join(parent, "x")
				}
			}
			code, stdout, stderr := runWith(t, nil, args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if code != tc.code || stdout != "" || !strings.HasPrefix(last, "oci-builder: error: ") || !strings.Contains(last, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and an error line with %q", code, stdout, stderr, tc.code, tc.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Fatalf("left behind: %v", entries)
			}
		})
	}
}

func TestNixImageBuilder(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	graph := []map[string]any{
		{"path": prog, "references": []string{lib, prog}, "narSize": 100},
		{"path": lib, "references": []string{}, "narSize": 50},
	}
	container := map[string]any{"args": []string{prog + "/bin/prog"}, "os": "linux", "arch": "x86_64"}
	top, out := builderCase{storeDir: dir, graph: graph, container: container,
		extra: map[string]any{"image": map[string]any{"tag": "t", "compression": "zstd", "maxLayers": 2}}}.write(t)
	code, stdout, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top, "NIX_BUILD_CORES": "1"}, "nix-image-builder")
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "as 2 layers compressed with zstd, 1 layer at once") {
		t.Fatalf("log: %s", stderr)
	}
	for _, f := range []string{"oci-layout", "index.json", "blobs/sha256"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name string
		c    builderCase
		want string
	}{
		{"unknown image option", builderCase{graph: graph, container: container, extra: map[string]any{"image": map[string]any{"tags": "x"}}}, `image options: unknown option "tags"`},
		{"mounts", builderCase{graph: graph, container: map[string]any{"args": []string{prog}, "mounts": []any{map[string]any{"destination": "/d", "source": "/s"}}}}, "mounts cannot be part of an image"},
		{"no container", builderCase{graph: graph}, `.attrs.json has no "container" attribute`},
		{"bad created", builderCase{graph: graph, container: container, extra: map[string]any{"image": map[string]any{"created": "yesterday"}}}, `created: "yesterday" is not an ISO 8601 date and time`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.storeDir = dir
			top, _ := tc.c.write(t)
			code, _, stderr := runWith(t, map[string]string{"NIX_BUILD_TOP": top}, "nix-image-builder")
			checkOneErrorLine(t, code, stderr, tc.want)
		})
	}
}

func TestImageUsage(t *testing.T) {
	tests := []struct {
		args         []string
		code         int
		stdout, want string
	}{
		{[]string{"image", "--help"}, 0, "Usage: oci-builder image --out DIR", ""},
		{[]string{"help", "nix-image-builder"}, 0, "Usage: oci-builder nix-image-builder", ""},
		{[]string{"help"}, 0, "nix-image-builder", ""},
		{[]string{"nix-image-builder", "x"}, 2, "", "oci-builder: error: nix-image-builder takes no arguments"},
	}
	for _, tc := range tests {
		code, stdout, stderr := runWith(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
	}
}

// TestImageCommandWarnings checks that the container's warnings reach the
// user: a closure of 1,200 store paths with a bin directory, too many for
// the default PATH, in a store inside /tmp (no writable /tmp), not
// verified.
func TestImageCommandWarnings(t *testing.T) {
	dir, prog, lib := fakeStore(t)
	graph := []map[string]any{
		{"path": prog, "references": []string{lib}},
		{"path": lib, "references": []string{}},
	}
	for i := 0; i < 1200; i++ {
		dep := fmt.Sprintf("%s/%s%d-dependency", dir, strings.Repeat("d", 32-len(fmt.Sprint(i))), i)
		if err := os.MkdirAll(dep+"/bin", 0o755); err != nil {
			t.Fatal(err)
		}
		graph[0]["references"] = append(graph[0]["references"].([]string), dep)
		graph = append(graph, map[string]any{"path": dep, "references": []string{}})
	}
	graphFile := writeGraph(t, graph)
	out := filepath.Join(t.TempDir(), "image")
	code, stdout, stderr := runWith(t, nil, "image", "--out", out, "--graph", graphFile, "--verify=false", "--", prog+"/bin/prog")
	if code != 0 || !digestLine.MatchString(stdout) {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	wants := []string{"oci-builder: warning: PATH holds only the bin directories of the store paths the process mentions: "}
	if strings.HasPrefix(dir, "/tmp/") {
		wants = append(wants, "oci-builder: warning: no writable /tmp: the store directory "+dir+" is inside it\n")
	}
	for _, want := range wants {
		if !strings.Contains(stderr, want) {
			t.Errorf("no %q in the log:\n%s", want, stderr)
		}
	}
}

// TestImageVerifyMismatch: `oci-builder image` and the image builder check
// the closure against the graph's NAR hashes while they write the layers,
// in gzip and zstd: a store path changed since Nix registered it gives one
// error line naming it and both hashes, exit 1, and no image (the command
// leaves nothing at --out, the builder no index.json).
func TestImageVerifyMismatch(t *testing.T) {
	for _, compression := range []string{"gzip", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			dir, prog, lib := fakeStore(t)
			progHash, progSize := narOf(t, prog)
			libHash, libSize := narOf(t, lib)
			tamper(t, lib+"/sh")
			actual, _ := narOf(t, lib)
			graph := []map[string]any{
				{"path": prog, "references": []string{lib}, "narHash": progHash, "narSize": progSize},
				{"path": lib, "references": []string{}, "narHash": libHash, "narSize": libSize},
			}
			data, err := json.Marshal(graph)
			if err != nil {
				t.Fatal(err)
			}
			graphFile := filepath.Join(t.TempDir(), "graph.json")
			if err := os.WriteFile(graphFile, data, 0o644); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("oci-builder: error: store path %s: NAR hash mismatch: expected %s, got %s\n", lib, libHash, actual)

			parent := t.TempDir()
			out := filepath.Join(parent, "image")
			code, stdout, stderr := runWith(t, nil, "image", "--out", out, "--graph", graphFile, "--compression", compression, "--", prog+"/bin/prog")
			if code != 1 || stdout != "" || !strings.HasSuffix(stderr, want) || strings.Count(stderr, "error:") != 1 ||
				!strings.Contains(stderr, "verifying their NAR hashes") {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant it to end with:\n%s", code, stdout, stderr, want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Fatalf("left behind: %v", entries)
			}

			container := map[string]any{"args": []string{prog + "/bin/prog"}}
			top, builderOut := builderCase{storeDir: dir, graph: graph, container: container,
				extra: map[string]any{"image": map[string]any{"compression": compression}}}.write(t)
			code, _, stderr = runWith(t, map[string]string{"NIX_BUILD_TOP": top, "NIX_BUILD_CORES": "2"}, "nix-image-builder")
			if code != 1 || !strings.HasSuffix(stderr, want) || strings.Count(stderr, "error:") != 1 {
				t.Fatalf("builder: exit %d, stderr:\n%s\nwant it to end with:\n%s", code, stderr, want)
			}
			if _, err := os.Lstat(filepath.Join(builderOut, "index.json")); !os.IsNotExist(err) {
				t.Fatalf("index.json written: %v", err)
			}

			// verify = false writes the image as it is.
			out = filepath.Join(parent, "unverified")
			code, stdout, stderr = runWith(t, nil, "image", "--out", out, "--graph", graphFile, "--verify=false", "--compression", compression, "--", prog+"/bin/prog")
			if code != 0 || !digestLine.MatchString(stdout) || !strings.Contains(stderr, "; not verified\n") {
				t.Fatalf("--verify=false: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
			}
		})
	}
}

// TestImageVerifyOption: the verify decisions of bundles: on by default
// with a graph that has hashes, a warning without hashes, an error when
// asked for without them.
func TestImageVerifyOption(t *testing.T) {
	_, prog, lib := fakeStore(t)
	progHash, _ := narOf(t, prog)
	libHash, _ := narOf(t, lib)
	graphFile := func(hashes ...string) string {
		infos := []map[string]any{
			{"path": prog, "references": []string{lib}},
			{"path": lib, "references": []string{}},
		}
		for i, h := range hashes {
			infos[i]["narHash"] = h
		}
		return writeGraph(t, infos)
	}
	tests := []struct {
		name  string
		graph string
		flags []string
		code  int
		want  []string
	}{
		{"hashes", graphFile(progHash, libHash), nil, 0, []string{"verifying their NAR hashes", "; verified 2 of 2 store paths against their NAR hashes\n"}},
		{"no hashes", graphFile(), nil, 0, []string{"oci-builder: warning: not verifying the closure: the closure graph gives no narHash", "; not verified\n"}},
		{"some hashes", graphFile(progHash), nil, 0, []string{"oci-builder: warning: not verifying 1 of 2 store paths, " + lib + " first", "; verified 1 of 2 store paths"}},
		{"asked without hashes", graphFile(progHash), []string{"--verify"}, 1, []string{"oci-builder: error: verify: the closure graph gives no narHash for " + lib}},
		{"off", graphFile(progHash, libHash), []string{"--verify=false"}, 0, []string{"; not verified\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"image", "--out", filepath.Join(t.TempDir(), "image"), "--graph", tc.graph}, tc.flags...)
			code, _, stderr := runWith(t, nil, append(args, "--", prog+"/bin/prog")...)
			if code != tc.code {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Fatalf("stderr does not say %q:\n%s", w, stderr)
				}
			}
		})
	}
}
