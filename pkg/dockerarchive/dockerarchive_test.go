package dockerarchive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/imageconfig"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

const interpreter = "/nix/store/00000000000000000000000000000000-oci-builder/bin/oci-builder stream-image"

// fixture makes a store directory with two store paths and a plan of three
// layers: entries, one store path, the other.
func fixture(t *testing.T) (*image.Plan, []string) {
	t.Helper()
	storeDir := filepath.Join(t.TempDir(), "store")
	var paths []string
	for _, name := range []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-lib", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-app"} {
		p := filepath.Join(storeDir, name)
		if err := os.MkdirAll(filepath.Join(p, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "bin", "prog"), []byte("contents of "+name), 0o555); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	created := time.Unix(1, 0).UTC()
	contents, err := image.ContentsEntries(paths[1:])
	if err != nil {
		t.Fatal(err)
	}
	plan := &image.Plan{
		StoreDir: storeDir,
		Layers: []image.LayerPlan{
			{Entries: []layer.Entry{{Path: "/etc/passwd", Data: []byte("root:x:0:0::/:/bin/sh\n"), Mode: 0o444}, {Path: "/tmp", Dir: true, Mode: 0o1777}}},
			{Paths: []*store.PathInfo{{Path: paths[0]}}},
			{Paths: []*store.PathInfo{{Path: paths[1]}}},
			{Entries: contents, Contents: paths[1:], Custom: &image.Customisation{Contents: paths[1:]}},
		},
		Config: imageconfig.Image{
			Created:  &created,
			Platform: v1.Platform{OS: "linux", Architecture: "amd64"},
			Config: imageconfig.Config{
				ImageConfig: v1.ImageConfig{Cmd: []string{paths[1] + "/bin/prog"}},
				// Docker's keys go through the description to the archive.
				Healthcheck: &imageconfig.HealthConfig{Test: []string{"CMD", paths[1] + "/bin/prog"}, Interval: 30 * time.Second, Retries: 3},
				Shell:       []string{"/bin/sh", "-c"},
			},
			RootFS: v1.RootFS{Type: "layers"},
		},
	}
	return plan, paths
}

// encoded describes the plan and returns the file Encode writes.
func encoded(t *testing.T, plan *image.Plan) []byte {
	t.Helper()
	d, err := Describe(context.Background(), plan, "example.org/app:v1", DescribeOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := Encode(&file, interpreter, d); err != nil {
		t.Fatal(err)
	}
	return file.Bytes()
}

func stream(t *testing.T, storeDir string, file []byte, w io.Writer) error {
	t.Helper()
	d, err := Decode(file, storeDir)
	if err != nil {
		t.Fatal(err)
	}
	return Stream(context.Background(), w, d)
}

// entries reads a tar into a map of names to contents, in order.
func entries(t *testing.T, data []byte) ([]string, map[string][]byte) {
	t.Helper()
	var names []string
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		files[h.Name] = b
	}
}

func TestStream(t *testing.T) {
	plan, paths := fixture(t)
	file := encoded(t, plan)
	if !bytes.HasPrefix(file, []byte("#!"+interpreter+"\n{")) {
		t.Fatalf("file starts with %q", file[:120])
	}
	// The contents layer's entries (links to .../bin/prog) are not stored.
	if !bytes.Contains(file, []byte(`{"kind":"contents","paths":["`+paths[1]+`"]`)) || bytes.Contains(file, []byte(`"link"`)) {
		t.Fatalf("description %s", file)
	}
	var a, b bytes.Buffer
	if err := stream(t, plan.StoreDir, file, &a); err != nil {
		t.Fatal(err)
	}
	if err := stream(t, plan.StoreDir, file, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two streams of one description differ")
	}
	names, files := entries(t, a.Bytes())
	var manifest []manifestEntry
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 4 || strings.Join(manifest[0].RepoTags, ",") != "example.org/app:v1" {
		t.Fatalf("manifest.json %+v", manifest)
	}
	m := manifest[0]
	if want := append(append([]string{}, m.Layers...), m.Config, "manifest.json", "repositories"); strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("archive entries %v, want %v", names, want)
	}
	var cfg imageconfig.Image
	if err := strictjson.Unmarshal(files[m.Config], &cfg); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(files[m.Config]); hex.EncodeToString(sum[:])+".json" != m.Config {
		t.Fatalf("configuration %s has digest %x", m.Config, sum)
	}
	// Each layer is the tar package layer writes, named by its DiffID.
	for i, name := range m.Layers {
		var want bytes.Buffer
		var err error
		if plan.Layers[i].Entries != nil {
			_, err = layer.WriteEntriesTar(context.Background(), &want, plan.Layers[i].Entries)
		} else {
			_, err = layer.WriteTar(context.Background(), &want, plan.StoreDir, []string{paths[i-1]}, layer.Options{})
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(files[name], want.Bytes()) {
			t.Fatalf("layer %d differs from package layer's tar", i)
		}
		diffID := digest.FromBytes(want.Bytes())
		if name != diffID.Encoded()+"/layer.tar" || cfg.RootFS.DiffIDs[i] != diffID {
			t.Fatalf("layer %d: name %s, DiffID %s in the configuration, digest %s", i, name, cfg.RootFS.DiffIDs[i], diffID)
		}
	}
	if cfg.Config.Cmd[0] != paths[1]+"/bin/prog" || cfg.Created == nil {
		t.Fatalf("configuration %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.Config.Healthcheck, plan.Config.Config.Healthcheck) || !reflect.DeepEqual(cfg.Config.Shell, plan.Config.Config.Shell) {
		t.Fatalf("configuration's Healthcheck %+v and Shell %q, want the plan's", cfg.Config.Healthcheck, cfg.Config.Shell)
	}
	var repos map[string]map[string]string
	if err := json.Unmarshal(files["repositories"], &repos); err != nil || repos["example.org/app"]["v1"] != cfg.RootFS.DiffIDs[3].Encoded() {
		t.Fatalf("repositories %s (%v)", files["repositories"], err)
	}
}

// failingWriter fails after n bytes, as a closed pipe does; accepted holds
// the bytes it took.
type failingWriter struct {
	n        int
	accepted bytes.Buffer
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		f.accepted.Write(p[:n])
		return n, errors.New("broken pipe")
	}
	f.n -= len(p)
	f.accepted.Write(p)
	return len(p), nil
}

