package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Property names of the documents' own facts (CycloneDX properties, SPDX
// annotations name them too).
const (
	PropStorePath = "oci-builder:store-path"
	PropStoreDir  = "oci-builder:store-dir"
	PropNarSize   = "oci-builder:nar-size"
)

type cdxBOM struct {
	Schema       string          `json:"$schema"`
	BOMFormat    string          `json:"bomFormat"`
	SpecVersion  string          `json:"specVersion"`
	SerialNumber string          `json:"serialNumber"`
	Version      int             `json:"version"`
	Metadata     cdxMetadata     `json:"metadata"`
	Components   []cdxComponent  `json:"components"`
	Dependencies []cdxDependency `json:"dependencies"`
}

type cdxMetadata struct {
	Timestamp  string        `json:"timestamp"`
	Tools      cdxTools      `json:"tools"`
	Component  cdxComponent  `json:"component"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	Type       string        `json:"type"`
	BOMRef     string        `json:"bom-ref,omitempty"`
	Name       string        `json:"name"`
	Version    string        `json:"version,omitempty"`
	Hashes     []cdxHash     `json:"hashes,omitempty"`
	Licenses   []cdxLicense  `json:"licenses,omitempty"`
	PURL       string        `json:"purl,omitempty"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

// cdxLicense is one element of a component's licenses: a licence or an
// SPDX expression.
type cdxLicense struct {
	License    *cdxLicenseChoice `json:"license,omitempty"`
	Expression string            `json:"expression,omitempty"`
}

type cdxLicenseChoice struct {
	Name string `json:"name"`
}

// cdxLicenses are a store path's licences: one SPDX expression when every
// one has an SPDX identifier (an expression is not bound to the schema's
// list of identifiers, which may lag behind nixpkgs'), else each by name.
func cdxLicenses(ls []License) []cdxLicense {
	if len(ls) == 0 {
		return nil
	}
	var ids []string
	for _, l := range ls {
		if l.SPDXID == "" || !spdxIDRe.MatchString(l.SPDXID) {
			ids = nil
			break
		}
		ids = append(ids, l.SPDXID)
	}
	if ids != nil {
		sort.Strings(ids)
		return []cdxLicense{{Expression: strings.Join(dedup(ids), " AND ")}}
	}
	out := make([]cdxLicense, len(ls))
	for i, l := range ls {
		name := l.Name
		if name == "" {
			name = l.SPDXID
		}
		out[i] = cdxLicense{License: &cdxLicenseChoice{Name: name}}
	}
	return out
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxDependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

// imageRef is the bom-ref (and SPDX element name) of the image itself.
const imageRef = "image"

// CycloneDX returns the CycloneDX 1.6 JSON document of the image: the image
// as the metadata's component (type container, its manifest digest as hash
// and purl), one component (type library) per store path, and the
// dependency graph from the image to the closure's roots and from each
// store path to its references. Store path hash parts are hidden (Hide).
func CycloneDX(in Input) ([]byte, error) {
	comps, mhex, err := prepare(in)
	if err != nil {
		return nil, err
	}
	return cycloneDX(in, comps, mhex)
}

// cycloneDX is CycloneDX of the prepared input (prepare).
func cycloneDX(in Input, comps []Component, mhex string) ([]byte, error) {
	bom := cdxBOM{
		Schema:       "http://cyclonedx.org/schema/bom-1.6.schema.json",
		BOMFormat:    "CycloneDX",
		SpecVersion:  "1.6",
		SerialNumber: "urn:uuid:" + uuid("cyclonedx", in.Image.Manifest),
		Version:      1,
		Metadata: cdxMetadata{
			Timestamp: timestamp(in.Image),
			Tools: cdxTools{Components: []cdxComponent{{
				Type: "application", Name: "oci-builder", Version: in.Build.Version,
			}}},
			Component: cdxComponent{
				Type:    "container",
				BOMRef:  imageRef,
				Name:    in.Image.Name,
				Version: in.Image.Tag,
				Hashes:  []cdxHash{{Alg: "SHA-256", Content: mhex}},
				PURL:    ociPURL(in.Image),
			},
			Properties: []cdxProperty{{Name: PropStoreDir, Value: path.Dir(comps[0].Path)}},
		},
		Components:   make([]cdxComponent, 0, len(comps)),
		Dependencies: make([]cdxDependency, 0, len(comps)+1),
	}
	bom.Dependencies = append(bom.Dependencies, cdxDependency{Ref: imageRef, DependsOn: roots(in, comps)})
	for _, c := range comps {
		cc := cdxComponent{
			Type:    "library",
			BOMRef:  c.Path,
			Name:    c.Name,
			Version: c.Version,
			PURL:    c.PURL,
			Properties: []cdxProperty{
				{Name: PropStorePath, Value: c.Path},
			},
		}
		if c.NarSHA256 != "" {
			cc.Hashes = []cdxHash{{Alg: "SHA-256", Content: c.NarSHA256}}
		}
		if c.NarSize != 0 {
			cc.Properties = append(cc.Properties, cdxProperty{Name: PropNarSize, Value: strconv.FormatUint(c.NarSize, 10)})
		}
		cc.Licenses = cdxLicenses(c.Licenses)
		bom.Components = append(bom.Components, cc)
		deps := c.References
		if deps == nil {
			deps = []string{}
		}
		bom.Dependencies = append(bom.Dependencies, cdxDependency{Ref: c.Path, DependsOn: deps})
	}
	return encode(bom, hashes(in, comps))
}

// timestamp is the image's creation time, the documents' only time.
func timestamp(img Image) string {
	return img.Created.UTC().Format("2006-01-02T15:04:05Z")
}

// ociPURL is the image's package URL (type oci): its name, manifest digest
// and tag.
func ociPURL(img Image) string {
	name := strings.ToLower(purlEscape(img.Name))
	if name == "" {
		name = "image"
	}
	s := "pkg:oci/" + name + "@" + strings.Replace(img.Manifest, ":", "%3A", 1)
	if img.Tag != "" {
		s += "?tag=" + purlEscape(img.Tag)
	}
	return s
}

// encode writes v as compact JSON, without HTML escapes, with a final
// newline and the hash parts hidden. Compact, not indented: on a closure
// of 1,191 paths indenting took a fifth of the image builder's CPU time
// (jq or any JSON viewer indents them for people).
func encode(v any, hide map[string]bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("sbom: encode: %w", err)
	}
	return Hide(buf.Bytes(), hide), nil
}
