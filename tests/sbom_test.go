package tests

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixhash"
)

// sbomExpr is a buildLayeredImage whose contents carry meta.license as
// nixpkgs' packages do: app with an SPDX licence, lib with one that has
// none.
const sbomExpr = `
  licensedApp = app "1" // { meta.license = { spdxId = "MIT"; fullName = "MIT License"; }; };
  licensedLib = lib // { meta.license = [ { fullName = "Custom Licence"; free = false; } ]; };
in
ociTools.buildLayeredImage {
  name = "sbom-${nonce}";
  %s
  contents = [ licensedApp licensedLib ];
  config.Cmd = [ "${licensedApp}/bin/app" ];
}`

// TestImageSBOM builds an image (sandboxed, then --check: same bytes) and
// compares its documents with what Nix says of the closure: every store
// path a component, its name and version as builtins.parseDrvName gives
// them, its NAR hash as nix-store --query --hash, its references, the
// licences of the contents; and the image refers to no more store paths
// than its configuration names.
func TestImageSBOM(t *testing.T) {
	needTools(t)
	img := buildDockerExpr(t, "let\n"+appExpr+sbomExpr, "builtins")
	// The configuration names app (and busybox, through the PATH of its
	// bin directory? no: a dockerTools config is verbatim): the documents,
	// which name the whole closure, add no reference.
	refs := references(t, img)
	if strings.Join(refs, ",") != "app-"+h.nonce {
		t.Fatalf("the image refers to %v, want only app (what its configuration names)", refs)
	}

	stdout, stderr, code := ociBuilder(t, nil, "sbom", img)
	if code != 0 {
		t.Fatalf("oci-builder sbom: exit %d: %s", code, stderr)
	}
	var bom struct {
		Metadata struct {
			Component struct{ Name, Version string }
		}
		Components []struct {
			Name, Version, Purl string
			BOMRef              string `json:"bom-ref"`
			Hashes              []struct{ Alg, Content string }
			Licenses            []struct {
				Expression string
				License    struct{ Name string }
			}
		}
		Dependencies []struct {
			Ref       string
			DependsOn []string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &bom); err != nil {
		t.Fatal(err)
	}
	digest := archiveImageDigest(t, img)
	if bom.Metadata.Component.Name != "sbom-"+h.nonce || bom.Metadata.Component.Version != "v1" {
		t.Fatalf("metadata component %+v", bom.Metadata.Component)
	}

	// The closure as Nix has it: app's and lib's.
	app := strings.Join(strings.Split(refsOf(t, img)[0], "/")[:4], "/")
	closure := strings.Fields(runNixOK(t, "nix-store", "--query", "--requisites", app, libOf(t, app)))
	sort.Strings(closure)
	var got []string
	names := map[string]string{}
	for _, c := range bom.Components {
		got = append(got, c.BOMRef)
		names[c.BOMRef] = c.Name + "\x00" + c.Version
	}
	if !reflect.DeepEqual(got, closure) {
		t.Fatalf("components %v, closure %v", got, closure)
	}
	// Names and versions as builtins.parseDrvName splits them.
	var storeNames []string
	for _, p := range closure {
		storeNames = append(storeNames, fmt.Sprintf("%q", filepath.Base(p)[33:]))
	}
	var parsed []struct{ Name, Version string }
	out := runNixOK(t, "nix-instantiate", "--eval", "--strict", "--json", "--expr", "map builtins.parseDrvName [ "+strings.Join(storeNames, " ")+" ]")
	if err := json.Unmarshal([]byte(out), &parsed); err != nil {
		t.Fatal(err)
	}
	for i, p := range closure {
		if names[p] != parsed[i].Name+"\x00"+parsed[i].Version {
			t.Errorf("%s: name and version %q, builtins.parseDrvName gives %+v", p, names[p], parsed[i])
		}
	}
	deps := map[string][]string{}
	for _, d := range bom.Dependencies {
		deps[d.Ref] = d.DependsOn
	}
	for _, c := range bom.Components {
		nh, err := nixhash.ParseAny(runNixOK(t, "nix-store", "--query", "--hash", c.BOMRef), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Hashes) != 1 || c.Hashes[0].Content != hex.EncodeToString(nh.Digest()) {
			t.Errorf("%s: hashes %+v, nix-store --query --hash gives %x", c.BOMRef, c.Hashes, nh.Digest())
		}
		var want []string
		for _, r := range strings.Fields(runNixOK(t, "nix-store", "--query", "--references", c.BOMRef)) {
			if r != c.BOMRef {
				want = append(want, r)
			}
		}
		sort.Strings(want)
		if strings.Join(deps[c.BOMRef], " ") != strings.Join(want, " ") {
			t.Errorf("%s: depends on %v, Nix says %v", c.BOMRef, deps[c.BOMRef], want)
		}
		switch {
		case strings.HasSuffix(c.BOMRef, "-app-"+h.nonce):
			if len(c.Licenses) != 1 || c.Licenses[0].Expression != "MIT" {
				t.Errorf("app's licences %+v", c.Licenses)
			}
		case strings.HasSuffix(c.BOMRef, "-lib-"+h.nonce):
			if len(c.Licenses) != 1 || c.Licenses[0].License.Name != "Custom Licence" {
				t.Errorf("lib's licences %+v", c.Licenses)
			}
		default:
			if len(c.Licenses) != 0 {
				t.Errorf("%s: licences %+v", c.Name, c.Licenses)
			}
		}
	}

	// The provenance: the manifest as subject, the derivation, the
	// builder, the closure.
	stdout, stderr, code = ociBuilder(t, nil, "sbom", "--format", "provenance", img)
	var st struct {
		Subject []struct {
			Digest map[string]string
		}
		Predicate struct {
			BuildDefinition struct {
				ExternalParameters struct {
					Derivation struct{ Name, System, Out string }
				}
				ResolvedDependencies []struct{ Name, URI string }
			}
		}
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil {
		t.Fatalf("provenance: exit %d %s", code, stderr)
	}
	bd := st.Predicate.BuildDefinition
	if len(st.Subject) != 1 || "sha256:"+st.Subject[0].Digest["sha256"] != digest || bd.ExternalParameters.Derivation.Name != "sbom-"+h.nonce+".tar" ||
		bd.ExternalParameters.Derivation.Out != "" || len(bd.ResolvedDependencies) != len(closure)+1 ||
		!strings.HasSuffix(bd.ResolvedDependencies[0].URI, "-oci-builder/bin/oci-builder") {
		t.Fatalf("provenance %+v", st)
	}
}

// refsOf is the store paths the image's configuration names, from its
// references.
func refsOf(t *testing.T, img string) []string {
	t.Helper()
	return strings.Fields(runNixOK(t, "nix-store", "--query", "--references", img))
}

// libOf finds lib in app's closure.
func libOf(t *testing.T, app string) string {
	t.Helper()
	for _, p := range strings.Fields(runNixOK(t, "nix-store", "--query", "--requisites", app)) {
		if strings.HasSuffix(p, "-lib-"+h.nonce) {
			return p
		}
	}
	t.Fatalf("no lib in %s's closure", app)
	return ""
}

func runNixOK(t *testing.T, tool string, args ...string) string {
	t.Helper()
	r := runNix(t, tool, args...)
	if r.err != nil {
		t.Fatal(r)
	}
	return r.out
}