// TestStreamFailures: what goes wrong after the build gives one error, and
// never an archive with a manifest.
func TestStreamFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, paths []string)
		w      *failingWriter
		want   string
		empty  bool
	}{
		{name: "missing store path", change: func(t *testing.T, paths []string) { os.RemoveAll(paths[1]) }, want: "-app of the image is missing", empty: true},
		{name: "same size, other bytes", change: func(t *testing.T, paths []string) {
			rewrite(t, paths[0], "CONTENTS of aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-lib")
		}, want: "not the DiffID"},
		{name: "longer", change: func(t *testing.T, paths []string) { rewrite(t, paths[1], strings.Repeat("x", 2000)) }, want: "no longer the"},
		{name: "shorter", change: func(t *testing.T, paths []string) { os.Remove(filepath.Join(paths[1], "bin", "prog")) }, want: "no longer the"},
		{name: "closed output", w: &failingWriter{n: 5000}, want: "write the archive: broken pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, paths := fixture(t)
			file := encoded(t, plan)
			if tc.change != nil {
				tc.change(t, paths)
			}
			var out bytes.Buffer
			var w io.Writer = &out
			if tc.w != nil {
				w = tc.w
			}
			err := stream(t, plan.StoreDir, file, w)
			written := out.Bytes()
			if tc.w != nil {
				written = tc.w.accepted.Bytes()
				if len(written) == 0 {
					t.Fatal("the failing writer took nothing: the case tests no partial archive")
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tc.want)
			}
			if tc.empty && len(written) != 0 {
				t.Fatalf("%d bytes written before the error", len(written))
			}
			if bytes.Contains(written, []byte("manifest.json")) {
				t.Fatal("a failed stream wrote manifest.json")
			}
		})
	}
}

