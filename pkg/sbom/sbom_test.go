package sbom_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/santhosh-tekuri/jsonschema/v6"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/oci-builder/oci-builder/pkg/sbom"
	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/tests/imports"
)

// TestNoIO keeps the package pure.
func TestNoIO(t *testing.T) {
	imports.Check(t, ".", nil, imports.IO()...)
}

func TestParseDrvName(t *testing.T) {
	// What builtins.parseDrvName gives (Nix's DrvName): the name ends at
	// the first dash followed by a character that is not a letter.
	for _, c := range []struct{ in, name, version string }{
		{"hello-2.12.1", "hello", "2.12.1"},
		{"glibc-2.38-27-bin", "glibc", "2.38-27-bin"},
		{"busybox", "busybox", ""},
		{"python3.11-requests-2.31.0", "python3.11-requests", "2.31.0"},
		{"gcc-13.2.0-lib", "gcc", "13.2.0-lib"},
		{"foo-bar-baz", "foo-bar-baz", ""},
		{"nix-2.8.0-man", "nix", "2.8.0-man"},
		{"x-", "x-", ""},
		{"a--1", "a", "-1"},
		{"source", "source", ""},
		{"openssl-3.0.13-dev", "openssl", "3.0.13-dev"},
		{"perl5.38.2-URI-5.21", "perl5.38.2-URI", "5.21"},
		{"unstable-2024-01-01", "unstable", "2024-01-01"},
	} {
		name, version := sbom.ParseDrvName(c.in)
		if name != c.name || version != c.version {
			t.Errorf("ParseDrvName(%q) = %q, %q, want %q, %q", c.in, name, version, c.name, c.version)
		}
	}
}

// storePath makes a valid store path for name.
func storePath(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "/nix/store/" + nixbase32.EncodeToString(sum[:20]) + "-" + name
}

func narHash(s string) string {
	sum := sha256.Sum256([]byte("nar " + s))
	return "sha256:" + nixbase32.EncodeToString(sum[:])
}

// testInput is an image of app-1.0 on glibc and busybox, with licences
// and a library with no version.
func testInput() sbom.Input {
	glibc, busybox, lib, app := storePath("glibc-2.38-27"), storePath("busybox"), storePath("lib+data=x"), storePath("app-1.0")
	out := "/srv/images/my-app"
	builder := storePath("oci-builder-0.1") + "/bin/oci-builder"
	info := func(p string, refs ...string) *store.PathInfo {
		return &store.PathInfo{Path: p, NarHash: narHash(p), NarSize: uint64(len(p)) * 100, References: refs}
	}
	return sbom.Input{
		Closure: []*store.PathInfo{
			info(app, app, lib, busybox),
			info(lib, glibc),
			info(busybox),
			info(glibc, glibc),
		},
		Image: sbom.Image{
			Name: "my-app", Tag: "v1", Manifest: "sha256:" + strings.Repeat("ab", 32),
			Created: time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC), OS: "linux", Architecture: "amd64",
		},
		Build: sbom.Build{
			Derivation: "my-app", System: "x86_64-linux", Out: out, Command: "nix-image-builder",
			Builder: builder, Version: "0.1", Roots: []string{app},
		},
		Licenses: []sbom.PathLicenses{
			{Path: app, Licenses: []sbom.License{{SPDXID: "MIT"}, {SPDXID: "Apache-2.0"}}},
			{Path: busybox, Licenses: []sbom.License{{SPDXID: "GPL-2.0-only"}}},
			{Path: lib, Licenses: []sbom.License{{Name: "Unfree but redistributable"}}},
			{Path: storePath("elsewhere"), Licenses: []sbom.License{{SPDXID: "MIT"}}},
		},
	}
}

