package sbom

import "path"

type statement struct {
	Type          string         `json:"_type"`
	Subject       []resource     `json:"subject"`
	PredicateType string         `json:"predicateType"`
	Predicate     slsaProvenance `json:"predicate"`
}

type resource struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]any    `json:"annotations,omitempty"`
}

type slsaProvenance struct {
	BuildDefinition buildDefinition `json:"buildDefinition"`
	RunDetails      runDetails      `json:"runDetails"`
}

type buildDefinition struct {
	BuildType            string             `json:"buildType"`
	ExternalParameters   externalParameters `json:"externalParameters"`
	InternalParameters   internalParameters `json:"internalParameters"`
	ResolvedDependencies []resource         `json:"resolvedDependencies"`
}

// externalParameters are what the user chose: the derivation (name and
// system), the closure's roots and the image's name, tag and platform.
type externalParameters struct {
	Derivation derivationParams `json:"derivation"`
	Roots      []string         `json:"roots"`
	Image      imageParams      `json:"image"`
}

type derivationParams struct {
	Name   string `json:"name,omitempty"`
	System string `json:"system,omitempty"`
	Out    string `json:"out,omitempty"`
}

type imageParams struct {
	Name         string `json:"name"`
	Tag          string `json:"tag,omitempty"`
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	Created      string `json:"created"`
}

type internalParameters struct {
	Command  string `json:"command"`
	StoreDir string `json:"storeDir"`
}

type runDetails struct {
	Builder builder `json:"builder"`
}

type builder struct {
	ID                  string            `json:"id"`
	Version             map[string]string `json:"version,omitempty"`
	BuilderDependencies []resource        `json:"builderDependencies,omitempty"`
}

// Provenance returns the SLSA provenance v1 in-toto statement (v1) of the
// image: its subject is the image manifest; the build definition holds the
// derivation (name, system, output path), the closure's roots and the image
// settings as external parameters, the oci-builder command and store
// directory as internal ones, and as resolved dependencies the oci-builder
// executable and every store path of the closure with the SHA-256 of its
// NAR serialisation. It names no time and no host. Store path hash parts
// are hidden (Hide).
func Provenance(in Input) ([]byte, error) {
	comps, mhex, err := prepare(in)
	if err != nil {
		return nil, err
	}
	return provenance(in, comps, mhex)
}

// provenance is Provenance of the prepared input (prepare).
func provenance(in Input, comps []Component, mhex string) ([]byte, error) {
	name := in.Image.nameTag()
	st := statement{
		Type:          "https://in-toto.io/Statement/v1",
		Subject:       []resource{{Name: name, Digest: map[string]string{"sha256": mhex}}},
		PredicateType: SLSAProvenance,
		Predicate: slsaProvenance{
			BuildDefinition: buildDefinition{
				BuildType: BuildType,
				ExternalParameters: externalParameters{
					Derivation: derivationParams{Name: in.Build.Derivation, System: in.Build.System, Out: in.Build.Out},
					Roots:      roots(in, comps),
					Image: imageParams{
						Name: in.Image.Name, Tag: in.Image.Tag,
						OS: in.Image.OS, Architecture: in.Image.Architecture,
						Created: timestamp(in.Image),
					},
				},
				InternalParameters: internalParameters{Command: in.Build.Command, StoreDir: path.Dir(comps[0].Path)},
			},
			RunDetails: runDetails{Builder: builder{ID: BuilderID}},
		},
	}
	if in.Build.Version != "" {
		st.Predicate.RunDetails.Builder.Version = map[string]string{"oci-builder": in.Build.Version}
	}
	deps := make([]resource, 0, len(comps)+1)
	if in.Build.Builder != "" {
		b := resource{Name: "oci-builder", URI: "file://" + in.Build.Builder}
		deps = append(deps, b)
		st.Predicate.RunDetails.Builder.BuilderDependencies = []resource{b}
	}
	for _, c := range comps {
		r := resource{Name: c.Path}
		if c.NarSHA256 != "" {
			r.Digest = map[string]string{"sha256": c.NarSHA256}
			r.Annotations = map[string]any{"digestOf": "nar", "narSize": c.NarSize}
		} else {
			r.URI = "file://" + c.Path
		}
		deps = append(deps, r)
	}
	st.Predicate.BuildDefinition.ResolvedDependencies = deps
	return encode(st, hashes(in, comps))
}