func rewrite(t *testing.T, storePath, data string) {
	t.Helper()
	p := filepath.Join(storePath, "bin", "prog")
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeInterpreter(t *testing.T) {
	plan, _ := fixture(t)
	d, err := Describe(context.Background(), plan, "app:v1", DescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		interpreter, want string
	}{
		{interpreter, ""},
		{"/bin/oci-builder", ""},
		{"bin/oci-builder stream-image", "not an absolute path"},
		{"/bin/oci-builder stream image", "at most one argument"},
		{"/nix/store/" + strings.Repeat("x", 100) + "/bin/oci-builder stream-image", "more than the 127"},
	} {
		err := Encode(io.Discard, tc.interpreter, d)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: error %v, want %q", tc.interpreter, err, tc.want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	plan, paths := fixture(t)
	store := plan.StoreDir
	good := string(encoded(t, plan))
	// A private file outside the store, as $HOME/secret.
	home := t.TempDir()
	secret := filepath.Join(home, "secret")
	if err := os.WriteFile(secret, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	lib, app := q(paths[0]), q(paths[1])
	for _, tc := range []struct {
		name, file, want string
	}{
		{"no #!", strings.TrimPrefix(good, "#!"), "no #! line"},
		{"no body", "#!" + interpreter, "nothing after"},
		{"other version", strings.Replace(good, `"version":2`, `"version":3`, 1), "version 3"},
		{"unknown key", strings.Replace(good, `"version":2`, `"version":2,"extra":true`, 1), "extra"},
		{"wrong DiffID", strings.Replace(good, `"diffID":"sha256:`, `"diffID":"sha256:0`, 1), "layer 1"},
		{"other store directory", strings.Replace(good, `"storeDir":`+q(store), `"storeDir":`+q(home), 1), `store directory ` + q(home) + `, not this machine's ` + store},
		{"home as the store, a file in it", strings.ReplaceAll(strings.Replace(good, `"storeDir":`+q(store), `"storeDir":`+q(home), 1), lib, q(secret)), "store directory " + q(home)},
		{"a file outside the store", strings.Replace(good, `"paths":[`+lib+`]`, `"paths":[`+q(secret)+`]`, 1), `layer 2: ` + q(secret) + ` is not a store path in ` + store},
		{"contents of /", strings.Replace(good, `"kind":"contents","paths":[`+app+`]`, `"kind":"contents","paths":["/"]`, 1), `layer 4: "/" is not a store path in ` + store},
		{"contents of the store directory", strings.Replace(good, `"kind":"contents","paths":[`+app+`]`, `"kind":"contents","paths":[`+q(store)+`]`, 1), `layer 4: ` + q(store) + ` is not a store path in ` + store},
		{"a path in a store path", strings.Replace(good, `"paths":[`+lib+`]`, `"paths":[`+q(paths[0]+"/bin")+`]`, 1), `layer 2: ` + q(paths[0]+"/bin") + ` is not a store path in`},
		{"dot-dot", strings.Replace(good, `"paths":[`+lib+`]`, `"paths":[`+q(paths[0]+"/../../secret")+`]`, 1), `layer 2: ` + q(paths[0]+"/../../secret") + ` is not a store path in`},
		{"not clean", strings.Replace(good, `"paths":[`+lib+`]`, `"paths":[`+q(store+"//"+filepath.Base(paths[0]))+`]`, 1), `is not a store path in`},
		{"relative", strings.Replace(good, `"paths":[`+lib+`]`, `"paths":[`+q(filepath.Base(paths[0]))+`]`, 1), `layer 2: ` + q(filepath.Base(paths[0])) + ` is not a store path in`},
		{"not a store path name", strings.Replace(good, `"paths":[`+lib+`]`, `"paths":[`+q(store+"/secret")+`]`, 1), `layer 2: ` + q(store+"/secret") + ` is not a store path: not a valid store path name`},
		{"paths on an entries layer", strings.Replace(good, `{"kind":"entries",`, `{"kind":"entries","paths":[`+lib+`],`, 1), `layer 1: a layer of kind "entries" has paths (` + paths[0] + `)`},
		{"empty repo tag", repoTag(good, ""), `the image reference "" is not NAME:TAG`},
		{"repo tag with a newline", repoTag(good, "a\nb:c"), `the image reference "a\nb:c" is not NAME:TAG`},
		{"repo tag with dot-dot", repoTag(good, "../../x:y"), `the image reference "../../x:y" is not NAME:TAG`},
		{"entries on a store layer", strings.Replace(good, `"paths":[`+lib+`]`, `"paths":[`+lib+`],"entries":[{"path":"/x"}]`, 1), `layer 2: a layer of kind "store" has entries (/x)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.file == good {
				t.Fatal("the case changes nothing: the description's layout changed")
			}
			_, err := Decode([]byte(tc.file), store)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
	if _, err := Decode([]byte(good), store); err != nil {
		t.Fatalf("the good description: %v", err)
	}
}

// repoTag replaces the repoTag of the description file.
func repoTag(file, ref string) string {
	b, _ := json.Marshal(ref)
	return regexp.MustCompile(`"repoTag":"[^"]*"`).ReplaceAllLiteralString(file, `"repoTag":`+string(b))
}

func TestCheckRepoTag(t *testing.T) {
	for _, tc := range []struct {
		ref string
		ok  bool
	}{
		{"app:v1", true},
		{"example.org/team/app:1.2.3", true},
		{"localhost:5000/a_b/c__d/e-f/g--h:latest", true},
		{"127.0.0.1:5000/app:V_1.x-y", true},
		{"app:" + strings.Repeat("t", 128), true},
		{"", false},
		{":v1", false},
		{"app", false},
		{"app:", false},
		{"a\nb:c", false},
		{"../../x:y", false},
		{"a/../b:c", false},
		{"Upper/Case:v1", false},
		{"app:.hidden", false},
		{"app:" + strings.Repeat("t", 129), false},
		{"a_:v1", false},
		{"/app:v1", false},
		{"app//x:v1", false},
		{strings.Repeat("a", 256) + ":v1", false},
	} {
		if err := CheckRepoTag(tc.ref); (err == nil) != tc.ok {
			t.Errorf("CheckRepoTag(%q) = %v, want ok %v", tc.ref, err, tc.ok)
		}
	}
}

// TestStreamChecks: Stream checks a description it is given as Decode
// does, before writing anything.
func TestStreamChecks(t *testing.T) {
	plan, _ := fixture(t)
	d, err := Describe(context.Background(), plan, "app:v1", DescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Layers[3].Paths = []string{"/"}
	var out bytes.Buffer
	if err := Stream(context.Background(), &out, d); err == nil || !strings.Contains(err.Error(), `layer 4: "/" is not a store path in `+plan.StoreDir) || out.Len() != 0 {
		t.Fatalf("error %v, %d bytes written", err, out.Len())
	}
}
