// Package sbom describes an image's closure exactly: a CycloneDX 1.6 and an
// SPDX 2.3 software bill of materials (one component, or package, per store
// path, with its name and version as builtins.parseDrvName splits them, its
// store path, NAR hash, references and licences), and a SLSA provenance v1
// in-toto statement whose subject is the image manifest.
//
// It does no I/O: a closure graph and what the build knows in, the
// documents' bytes out. The bytes depend on nothing else (no time, no host,
// sorted lists), so that the same inputs give the same documents.
//
// Every store path hash part (of the closure, of the builder) is written
// with its 17th character as a JSON \u escape (Hide): a JSON
// reader gets the store path itself, while Nix's reference scanner, which
// looks for the 32 hash characters in the raw bytes, does not see it. An
// image layout that holds these documents so refers to no more store paths
// than its configuration names.
package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// Media types and artifact types of the documents.
const (
	// CycloneDXType is CycloneDX JSON's media type, the artifactType of its
	// artifact.
	CycloneDXType = "application/vnd.cyclonedx+json"
	// SPDXType is SPDX JSON's media type.
	SPDXType = "application/spdx+json"
	// InTotoType is an in-toto statement's media type.
	InTotoType = "application/vnd.in-toto+json"
	// PredicateTypeAnnotation is the annotation of an in-toto artifact that
	// names its predicate type.
	PredicateTypeAnnotation = "in-toto.io/predicate-type"
	// SLSAProvenance is the predicate type of SLSA provenance v1.
	SLSAProvenance = "https://slsa.dev/provenance/v1"
	// BuildType is the buildType of the provenance: a Nix derivation built
	// by oci-builder (docs/sbom.md says what its parameters hold).
	BuildType = "https://github.com/oci-builder/oci-builder/blob/main/docs/sbom.md#build-type-v1"
	// BuilderID is the provenance's builder.id.
	BuilderID = "https://github.com/oci-builder/oci-builder/blob/main/docs/sbom.md#builder"
)

// Image is the image the documents describe.
type Image struct {
	// Name is the image's name (the derivation's name, or the layout
	// directory's), Tag its reference name.
	Name, Tag string
	// Manifest is the digest of the image manifest ("sha256:<hex>").
	Manifest string
	// Created is the image's creation time: the documents' time, never
	// the clock's.
	Created time.Time
	// OS and Architecture are the image's platform.
	OS, Architecture string
}

// Build is how the image was built.
type Build struct {
	// Derivation is the derivation's name and System its system; both
	// empty outside Nix.
	Derivation, System string
	// Out is the layout directory written outside Nix (oci-builder
	// image); empty for a derivation's output, which Nix may build at
	// another path and rewrite (see hashes).
	Out string
	// Command is the oci-builder command that wrote the image
	// (nix-image-builder, image).
	Command string
	// Builder is the path of the oci-builder executable, Version its
	// version.
	Builder, Version string
	// Roots are the closure's roots: the store paths the image was given.
	Roots []string
}

// License is a licence of a store path, as the Nix library knows it from
// meta.license: an SPDX identifier, else a name.
type License struct {
	SPDXID string `json:"spdxId,omitempty"`
	Name   string `json:"name,omitempty"`
}

// PathLicenses are the licences of one store path.
type PathLicenses struct {
	Path     string    `json:"path"`
	Licenses []License `json:"licenses"`
}

// Input is what the documents are made of.
type Input struct {
	// Closure is the image's closure: every store path and its
	// references, in one store directory.
	Closure []*store.PathInfo
	Image   Image
	Build   Build
	// Licenses are the licences the Nix library knew, by store path;
	// paths outside the closure are ignored.
	Licenses []PathLicenses
}

// Component is one store path of the closure as the documents describe it.
type Component struct {
	// Path is the store path, Hash its hash part.
	Path, Hash string
	// Name and Version are the name part split as builtins.parseDrvName
	// splits it (Version may be empty).
	Name, Version string
	// NarSHA256 is the hexadecimal SHA-256 of the path's NAR
	// serialisation, empty when the graph has no NAR hash; NarSize its size.
	NarSHA256 string
	NarSize   uint64
	// References are the other store paths it refers to, sorted.
	References []string
	Licenses   []License
	// PURL is its package URL.
	PURL string
}

