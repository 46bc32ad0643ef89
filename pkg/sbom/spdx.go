package sbom

import (
	"regexp"
	"sort"
	"strings"
)

type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	DocumentDescribes []string           `json:"documentDescribes"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
	ExtractedLicenses []spdxExtracted    `json:"hasExtractedLicensingInfos,omitempty"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID                string            `json:"SPDXID"`
	Name                  string            `json:"name"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	PackageFileName       string            `json:"packageFileName,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	Checksums             []spdxChecksum    `json:"checksums,omitempty"`
	LicenseConcluded      string            `json:"licenseConcluded"`
	LicenseDeclared       string            `json:"licenseDeclared"`
	CopyrightText         string            `json:"copyrightText"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs"`
	Comment               string            `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

type spdxExtracted struct {
	LicenseID     string `json:"licenseId"`
	ExtractedText string `json:"extractedText"`
	Name          string `json:"name"`
}

const noAssertion = "NOASSERTION"

// spdxIDRe is what an SPDX licence identifier may hold; others become
// LicenseRef- names.
var spdxIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+-]*$`)

// SPDXID is the SPDX identifier of a store path's package:
// SPDXRef-nix-HASH-NAME, its name cut to what identifiers may hold.
func SPDXID(c Component) string {
	return "SPDXRef-nix-" + c.Hash + "-" + idChars(c.Name)
}

// idChars keeps the characters SPDX identifiers may hold (letters, digits,
// '.' and '-'), others become '-'.
func idChars(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (isLetter(byte(r)) || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return r
		}
		return '-'
	}, s)
}

// SPDX returns the SPDX 2.3 JSON document of the image: the image as the
// package the document describes (purpose CONTAINER, its manifest digest as
// checksum), one package per store path (its store path as
// packageFileName, its NAR hash as SHA256 checksum, its purl, its declared
// licence), the image CONTAINS every store path and each DEPENDS_ON its
// references. Store path hash parts are hidden (Hide).
func SPDX(in Input) ([]byte, error) {
	comps, mhex, err := prepare(in)
	if err != nil {
		return nil, err
	}
	return spdx(in, comps, mhex)
}

// spdx is SPDX of the prepared input (prepare).
func spdx(in Input, comps []Component, mhex string) ([]byte, error) {
	const imageID = "SPDXRef-Image"
	name := in.Image.nameTag()
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              name,
		DocumentNamespace: "urn:uuid:" + uuid("spdx", in.Image.Manifest),
		CreationInfo: spdxCreationInfo{
			Created:  timestamp(in.Image),
			Creators: []string{"Tool: oci-builder-" + in.Build.Version},
		},
		DocumentDescribes: []string{imageID},
		Packages: []spdxPackage{{
			SPDXID:                imageID,
			Name:                  in.Image.Name,
			VersionInfo:           in.Image.Tag,
			DownloadLocation:      noAssertion,
			Checksums:             []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: mhex}},
			LicenseConcluded:      noAssertion,
			LicenseDeclared:       noAssertion,
			CopyrightText:         noAssertion,
			PrimaryPackagePurpose: "CONTAINER",
			ExternalRefs:          []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: ociPURL(in.Image)}},
			Comment:               "The OCI image; its checksum is the SHA-256 of its manifest.",
		}},
		Relationships: []spdxRelationship{{SPDXElementID: "SPDXRef-DOCUMENT", RelationshipType: "DESCRIBES", RelatedSPDXElement: imageID}},
	}
	ids := map[string]string{}
	for _, c := range comps {
		ids[c.Path] = SPDXID(c)
	}
	extracted := map[string]spdxExtracted{}
	for _, c := range comps {
		p := spdxPackage{
			SPDXID:                ids[c.Path],
			Name:                  c.Name,
			VersionInfo:           c.Version,
			PackageFileName:       c.Path,
			DownloadLocation:      noAssertion,
			LicenseConcluded:      noAssertion,
			LicenseDeclared:       licenseExpression(c.Licenses, extracted),
			CopyrightText:         noAssertion,
			PrimaryPackagePurpose: "LIBRARY",
			ExternalRefs:          []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: c.PURL}},
		}
		if c.NarSHA256 != "" {
			p.Checksums = []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: c.NarSHA256}}
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{SPDXElementID: imageID, RelationshipType: "CONTAINS", RelatedSPDXElement: ids[c.Path]})
	}
	for _, c := range comps {
		for _, r := range c.References {
			doc.Relationships = append(doc.Relationships, spdxRelationship{SPDXElementID: ids[c.Path], RelationshipType: "DEPENDS_ON", RelatedSPDXElement: ids[r]})
		}
	}
	for _, e := range extracted {
		doc.ExtractedLicenses = append(doc.ExtractedLicenses, e)
	}
	sort.Slice(doc.ExtractedLicenses, func(i, j int) bool { return doc.ExtractedLicenses[i].LicenseID < doc.ExtractedLicenses[j].LicenseID })
	return encode(doc, hashes(in, comps))
}

// licenseExpression is the SPDX expression of a store path's licences
// (NOASSERTION when none is known; several are joined with AND, since
// nixpkgs' list does not say whether they are alternatives). A licence
// without an SPDX identifier becomes LicenseRef-NAME, recorded in
// extracted.
func licenseExpression(ls []License, extracted map[string]spdxExtracted) string {
	if len(ls) == 0 {
		return noAssertion
	}
	var parts []string
	for _, l := range ls {
		if l.SPDXID != "" && spdxIDRe.MatchString(l.SPDXID) {
			parts = append(parts, l.SPDXID)
			continue
		}
		name := l.Name
		if name == "" {
			name = l.SPDXID
		}
		id := "LicenseRef-" + idChars(name)
		extracted[id] = spdxExtracted{LicenseID: id, Name: name,
			ExtractedText: "The licence named " + name + " (meta.license of the package, without an SPDX identifier)."}
		parts = append(parts, id)
	}
	sort.Strings(parts)
	parts = dedup(parts)
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts, " AND ")
}