func documents(t *testing.T, in sbom.Input) (cdx, spdx, prov []byte) {
	t.Helper()
	docs, err := sbom.Documents(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 || docs[0].ArtifactType != sbom.CycloneDXType || docs[1].ArtifactType != sbom.SPDXType || docs[2].ArtifactType != sbom.InTotoType {
		t.Fatalf("documents %+v", docs)
	}
	// Encoded at once, they are what each function gives alone.
	for i, f := range []func(sbom.Input) ([]byte, error){sbom.CycloneDX, sbom.SPDX, sbom.Provenance} {
		alone, err := f(in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(alone, docs[i].Data) {
			t.Fatalf("document %d differs from its function's", i)
		}
	}
	return docs[0].Data, docs[1].Data, docs[2].Data
}

// TestCycloneDXSchema validates the CycloneDX document against CycloneDX's
// own JSON schema (bom-1.6 with its spdx and jsf companions, from npm's
// @cyclonedx/cyclonedx-library, in testdata/cyclonedx).
func TestCycloneDXSchema(t *testing.T) {
	cdx, _, _ := documents(t, testInput())
	schema := cycloneDXSchema(t)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(cdx))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(inst); err != nil {
		t.Fatalf("CycloneDX document invalid: %v\n%s", err, cdx)
	}
	// The schema does check: a document without its bomFormat fails.
	var doc map[string]any
	if err := json.Unmarshal(cdx, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "bomFormat")
	if err := schema.Validate(doc); err == nil {
		t.Fatal("a document without bomFormat passed the schema")
	}
}

func cycloneDXSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for file, url := range map[string]string{
		"bom-1.6.SNAPSHOT.schema.json":  "http://cyclonedx.org/schema/bom-1.6.schema.json",
		"spdx.SNAPSHOT.schema.json":     "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
		"jsf-0.82.SNAPSHOT.schema.json": "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "cyclonedx", file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSPDXSchema validates the SPDX document against SPDX 2.3's JSON
// schema (testdata/spdx, from the syft Go module: see its NOTICE).
func TestSPDXSchema(t *testing.T) {
	_, spdx, _ := documents(t, testInput())
	data, err := os.ReadFile(filepath.Join("testdata", "spdx", "spdx-schema-2.3.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("http://spdx.org/rdf/terms/2.3", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("http://spdx.org/rdf/terms/2.3")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(spdx))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(inst); err != nil {
		t.Fatalf("SPDX document invalid: %v\n%s", err, spdx)
	}
	// The schema does check: a package without its SPDXID, or a field
	// SPDX 2.3 does not have, fails.
	for name, change := range map[string]func(map[string]any){
		"package without SPDXID": func(d map[string]any) { delete(d["packages"].([]any)[0].(map[string]any), "SPDXID") },
		"unknown field":          func(d map[string]any) { d["timestamp"] = "now" },
	} {
		var d map[string]any
		if err := json.Unmarshal(spdx, &d); err != nil {
			t.Fatal(err)
		}
		change(d)
		if err := schema.Validate(d); err == nil {
			t.Errorf("%s: passed the schema", name)
		}
	}
}

// TestSPDX reads the SPDX document with the SPDX project's Go library
// (tools-golang: its JSON reader and its document validation) and checks
// what SPDX 2.3 requires of each field.
func TestSPDX(t *testing.T) {
	in := testInput()
	_, spdx, _ := documents(t, in)
	var doc v2_3.Document
	if err := spdxjson.ReadInto(bytes.NewReader(spdx), &doc); err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXIdentifier != "DOCUMENT" || doc.DocumentName != "my-app:v1" ||
		!strings.HasPrefix(doc.DocumentNamespace, "urn:uuid:") || doc.CreationInfo == nil || doc.CreationInfo.Created != "1970-01-01T00:00:01Z" ||
		len(doc.CreationInfo.Creators) != 1 || doc.CreationInfo.Creators[0].CreatorType != "Tool" {
		t.Fatalf("document %+v", doc)
	}
	described, err := spdxlib.GetDescribedPackageIDs(&doc)
	if err != nil || len(described) != 1 || described[0] != "Image" {
		t.Fatalf("described %v %v", described, err)
	}
	if len(doc.Packages) != 1+len(in.Closure) {
		t.Fatalf("%d packages", len(doc.Packages))
	}
	files := map[string]*v2_3.Package{}
	for _, p := range doc.Packages[1:] {
		files[p.PackageFileName] = p
		if p.PackageDownloadLocation != "NOASSERTION" || p.FilesAnalyzed || len(p.PackageChecksums) != 1 || p.PackageChecksums[0].Algorithm != "SHA256" ||
			len(p.PackageExternalReferences) != 1 || p.PackageExternalReferences[0].RefType != "purl" {
			t.Fatalf("package %+v", p)
		}
	}
	for _, info := range in.Closure {
		p := files[info.Path]
		if p == nil {
			t.Fatalf("no package for %s", info.Path)
		}
		name, version := sbom.ParseDrvName(info.Name())
		if p.PackageName != name || p.PackageVersion != version {
			t.Fatalf("package %+v for %s", p, info.Path)
		}
	}
	licences := map[string]string{}
	for _, p := range doc.Packages[1:] {
		licences[p.PackageName] = p.PackageLicenseDeclared
	}
	want := map[string]string{"app": "Apache-2.0 AND MIT", "busybox": "GPL-2.0-only", "glibc": "NOASSERTION", "lib+data=x": "LicenseRef-Unfree-but-redistributable"}
	if !reflect.DeepEqual(licences, want) || len(doc.OtherLicenses) != 1 || doc.OtherLicenses[0].LicenseIdentifier != "LicenseRef-Unfree-but-redistributable" {
		t.Fatalf("licences %v, other licences %+v", licences, doc.OtherLicenses)
	}
	// The image contains each path; each depends on its references, not
	// on itself: app on lib and busybox, lib on glibc.
	count := map[string]int{}
	for _, r := range doc.Relationships {
		count[r.Relationship]++
	}
	if count["DESCRIBES"] != 1 || count["CONTAINS"] != 4 || count["DEPENDS_ON"] != 3 {
		t.Fatalf("relationships %v", count)
	}
}

// TestStorePaths checks that the documents name every store path exactly
// once read as JSON, and that no hash part appears in their bytes, where
// Nix's reference scanner would find it.
func TestStorePaths(t *testing.T) {
	in := testInput()
	cdx, spdx, prov := documents(t, in)
	hashes := []string{strings.Split(in.Build.Builder, "/")[3][:32]}
	for _, p := range in.Closure {
		hashes = append(hashes, filepath.Base(p.Path)[:32])
	}
	for name, doc := range map[string][]byte{"CycloneDX": cdx, "SPDX": spdx, "provenance": prov} {
		for _, h := range hashes {
			if bytes.Contains(doc, []byte(h)) {
				i := bytes.Index(doc, []byte(h))
				t.Errorf("%s names the hash %s in its bytes: %s", name, h, doc[max(0, i-60):i+40])
			}
		}
	}

	var bom struct {
		Metadata struct {
			Component struct {
				Type, Name, Version, Purl string
				Hashes                    []struct{ Alg, Content string }
			}
		}
		Components []struct {
			Type, Name, Version, Purl string
			BOMRef                    string `json:"bom-ref"`
			Hashes                    []struct{ Alg, Content string }
			Licenses                  []map[string]any
			Properties                []struct{ Name, Value string }
		}
		Dependencies []struct {
			Ref       string
			DependsOn []string
		}
	}
	if err := json.Unmarshal(cdx, &bom); err != nil {
		t.Fatal(err)
	}
	mc := bom.Metadata.Component
	if mc.Type != "container" || mc.Name != "my-app" || mc.Version != "v1" || mc.Purl != "pkg:oci/my-app@sha256%3A"+strings.Repeat("ab", 32)+"?tag=v1" ||
		len(mc.Hashes) != 1 || mc.Hashes[0].Content != strings.Repeat("ab", 32) {
		t.Fatalf("metadata component %+v", mc)
	}
	if len(bom.Components) != len(in.Closure) {
		t.Fatalf("%d components for %d store paths", len(bom.Components), len(in.Closure))
	}
	for _, c := range bom.Components {
		info := findInfo(in.Closure, c.BOMRef)
		if info == nil || len(c.Properties) != 2 || c.Properties[0].Value != info.Path || c.Properties[1].Value != fmt.Sprint(info.NarSize) {
			t.Fatalf("component %+v", c)
		}
		h, err := nixbase32.DecodeString(strings.TrimPrefix(info.NarHash, "sha256:"))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Hashes) != 1 || c.Hashes[0].Alg != "SHA-256" || c.Hashes[0].Content != fmt.Sprintf("%x", h) {
			t.Fatalf("component %s: hashes %+v", info.Path, c.Hashes)
		}
		name, version := sbom.ParseDrvName(info.Name())
		if c.Name != name || c.Version != version || c.Purl != sbom.PURL(name, version, filepath.Base(info.Path)[:32]) {
			t.Fatalf("component %+v", c)
		}
	}
	deps := map[string][]string{}
	for _, d := range bom.Dependencies {
		deps[d.Ref] = d.DependsOn
	}
	app, lib, busybox, glibc := in.Closure[0].Path, in.Closure[1].Path, in.Closure[2].Path, in.Closure[3].Path
	want := map[string][]string{"image": {app}, app: sortedStrings(busybox, lib), lib: {glibc}, busybox: {}, glibc: {}}
	if !reflect.DeepEqual(deps, want) {
		t.Fatalf("dependencies %v, want %v", deps, want)
	}
}

func findInfo(infos []*store.PathInfo, p string) *store.PathInfo {
	for _, i := range infos {
		if i.Path == p {
			return i
		}
	}
	return nil
}

func sortedStrings(s ...string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestReproducible: the same closure, given in another order with its
// licences in another order, gives the same bytes.
func TestReproducible(t *testing.T) {
	a1, a2, a3 := documents(t, testInput())
	in := testInput()
	for i, j := 0, len(in.Closure)-1; i < j; i, j = i+1, j-1 {
		in.Closure[i], in.Closure[j] = in.Closure[j], in.Closure[i]
	}
	in.Closure[0].References = []string{in.Closure[0].Path}
	for i, j := 0, len(in.Licenses)-1; i < j; i, j = i+1, j-1 {
		in.Licenses[i], in.Licenses[j] = in.Licenses[j], in.Licenses[i]
	}
	in.Licenses[len(in.Licenses)-1].Licenses = []sbom.License{{SPDXID: "Apache-2.0"}, {SPDXID: "MIT"}, {SPDXID: "MIT"}}
	b1, b2, b3 := documents(t, in)
	if !bytes.Equal(a1, b1) || !bytes.Equal(a2, b2) || !bytes.Equal(a3, b3) {
		t.Fatal("the documents depend on the order of their input")
	}
}

// TestProvenance checks the in-toto statement: the subject is the
// manifest, every store path is a resolved dependency with its NAR hash,
// and the builder is one too.
func TestProvenance(t *testing.T) {
	in := testInput()
	_, _, prov := documents(t, in)
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name   string
			Digest map[string]string
		}
		PredicateType string
		Predicate     struct {
			BuildDefinition struct {
				BuildType          string
				ExternalParameters struct {
					Derivation struct{ Name, System, Out string }
					Roots      []string
				}
				InternalParameters   map[string]string
				ResolvedDependencies []struct {
					Name, URI string
					Digest    map[string]string
				}
			}
			RunDetails struct {
				Builder struct {
					ID      string
					Version map[string]string
				}
			}
		}
	}
	if err := json.Unmarshal(prov, &st); err != nil {
		t.Fatal(err)
	}
	bd := st.Predicate.BuildDefinition
	if st.Type != "https://in-toto.io/Statement/v1" || len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != strings.Repeat("ab", 32) ||
		st.Subject[0].Name != "my-app:v1" || st.PredicateType != "https://slsa.dev/provenance/v1" || bd.BuildType != sbom.BuildType ||
		bd.ExternalParameters.Derivation.Name != "my-app" || bd.ExternalParameters.Derivation.System != "x86_64-linux" ||
		bd.ExternalParameters.Derivation.Out != in.Build.Out || !reflect.DeepEqual(bd.ExternalParameters.Roots, in.Build.Roots) ||
		bd.InternalParameters["command"] != "nix-image-builder" || bd.InternalParameters["storeDir"] != "/nix/store" ||
		st.Predicate.RunDetails.Builder.ID != sbom.BuilderID || st.Predicate.RunDetails.Builder.Version["oci-builder"] != "0.1" {
		t.Fatalf("statement %+v", st)
	}
	deps := bd.ResolvedDependencies
	if len(deps) != 1+len(in.Closure) || deps[0].URI != "file://"+in.Build.Builder {
		t.Fatalf("resolved dependencies %+v", deps)
	}
	for _, d := range deps[1:] {
		info := findInfo(in.Closure, d.Name)
		if info == nil {
			t.Fatalf("dependency %+v is not in the closure", d)
		}
		h, _ := nixbase32.DecodeString(strings.TrimPrefix(info.NarHash, "sha256:"))
		if d.Digest["sha256"] != fmt.Sprintf("%x", h) {
			t.Fatalf("dependency %+v: want NAR hash %x", d, h)
		}
	}
}

// TestNoNarHash: a graph without NAR hashes (the text format) gives
// documents without them, still valid.
func TestNoNarHash(t *testing.T) {
	in := testInput()
	for _, p := range in.Closure {
		p.NarHash, p.NarSize = "", 0
	}
	cdx, spdx, prov := documents(t, in)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(cdx))
	if err != nil {
		t.Fatal(err)
	}
	if err := cycloneDXSchema(t).Validate(inst); err != nil {
		t.Fatal(err)
	}
	var doc v2_3.Document
	if err := spdxjson.ReadInto(bytes.NewReader(spdx), &doc); err != nil {
		t.Fatal(err)
	}
	// No component has hashes (the image's own, in metadata, does), and
	// the provenance still names the store paths, without digests.
	var bom struct {
		Components []map[string]any `json:"components"`
	}
	if err := json.Unmarshal(cdx, &bom); err != nil {
		t.Fatal(err)
	}
	for _, c := range bom.Components {
		if _, ok := c["hashes"]; ok {
			t.Errorf("component %v has hashes without NAR hashes", c["bom-ref"])
		}
	}
	if len(bom.Components) == 0 || !bytes.Contains(prov, []byte(`"uri":"file:///nix/store/`)) {
		t.Fatalf("documents without NAR hashes:\n%s\n%s", cdx, prov)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*sbom.Input)
		want   string
	}{
		{"empty closure", func(in *sbom.Input) { in.Closure = nil }, "the closure is empty"},
		{"not closed", func(in *sbom.Input) { in.Closure = in.Closure[:1] }, "closure is not closed"},
		{"bad NAR hash", func(in *sbom.Input) { in.Closure[2].NarHash = "sha256:xyz" }, "narHash"},
		{"MD5 NAR hash", func(in *sbom.Input) { in.Closure[2].NarHash = "md5:" + strings.Repeat("0", 32) }, "not SHA-256"},
		{"bad manifest digest", func(in *sbom.Input) { in.Image.Manifest = "sha512:00" }, "manifest digest"},
		{"two store dirs", func(in *sbom.Input) { in.Closure[2].Path = "/gnu/store/" + filepath.Base(in.Closure[2].Path) }, "store directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := testInput()
			c.change(&in)
			_, err := sbom.Documents(in)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, c.want)
			}
		})
	}
	if !errors.Is(func() error {
		in := testInput()
		in.Closure = in.Closure[:1]
		_, err := sbom.CycloneDX(in)
		return err
	}(), store.ErrNotClosed) {
		t.Fatal("not closed: not store.ErrNotClosed")
	}
}