// ParseDrvName splits a store path's name part as builtins.parseDrvName
// does: the name runs to the first dash followed by a character that is not
// a letter, the version is what follows that dash.
func ParseDrvName(s string) (name, version string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !isLetter(s[i+1]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// PURL is the package URL of a store path: type nix, which the purl
// specification does not register yet, as syft writes it for the store
// paths it finds (pkg:nix/NAME@VERSION?outputhash=HASH), so that a
// scanner matches ours and syft's alike.
func PURL(name, version, hash string) string {
	var b strings.Builder
	b.WriteString("pkg:nix/")
	b.WriteString(purlEscape(name))
	if version != "" {
		b.WriteString("@")
		b.WriteString(purlEscape(version))
	}
	b.WriteString("?outputhash=")
	b.WriteString(hash)
	return b.String()
}

// purlEscape percent-encodes what a purl's name or version may not hold
// literally (store path names may hold '+', '?' and '=').
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLetter(c) || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Components describes the closure, sorted by store path. It checks that
// the closure is closed, that every store path is in one store directory,
// and that the NAR hashes are SHA-256.
func Components(in Input) ([]Component, error) {
	if len(in.Closure) == 0 {
		return nil, errors.New("sbom: the closure is empty")
	}
	infos := make([]store.PathInfo, len(in.Closure))
	for i, p := range in.Closure {
		infos[i] = *p
	}
	g, err := store.NewGraph(infos, "")
	if err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	licenses := map[string][]License{}
	for _, l := range in.Licenses {
		licenses[l.Path] = append(licenses[l.Path], l.Licenses...)
	}
	paths := g.Paths()
	out := make([]Component, 0, len(paths))
	for _, p := range paths {
		info, _ := g.Lookup(p)
		base := path.Base(p)
		c := Component{Path: p, Hash: base[:32], NarSize: info.NarSize}
		c.Name, c.Version = ParseDrvName(info.Name())
		c.PURL = PURL(c.Name, c.Version, c.Hash)
		if info.NarHash != "" {
			h, err := nixhash.ParseAny(info.NarHash, nil)
			if err != nil {
				return nil, fmt.Errorf("sbom: %s: narHash %q: %w", p, info.NarHash, err)
			}
			if h.Algo() != nixhash.SHA256 {
				return nil, fmt.Errorf("sbom: %s: narHash %q is not SHA-256", p, info.NarHash)
			}
			c.NarSHA256 = hex.EncodeToString(h.Digest())
		}
		for _, r := range info.References {
			if r == p {
				continue
			}
			if _, ok := g.Lookup(r); !ok {
				return nil, fmt.Errorf("sbom: %w: %s refers to %s", store.ErrNotClosed, p, r)
			}
			c.References = append(c.References, r)
		}
		c.Licenses = dedupLicenses(licenses[p])
		out = append(out, c)
	}
	return out, nil
}

func dedupLicenses(ls []License) []License {
	seen := map[License]bool{}
	var out []License
	for _, l := range ls {
		if (l.SPDXID == "" && l.Name == "") || seen[l] {
			continue
		}
		seen[l] = true
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SPDXID != out[j].SPDXID {
			return out[i].SPDXID < out[j].SPDXID
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// roots are the closure roots that are in the closure, sorted, or every
// path that no other path refers to when none are given.
func roots(in Input, comps []Component) []string {
	inClosure := map[string]bool{}
	for _, c := range comps {
		inClosure[c.Path] = true
	}
	var out []string
	for _, r := range in.Build.Roots {
		if inClosure[r] {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		referred := map[string]bool{}
		for _, c := range comps {
			for _, r := range c.References {
				referred[r] = true
			}
		}
		for _, c := range comps {
			if !referred[c.Path] {
				out = append(out, c.Path)
			}
		}
	}
	sort.Strings(out)
	return dedup(out)
}

func dedup(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// prepare checks the input of a document: the closure's components and
// the hexadecimal manifest digest.
func prepare(in Input) ([]Component, string, error) {
	comps, err := Components(in)
	if err != nil {
		return nil, "", err
	}
	mhex, err := manifestHex(in.Image)
	if err != nil {
		return nil, "", err
	}
	return comps, mhex, nil
}

// nameTag is NAME:TAG, or NAME without a tag.
func (img Image) nameTag() string {
	if img.Tag == "" {
		return img.Name
	}
	return img.Name + ":" + img.Tag
}

// manifestHex is the hexadecimal part of the image's sha256 manifest digest.
func manifestHex(img Image) (string, error) {
	h, ok := strings.CutPrefix(img.Manifest, "sha256:")
	if !ok || len(h) != 64 {
		return "", fmt.Errorf("sbom: manifest digest %q is not sha256:<64 hex digits>", img.Manifest)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("sbom: manifest digest %q is not sha256:<64 hex digits>", img.Manifest)
	}
	return h, nil
}

// uuid is a name-based UUID (version 5 layout, SHA-256 truncated as
// RFC 9562's version 8 allows; marked version 8) of the given parts.
func uuid(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Hide rewrites the JSON document doc so that none of the given store path
// hash parts appears in its raw bytes: the 17th character of each
// occurrence is written as a \u escape, which JSON readers decode back.
// Nix's reference scanner, which searches the raw bytes for the 32
// characters of hash parts, then finds no reference. (The middle one: the
// escape of a digit ends with the digit, "\u0037" for 7, which at the
// start would leave the whole hash in the bytes.) The hashes must only
// occur inside JSON strings (where an escape is valid), as in this
// package's documents; they may sit anywhere in a string, inside longer
// runs of nix-base32 characters and overlapping each other.
func Hide(doc []byte, hashes map[string]bool) []byte {
	var out []byte
	last := 0
	run := 0
	for i := 0; i < len(doc); i++ {
		if !isBase32[doc[i]] {
			run = 0
			continue
		}
		run++
		if run < 32 {
			continue
		}
		start := i - 31
		if !hashes[string(doc[start:i+1])] {
			continue
		}
		if out == nil {
			// Each hash hidden adds 5 bytes; a document naming store
			// paths names little else.
			out = make([]byte, 0, len(doc)+len(doc)/8)
		}
		mid := start + 16
		out = append(out, doc[last:mid]...)
		out = append(out, '\\', 'u', '0', '0', hexDigits[doc[mid]>>4], hexDigits[doc[mid]&0xf])
		last = mid + 1
		// The windows that start before mid hold its escape; those
		// from mid on must still be looked at: a hash part there (the
		// document's bytes from mid are the output's when doc[mid] is a
		// digit, whose escape ends with it) would be left whole.
		run = i - mid + 1
	}
	if out == nil {
		return doc
	}
	return append(out, doc[last:]...)
}

const hexDigits = "0123456789abcdef"

// isBase32 tells the bytes of nix-base32 (nixbase32.Is), for Hide's scan.
var isBase32 = func() (t [256]bool) {
	for c := range t {
		t[c] = nixbase32.Is(byte(c))
	}
	return t
}()

// hashes are the hash parts of the store paths the input names: the
// closure's, the builder's and the roots'. Not the output's: Nix rewrites
// the output path's hash part in the output's bytes when it builds at
// another path (nix-build --check without the sandbox, content-addressed
// derivations), which it could not do in an escaped one; a tag that is the
// output's hash part stays as it is, as in index.json.
func hashes(in Input, comps []Component) map[string]bool {
	out := map[string]bool{}
	for _, c := range comps {
		out[c.Hash] = true
	}
	if len(comps) > 0 {
		dir := path.Dir(comps[0].Path)
		for _, s := range append([]string{in.Build.Builder}, in.Build.Roots...) {
			for _, m := range store.Mentions(s, dir) {
				out[m.Hash] = true
			}
		}
	}
	return out
}
