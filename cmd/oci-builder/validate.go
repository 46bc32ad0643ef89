package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/store/local"
	"github.com/oci-builder/oci-builder/pkg/validate"
)

const validateUsage = `Usage: oci-builder validate [--report FILE] BUNDLE

Checks the bundle as a runtime would before starting it, offline, and
reports every problem at once: config.json against the runtime-spec schema
of the ociVersion it declares, root.path, args[0] (an executable in the
rootfs or a bind mount, found through PATH when it has no slash; a script's
interpreter too), every mount destination and its mountpoint, bind sources,
the working directory, the user namespace's id mappings.

It also prints, as "BUNDLE: warning: ..." lines, each weakening of the
configuration: what lets the container past the protections a bundle has by
default (a writable root, CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_DAC_READ_SEARCH
with a writable mount, hooks, a writable mount whose source may reach the
store, a read-only mount that is not recursively read-only, a filesystem
mount of a host device, runc spec's masked or read-only /proc paths left
out). The store directory is $NIX_STORE_DIR, else $NIX_STORE, else /nix/store.

Exit status: 0 when valid, warnings or not; 1 when a problem is found (each
on its own line); 2 on a usage error.

Options:
  --report FILE   also write the report to FILE (which must not exist)

Example:
  oci-builder validate ./result`

func runValidate(_ context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	report := fs.String("report", "", "")
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("validate: %v", err)}
	}
	if fs.NArg() != 1 {
		return &usageError{"validate takes one BUNDLE (see oci-builder validate --help)"}
	}
	r := validate.Bundle(fs.Arg(0), local.StoreDir(e.getenv))
	var text strings.Builder
	for _, w := range r.Warnings {
		fmt.Fprintf(&text, "%s: warning: %s\n", r.Bundle, oneLine(w))
	}
	if r.Valid() {
		fmt.Fprintf(&text, "%s: valid (runtime-spec %s schema; runs %s)\n", r.Bundle, r.SchemaVersion, r.Program)
	} else {
		for _, p := range r.Problems {
			fmt.Fprintf(&text, "%s: %s\n", r.Bundle, oneLine(p))
		}
	}
	if _, err := io.WriteString(e.stdout, text.String()); err != nil {
		return fmt.Errorf("write the verdict to standard output: %w", err)
	}
	if *report != "" {
		if err := refuseInStore(*report, "", e.getenv); err != nil {
			return err
		}
		f, err := os.OpenFile(*report, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		_, werr := f.WriteString(text.String())
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write report %s: %w", *report, werr)
		}
	}
	if !r.Valid() {
		noun := "problems"
		if len(r.Problems) == 1 {
			noun = "problem"
		}
		return fmt.Errorf("%s is not a valid bundle: %d %s (listed above)", r.Bundle, len(r.Problems), noun)
	}
	return nil
}
