package tests

// The option-parity test: one list of options, kept in step in three
// places. The Nix library (the formal arguments of buildContainer and
// buildImage in nix/oci-tools.nix, and its containerOptions checkers), Go
// (the JSON fields of container.Options and image.Options, which the builder
// decodes strictly) and the docs (the argument tables of docs/nix-api.md and
// docs/images.md). An option added to one place alone fails here, with a
// message saying what to add where.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
)

// nixOnly are the arguments of buildContainer and buildImage that never
// reach the builder under their own name. Keep it tiny: every other
// argument must be a JSON field of container.Options or image.Options.
var nixOnly = map[string]string{
	"cmd":  "the library turns it into args = [ cmd ]",
	"name": "the derivation's name; the builder never sees it",
	// buildImage's declared layer derivations.
	"layers": "the builder gets the layer derivations' outputs under layerDerivations, and the layers left for the rest of the closure under closureMaxLayers",
	// dockerTools' names of what picks the base image: the builder gets
	// them in image.fromImage (name, tag).
	"fromImageName": "passed as image.fromImage.name",
	"fromImageTag":  "passed as image.fromImage.tag",
	// Evaluation only, as mkDerivation's.
	"passthru": "attributes of the result, for evaluation only",
	"meta":     "an attribute of the result, for evaluation only",
}

// goOnly are JSON fields of container.Options that buildContainer does not
// take as arguments. None today: every container option can be set from Nix.
var goOnly = map[string]string{
	"seccompArch": "buildContainer sets it from the platform the bundle is built for (its 'arch' is metadata, as nixpkgs')",
}

// notChecked are the JSON fields of container.Options that nix/oci-tools.nix
// builds itself instead of passing them through a containerOptions checker.
var notChecked = map[string]string{
	"args":        "commandLine builds it from args or cmd",
	"mounts":      "checkMount checks each mount; the builder gets a list",
	"seccompArch": "buildContainer sets it from the platform (defaultArch)",
}

// nixOptions are the option names of nix/oci-tools.nix.
type nixOptions struct {
	// Container and Image are the formal arguments of buildContainer and
	// buildImage (builtins.functionArgs).
	Container map[string]bool `json:"container"`
	Image     map[string]bool `json:"image"`
	// Layer are the formal arguments of buildLayer.
	Layer map[string]bool `json:"layer"`
	// Checkers are the names in containerOptions: the options checkOptions
	// passes to the builder. A formal argument without a checker is dropped.
	Checkers []string `json:"checkers"`
	// Refused are the options buildImage refuses (runtimeOnly).
	Refused []string `json:"refused"`
	// Docker are buildImage's arguments of dockerTools' style, which
	// docs/migration.md describes (not options of the image layout).
	Docker []string `json:"docker"`
}

// evalNixOptions reads the option names from nix/oci-tools.nix, imported
// with a stub oci-builder (nothing is built).
func evalNixOptions(t *testing.T) nixOptions {
	t.Helper()
	file, _ := json.Marshal(filepath.Join(h.repo, "nix", "oci-tools.nix"))
	expr := fmt.Sprintf(`let t = import (/. + %s) { oci-builder = "/x"; }; in {
  container = builtins.functionArgs t.buildContainer;
  image = builtins.functionArgs t.buildImage;
  layer = builtins.functionArgs t.buildLayer;
  checkers = t._containerOptionNames;
  refused = t._imageRefusedOptionNames;
  docker = t._imageDockerStyleNames;
}`, file)
	r := runNix(t, "nix-instantiate", "--eval", "--strict", "--json", "--expr", expr)
	if r.err != nil {
		t.Fatal(r)
	}
	var opts nixOptions
	if err := json.Unmarshal([]byte(r.out), &opts); err != nil {
		t.Fatalf("nix-instantiate printed %q: %v", r.out, err)
	}
	return opts
}

// jsonNames are the JSON names of a struct type's fields.
func jsonNames(t *testing.T, typ reflect.Type) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			t.Fatalf("%s.%s has no JSON name: give it a json tag", typ, f.Name)
		}
		names[name] = true
	}
	return names
}

// docTable holds what a docs page says of options: the names in the first
// column of its argument tables (the tables whose first header is
// "argument"), and the names in backticks elsewhere on the page.
type docTable struct {
	page    string
	table   map[string]bool
	prose   map[string]bool
	repeats []string
}

var (
	backticked = regexp.MustCompile("`([^`]*)`")
	identifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
)

func readDocTable(t *testing.T, page string) docTable {
	t.Helper()
	return readDocTableHeaded(t, page, "argument")
}

