//go:build ignore

// grypedb writes a grype v6 vulnerability database with grype's own v6
// writer, for bench/scanners: grype's database is downloaded from
// grype.anchore.io, which the benchmark machine cannot reach. It is not part
// of oci-builder (the build constraint keeps it out of the module):
// bench/scanners builds it in a module of its own that requires
// github.com/anchore/grype at the version it runs.
//
//	grypedb DIR ECOSYSTEM NAME...
//
// writes DIR/vulnerability.db holding, for each NAME, one synthetic record
// OCIB-SYNTHETIC-NAME affecting every version of the package NAME of
// ECOSYSTEM (a syft package type, e.g. nix). The records are not
// vulnerabilities: they make grype's matcher name each package it read
// (with its purl) in its report. Import it with `grype db import
// DIR/vulnerability.db`.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	v6 "github.com/anchore/grype/grype/db/v6"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "grypedb:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: grypedb DIR ECOSYSTEM NAME...")
	}
	dir, ecosystem, names := args[0], args[1], args[2:]
	w, err := v6.NewWriter(v6.Config{DBDirPath: dir})
	if err != nil {
		return fmt.Errorf("creating the database in %s: %w", dir, err)
	}
	now := time.Now().UTC().Round(time.Second)
	provider := v6.Provider{
		ID:           "oci-builder-bench",
		Version:      "1",
		Processor:    "oci-builder bench/scanners",
		DateCaptured: &now,
	}
	if err := w.AddProvider(provider); err != nil {
		return fmt.Errorf("adding the provider: %w", err)
	}
	for _, name := range names {
		id := "OCIB-SYNTHETIC-" + name
		vuln := &v6.VulnerabilityHandle{
			Name:          id,
			Status:        v6.VulnerabilityActive,
			PublishedDate: &now,
			ModifiedDate:  &now,
			ProviderID:    provider.ID,
			BlobValue: &v6.VulnerabilityBlob{
				ID:          id,
				Description: "synthetic record of oci-builder's bench/scanners, not a vulnerability: it makes grype name the package " + name,
			},
		}
		if err := w.AddVulnerabilities(vuln); err != nil {
			return fmt.Errorf("adding the record %s: %w", id, err)
		}
		// No range: every version (and a package without one) is affected.
		affected := &v6.AffectedPackageHandle{
			VulnerabilityID: vuln.ID,
			Package:         &v6.Package{Ecosystem: ecosystem, Name: name},
			BlobValue:       &v6.PackageBlob{},
		}
		if err := w.AddAffectedPackages(affected); err != nil {
			return fmt.Errorf("adding the package of %s: %w", id, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("closing the database in %s: %w", dir, err)
	}
	return nil
}
