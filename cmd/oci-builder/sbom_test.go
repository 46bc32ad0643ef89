package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSBOMCommand builds an image with `oci-builder image`, prints its
// three documents from the layout and from copies of it (an oci-archive,
// a layout), and checks what a docker-archive, a changed blob and bad
// arguments give.
func TestSBOMCommand(t *testing.T) {
	_, prog, lib := fakeStore(t)
	progHash, progSize := narOf(t, prog)
	libHash, libSize := narOf(t, lib)
	graph := writeGraph(t, []map[string]any{
		{"path": prog, "references": []string{lib}, "narHash": progHash, "narSize": progSize},
		{"path": lib, "references": []string{}, "narHash": libHash, "narSize": libSize},
	})
	img := filepath.Join(t.TempDir(), "image")
	if code, stdout, stderr := runWith(t, nil, "image", "--out", img, "--graph", graph, "--tag", "v1", "--", prog+"/bin/prog"); code != 0 {
		t.Fatalf("image: exit %d, %s %s", code, stdout, stderr)
	}
	archive := filepath.Join(t.TempDir(), "image.tar")
	layout := filepath.Join(t.TempDir(), "copy")
	docker := filepath.Join(t.TempDir(), "docker.tar")
	for _, dest := range []string{"oci-archive:" + archive, "oci:" + layout, "docker-archive:" + docker} {
		code, _, stderr := runWith(t, nil, "copy", img, dest)
		want := "; 3 documents attached (SBOMs, provenance)"
		if strings.HasPrefix(dest, "docker-archive:") {
			want = "3 layers\n" // and no documents: a docker-archive has no place for them
		}
		if code != 0 || !strings.Contains(stderr, want) || strings.HasPrefix(dest, "docker-archive:") && strings.Contains(stderr, "documents") {
			t.Fatalf("copy to %s: exit %d, %s", dest, code, stderr)
		}
	}

	for _, src := range []string{img, "oci:" + img + ":v1", archive, "oci-archive:" + archive, "oci:" + layout} {
		code, stdout, stderr := runWith(t, nil, "sbom", src)
		var bom struct {
			BOMFormat  string
			Components []struct {
				Name       string
				Properties []struct{ Name, Value string }
			}
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &bom) != nil || bom.BOMFormat != "CycloneDX" || len(bom.Components) != 2 ||
			bom.Components[0].Name != "prog" || bom.Components[0].Properties[0].Value != prog || bom.Components[1].Properties[0].Value != lib {
			t.Fatalf("sbom %s: exit %d, %+v, stderr %s", src, code, bom, stderr)
		}
		code, stdout, _ = runWith(t, nil, "sbom", "--format", "spdx", src)
		var spdx struct{ SPDXVersion string }
		if code != 0 || json.Unmarshal([]byte(stdout), &spdx) != nil || spdx.SPDXVersion != "SPDX-2.3" {
			t.Fatalf("sbom --format spdx %s: exit %d, %.200s", src, code, stdout)
		}
		code, stdout, _ = runWith(t, nil, "sbom", "--format", "provenance", src)
		var st struct {
			PredicateType string
			Predicate     struct {
				BuildDefinition struct {
					ExternalParameters struct{ Derivation struct{ Out string } }
				}
			}
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil || st.PredicateType != "https://slsa.dev/provenance/v1" ||
			st.Predicate.BuildDefinition.ExternalParameters.Derivation.Out != img {
			t.Fatalf("sbom --format provenance %s: exit %d, %.300s", src, code, stdout)
		}
	}

	// A document whose blob changed is refused.
	code, stdout, _ := runWith(t, nil, "sbom", img)
	var changed string
	entries, _ := os.ReadDir(filepath.Join(img, "blobs", "sha256"))
	for _, e := range entries {
		p := filepath.Join(img, "blobs", "sha256", e.Name())
		if data, _ := os.ReadFile(p); string(data) == stdout {
			changed = e.Name()
			os.Chmod(p, 0o644)
			os.WriteFile(p, append(data, ' '), 0o644)
		}
	}
	if code != 0 || changed == "" {
		t.Fatal("no blob holds the CycloneDX document")
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sbom", img}, 1, "blob sha256:" + changed + " has the digest sha256:"},
		{[]string{"sbom", docker}, 1, "no index.json in the archive: not an OCI layout's (a docker-archive without one has no place for documents)"},
		{[]string{"sbom", "--format", "xml", img}, 2, `sbom: --format "xml" is not cyclonedx, spdx or provenance`},
		{[]string{"sbom"}, 2, "sbom: want one IMAGE"},
		{[]string{"sbom", "oci:" + layout + ":v2"}, 1, `no image tagged "v2"`},
		{[]string{"sbom", filepath.Join(t.TempDir(), "missing")}, 1, "index.json"},
	} {
		code, stdout, stderr := runWith(t, nil, c.args...)
		if code != c.code || stdout != "" || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %.100q, stderr %q, want %q", c.args, code, stdout, stderr, c.want)
		}
	}
}