// readDocTableHeaded is readDocTable for the tables whose first header is
// header.
func readDocTableHeaded(t *testing.T, page, header string) docTable {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.repo, "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	d := docTable{page: "docs/" + page, table: map[string]bool{}, prose: map[string]bool{}}
	lines := strings.Split(string(data), "\n")
	inTable, fence := false, false
	for i, line := range lines {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if fence {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			inTable = false
			for _, m := range backticked.FindAllStringSubmatch(line, -1) {
				d.prose[m[1]] = true
			}
			continue
		}
		cells := strings.Split(line, "|")
		first := strings.TrimSpace(cells[1])
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "|---") {
			inTable = first == header
			continue
		}
		if !inTable || strings.HasPrefix(line, "|---") {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(first, -1) {
			if identifier.MatchString(m[1]) {
				if d.table[m[1]] {
					d.repeats = append(d.repeats, m[1])
				}
				d.table[m[1]] = true
			}
		}
	}
	if len(d.table) == 0 {
		t.Fatalf("%s has no table whose first column is headed \"argument\"", d.page)
	}
	return d
}

func setOf(names ...[]string) map[string]bool {
	s := map[string]bool{}
	for _, list := range names {
		for _, n := range list {
			s[n] = true
		}
	}
	return s
}

func keys(m ...map[string]bool) []string {
	var out []string
	for _, s := range m {
		for k := range s {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func minus(a map[string]bool, b ...[]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for _, list := range b {
		for _, k := range list {
			delete(out, k)
		}
	}
	return out
}

// TestOptionParity checks that every option the Nix library takes exists
// in Go's options and in the docs, and the other way round.
func TestOptionParity(t *testing.T) {
	need(t)
	nix := evalNixOptions(t)
	goContainer := jsonNames(t, reflect.TypeOf(container.Options{}))
	goImage := jsonNames(t, reflect.TypeOf(image.Options{}))
	containerDoc := readDocTable(t, "nix-api.md")
	imageDoc := readDocTable(t, "images.md")
	layerDoc := readDocTableHeaded(t, "images.md", "`buildLayer` argument")

	for _, n := range keysOf(nixOnly) {
		if goContainer[n] || goImage[n] {
			t.Errorf("nixOnly in tests/options_test.go lists %q, but Go has that option: remove it from nixOnly", n)
		}
	}
	refused := setOf(nix.Refused)
	// buildImage's dockerTools-style arguments are checked against
	// docs/migration.md below, not against the image options.
	nix.Image = minus(nix.Image, nix.Docker)
	imageCarried := minus(nix.Image, nix.Refused)
	migrationDoc := readDocTableHeaded(t, "migration.md", "`dockerTools.buildImage` argument")

	// Each check: every name in have must be in want, or fix says what to do.
	checks := []struct {
		name string
		have []string
		want map[string]bool
		fix  string // %[1]s is the option
	}{
		{
			"buildContainer arguments are Go container options",
			keys(nix.Container), setOf(keys(goContainer), keysOf(nixOnly)),
			"buildContainer in nix/oci-tools.nix takes %[1]q, but container.Options (pkg/container/options.go) has no field with JSON name %[1]q: add the field and implement it, or remove the argument",
		},
		{
			"Go container options are buildContainer arguments",
			keys(goContainer), setOf(keys(nix.Container), keysOf(goOnly)),
			"container.Options (pkg/container/options.go) has the JSON field %[1]q, but buildContainer in nix/oci-tools.nix has no argument %[1]q: add `%[1]s ? null,` to its formals and a checker to containerOptions",
		},
		{
			"containerOptions checkers are Go container options",
			nix.Checkers, minus(goContainer, keysOf(notChecked)),
			"containerOptions in nix/oci-tools.nix checks %[1]q, but container.Options (pkg/container/options.go) has no field with JSON name %[1]q: the builder would refuse it; add the field",
		},
		{
			"Go container options have containerOptions checkers",
			keys(minus(goContainer, keysOf(notChecked))), setOf(nix.Checkers),
			"container.Options (pkg/container/options.go) has the JSON field %[1]q, but containerOptions in nix/oci-tools.nix has no checker for it, so buildContainer drops it: add `%[1]s = <checker>;` to containerOptions",
		},
		{
			"buildContainer arguments have containerOptions checkers",
			keys(minus(nix.Container, keysOf(nixOnly), keysOf(notChecked))), setOf(nix.Checkers),
			"buildContainer in nix/oci-tools.nix takes %[1]q, but containerOptions has no checker for it, so it never reaches the builder: add `%[1]s = <checker>;` to containerOptions",
		},
		{
			"buildImage arguments are Go container or image options",
			keys(nix.Image), setOf(keys(goContainer), keys(goImage), keysOf(nixOnly)),
			"buildImage in nix/oci-tools.nix takes %[1]q, but neither container.Options (pkg/container/options.go) nor image.Options (pkg/image/options.go) has a field with JSON name %[1]q: add it to image.Options if it is an image setting (and pass it under `image` in buildImage), or to container.Options",
		},
		{
			"Go image options are buildImage arguments",
			keys(goImage), nix.Image,
			"image.Options (pkg/image/options.go) has the JSON field %[1]q, but buildImage in nix/oci-tools.nix has no argument %[1]q: add it to the formals and pass it under `image`",
		},
		{
			"Go container options are buildImage arguments (carried or refused)",
			keys(minus(goContainer, []string{"args"}, keysOf(goOnly))), nix.Image,
			"container.Options (pkg/container/options.go) has the JSON field %[1]q, but buildImage in nix/oci-tools.nix has no argument %[1]q: add `%[1]s ? null,` to its formals, and to runtimeOnly with what decides it if an image cannot carry it",
		},
		{
			"options buildImage refuses are container options it takes",
			nix.Refused, setOf(keys(minus(goContainer, []string{"args"})), keys(nix.Image)),
			"runtimeOnly in nix/oci-tools.nix refuses %[1]q, which is not a container option buildImage takes: remove it from runtimeOnly or add the option",
		},
		{
			"buildContainer arguments are in the table of nix-api.md",
			keys(nix.Container), containerDoc.table,
			"buildContainer takes %[1]q, but the `buildContainer` arguments table of docs/nix-api.md has no row for it: add `| `%[1]s` | type | default | nixpkgs | meaning |`",
		},
		{
			"the table of nix-api.md names only buildContainer arguments",
			keys(containerDoc.table), nix.Container,
			"docs/nix-api.md's `buildContainer` arguments table has a row for %[1]q, which buildContainer in nix/oci-tools.nix does not take: remove the row or add the option",
		},
		{
			"buildImage arguments it carries are in the table of images.md",
			keys(imageCarried), imageDoc.table,
			"buildImage takes %[1]q, but the `buildImage` arguments table of docs/images.md has no row for it: add `| `%[1]s` | type | default | meaning |`",
		},
		{
			"the table of images.md names only buildImage arguments it carries",
			keys(imageDoc.table), imageCarried,
			"docs/images.md's `buildImage` arguments table has a row for %[1]q, which buildImage does not take or refuses (runtimeOnly in nix/oci-tools.nix): remove the row, or the option from runtimeOnly",
		},
		{
			"options buildImage refuses are named in images.md",
			nix.Refused, imageDoc.prose,
			"buildImage refuses %[1]q (runtimeOnly in nix/oci-tools.nix), but docs/images.md does not say so: name `%[1]s` where it lists the options that are refused at evaluation",
		},
	}
	checks = append(checks, []struct {
		name string
		have []string
		want map[string]bool
		fix  string
	}{
		{
			"buildImage's dockerTools-style arguments are in the table of migration.md",
			nix.Docker, migrationDoc.table,
			"buildImage takes dockerTools' %[1]q, but docs/migration.md has no row for it in the table headed `dockerTools.buildImage` argument: add `| `%[1]s` | status | ... |`",
		},
		{
			"buildLayer arguments are in the buildLayer table of images.md",
			keys(nix.Layer), layerDoc.table,
			"buildLayer takes %[1]q, but docs/images.md has no row for it in the table headed `buildLayer` argument: add `| `%[1]s` | type | default | meaning |`",
		},
		{
			"the buildLayer table of images.md names only buildLayer arguments",
			keys(layerDoc.table), nix.Layer,
			"docs/images.md's `buildLayer` arguments table has a row for %[1]q, which buildLayer in nix/oci-tools.nix does not take: remove the row or add the argument",
		},
	}...)
	for _, c := range checks {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			if len(c.have) == 0 {
				t.Fatal("nothing to check: the list is empty")
			}
			for _, n := range c.have {
				if !c.want[n] {
					t.Errorf(c.fix, n)
				}
			}
		})
	}

	t.Run("docs_tables_name_each_option_once", func(t *testing.T) {
		for _, d := range []docTable{containerDoc, imageDoc} {
			for _, n := range d.repeats {
				t.Errorf("%s's arguments table names %q more than once: keep one row", d.page, n)
			}
		}
		for n := range refused {
			if imageDoc.table[n] {
				t.Errorf("docs/images.md's arguments table has a row for %q, which buildImage refuses: remove the row", n)
			}
		}
	})
}
