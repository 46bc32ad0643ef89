package schema_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/schema"
)

// runtimeSpecModule is where the embedded schemas come from (see NOTICE).
const runtimeSpecModule = "github.com/opencontainers/runtime-spec"

// moduleDir returns the directory of the module go.mod requires, in the
// module cache (downloading it if it is not there), and its version. It
// skips the test when go cannot say (no go command, no network), unless CI
// is set.
func moduleDir(t *testing.T, module string) (dir, version string) {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	list := func() (string, string, error) {
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", module)
		// Vendoring (GOFLAGS=-mod=vendor, as in a Nix build) hides the
		// module cache.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := cmd.Output()
		dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
		return dir, version, err
	}
	dir, version, err := list()
	if err == nil && dir == "" {
		// Required but not downloaded yet.
		if out, err := exec.Command("go", "mod", "download", module).CombinedOutput(); err != nil {
			skip("go mod download %s: %v\n%s", module, err, out)
		}
		dir, version, err = list()
	}
	if err != nil || dir == "" {
		skip("go list -m %s: %q, %v", module, dir, err)
	}
	return dir, version
}

// TestEmbeddedSchemaIsUpstream: the embedded v1.3.0 schema files are, byte
// for byte, the schema/ files of the runtime-spec module go.mod requires
// (v1.3.0, whose module zip carries schema/*.json), and every file of those
// that config.json validation uses is embedded.
func TestEmbeddedSchemaIsUpstream(t *testing.T) {
	dir, version := moduleDir(t, runtimeSpecModule)
	if version != "v"+schema.Version {
		t.Fatalf("go.mod requires %s %s, but the embedded schema the builder writes configs for is %s", runtimeSpecModule, version, schema.Version)
	}
	upstream, err := filepath.Glob(filepath.Join(dir, "schema", "*.json"))
	if err != nil || len(upstream) == 0 {
		t.Fatalf("the module %s at %s has no schema/*.json (%v)", runtimeSpecModule, dir, err)
	}
	embeddedDir := "runtime-spec-v" + schema.Version
	embedded, err := filepath.Glob(filepath.Join(embeddedDir, "*.json"))
	if err != nil || len(embedded) == 0 {
		t.Fatalf("no embedded schema in %s (%v)", embeddedDir, err)
	}
	for _, e := range embedded {
		mine, err := os.ReadFile(e)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := os.ReadFile(filepath.Join(dir, "schema", filepath.Base(e)))
		if err != nil {
			t.Errorf("%s is not in the module's schema/: %v", e, err)
			continue
		}
		if !bytes.Equal(mine, theirs) {
			t.Errorf("%s differs from %s", e, filepath.Join(dir, "schema", filepath.Base(e)))
		}
	}
	// The configuration's schema and its definitions: the features and
	// state schemas describe other documents.
	var missing []string
	for _, u := range upstream {
		name := filepath.Base(u)
		if !strings.HasPrefix(name, "config-") && !strings.HasPrefix(name, "defs") {
			continue
		}
		if _, err := os.Stat(filepath.Join(embeddedDir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the module's schema/ has %v, which %s lacks", missing, embeddedDir)
	}
}