func TestHide(t *testing.T) {
	h := strings.Repeat("a", 16) + "7" + strings.Repeat("b", 15)
	doc := []byte(`{"p":"/nix/store/` + h + `-x","q":"` + h + `","r":"x-` + h + `=y","s":"` + strings.Repeat("c", 32) + `"}`)
	got := sbom.Hide(doc, map[string]bool{h: true})
	e := h[:16] + `\u0037` + h[17:]
	want := `{"p":"/nix/store/` + e + `-x","q":"` + e + `","r":"x-` + e + `=y","s":"` + strings.Repeat("c", 32) + `"}`
	if string(got) != want || bytes.Contains(got, []byte(h)) {
		t.Fatalf("Hide: %s\nwant %s", got, want)
	}
	var a, b map[string]string
	if err := json.Unmarshal(doc, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &b); err != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("Hide changed the JSON: %v %v", b, err)
	}
}

// TestHideOddPlaces: wherever a hash part sits in a document (at its
// start, inside a longer run of nix-base32 characters, after a JSON
// escape, in a key, back to back with another, overlapping another or
// itself), Hide leaves none of the hashes in the raw bytes, as Nix's
// reference scanner reads them, and the JSON reads back the same.
func TestHideOddPlaces(t *testing.T) {
	const h1 = "7q2ll0rvx90p67z87nlcb0rjz5plf513"
	// over is a hash part that starts k characters into h1.
	over := func(k int) string { return h1[k:] + "0123456789abcdfghijklmnpqrsvwxyz"[:k] }
	h2 := over(32)
	tests := []struct {
		name   string
		doc    string
		hashes []string
	}{
		{"alone", `"` + h1 + `"`, []string{h1}},
		{"inside a longer run", `"abc` + h1 + `xyz0"`, []string{h1}},
		{"after a JSON escape", `"\n` + h1 + `\t` + h1 + `"`, []string{h1}},
		{"in a key", `{"` + h1 + `":"/nix/store/` + h1 + `-x"}`, []string{h1}},
		{"back to back", `"` + h1 + h2 + `"`, []string{h1, h2}},
		{"overlapping from the 2nd character", `"` + h1 + over(1)[31:] + `"`, []string{h1, over(1)}},
		{"overlapping from the 17th character", `"` + h1 + over(16)[16:] + `"`, []string{h1, over(16)}},
		{"overlapping from the 18th character", `"` + h1 + over(17)[15:] + `"`, []string{h1, over(17)}},
		{"overlapping from the 21st character", `"` + h1 + over(20)[12:] + `"`, []string{h1, over(20)}},
		{"overlapping from the 32nd character", `"` + h1 + over(31)[1:] + `"`, []string{h1, over(31)}},
		{"the second only, overlapping", `"` + h1 + over(20)[12:] + `"`, []string{over(20)}},
		{"overlapping itself", `"` + strings.Repeat("a", 80) + `"`, []string{strings.Repeat("a", 32)}},
		{"three in a chain", `"` + h1 + over(20)[12:] + over(20)[12:][:20] + `"`, []string{h1, over(20), (h1 + over(20)[12:] + over(20)[12:][:20])[40:72]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := map[string]bool{}
			for _, h := range tc.hashes {
				if len(h) != 32 || !strings.Contains(tc.doc, h) {
					t.Fatalf("bad case: %q is not a hash part of the document", h)
				}
				set[h] = true
			}
			got := sbom.Hide([]byte(tc.doc), set)
			for h := range set {
				if bytes.Contains(got, []byte(h)) {
					t.Errorf("%s still in %s", h, got)
				}
			}
			var a, b any
			if err := json.Unmarshal([]byte(tc.doc), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &b); err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("Hide changed the JSON: %s: %v", got, err)
			}
		})
	}
}
