package tests

// What differs between the Nix versions scripts/test runs (Debian 12's 2.8
// and Debian 13's 2.26) in the builder contract, observed with a probe
// derivation, and the builder working under both.

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// nixAtLeast tells whether the Nix under test (h.nix, "2.8.0") is at least
// major.minor.patch.
func nixAtLeast(t *testing.T, major, minor, patch int) bool {
	t.Helper()
	var v [3]int
	if _, err := fmt.Sscanf(h.nix, "%d.%d.%d", &v[0], &v[1], &v[2]); err != nil {
		t.Fatalf("Nix version %q: %v", h.nix, err)
	}
	for i, w := range []int{major, minor, patch} {
		if v[i] != w {
			return v[i] > w
		}
	}
	return true
}

// TestNixVersionBehaviour probes, sandboxed and not, what the builder finds
// under structured attributes, says what this Nix does and checks it
// against what each version is known to do:
//
//   - NIX_ATTRS_JSON_FILE: Nix 2.4 to 2.13.3 and 2.14 point it at the host's
//     build directory, missing in the sandbox (NixOS/nix#6736); 2.13.4 and
//     2.15 on point it at the file. The builder reads it when the file
//     exists, else $NIX_BUILD_TOP/.attrs.json (pkg/nixbuild.FindAttrs).
//   - __json: the derivation's attributes as JSON, in the .drv; no version
//     hands it to the builder's environment: the builder reads .attrs.json.
//   - "valid": true in exportReferencesGraph's entries from 2.15 on; the
//     builder ignores it.
//   - exportReferencesGraph of a sub-path ("${drv}/bin"): an error before
//     2.22 (and the 2.18.9, 2.19.5, 2.20.7, 2.21.3 backports), its store
//     path's closure after. nix/oci-tools.nix only passes whole store
//     paths, which every version takes.
//
// The last subtest builds a container the same way, which works on both.
func TestNixVersionBehaviour(t *testing.T) {
	need(t)
	t.Logf("Nix %s", h.nix)
	probe := func(name, graph string) string {
		return fmt.Sprintf(`derivation {
  name = "probe-%s-${nonce}";
  inherit system;
  builder = "${busybox}/bin/sh";
  __structuredAttrs = true;
  exportReferencesGraph.closure = [ %s ];
  args = [ "-c" ''
    bb=${busybox}/bin/busybox
    attrs=$NIX_BUILD_TOP/.attrs.json
    if [ -z "$NIX_ATTRS_JSON_FILE" ]; then f=unset; elif [ -e "$NIX_ATTRS_JSON_FILE" ]; then f=exists; else f=missing; fi
    if $bb env | $bb grep -q '^__json='; then j=set; else j=unset; fi
    if $bb grep -q '"valid":true' $attrs; then v=yes; else v=no; fi
    out=$($bb sed -n 's/.*"outputs":{"out":"\([^"]*\)".*/\1/p' $attrs)
    echo "NIX_ATTRS_JSON_FILE=$f __json=$j valid=$v" > $out
  '' ];
}`, name, graph)
	}
	attrsFileInSandbox := nixAtLeast(t, 2, 15, 0) || (nixAtLeast(t, 2, 13, 4) && !nixAtLeast(t, 2, 14, 0))
	valid := nixAtLeast(t, 2, 15, 0)
	subPaths := nixAtLeast(t, 2, 22, 0) ||
		nixAtLeast(t, 2, 21, 3) ||
		(nixAtLeast(t, 2, 20, 7) && !nixAtLeast(t, 2, 21, 0)) ||
		(nixAtLeast(t, 2, 19, 5) && !nixAtLeast(t, 2, 20, 0)) ||
		(nixAtLeast(t, 2, 18, 9) && !nixAtLeast(t, 2, 19, 0))
	for _, sandbox := range []bool{true, false} {
		t.Run(fmt.Sprintf("sandbox=%v", sandbox), func(t *testing.T) {
			t.Parallel()
			out := mustBuild(t, probe(fmt.Sprintf("%v", sandbox), `"${busybox}"`), sandbox)
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.TrimSpace(string(data))
			file := "exists"
			if sandbox && !attrsFileInSandbox {
				file = "missing"
			}
			want := fmt.Sprintf("NIX_ATTRS_JSON_FILE=%s __json=unset valid=%s", file, map[bool]string{true: "yes", false: "no"}[valid])
			t.Logf("Nix %s, sandbox %v: %s", h.nix, sandbox, got)
			if got != want {
				t.Errorf("Nix %s, sandbox %v: the probe saw %q, want %q", h.nix, sandbox, got, want)
			}
		})
	}
	t.Run("sub-path", func(t *testing.T) {
		t.Parallel()
		r := nixBuild(t, probe("subpath", `"${busybox}/bin"`), false)
		t.Logf("Nix %s: exportReferencesGraph of a sub-path: %v", h.nix, r.err)
		if subPaths && r.err != nil {
			t.Errorf("Nix %s should take a sub-path: %v", h.nix, r)
		}
		if !subPaths && (r.err == nil || !strings.Contains(r.log, "is not in the Nix store")) {
			t.Errorf("Nix %s should refuse a sub-path (\"is not in the Nix store\"): %v", h.nix, r)
		}
	})
	t.Run("container", func(t *testing.T) {
		t.Parallel()
		// A sub-path in the arguments: the root is its store path.
		for _, sandbox := range []bool{true, false} {
			bundle := mustBuild(t, fmt.Sprintf(`ociTools.buildContainer {
  name = "nix-version-%v-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" "echo built by Nix" ];
}`, sandbox), sandbox)
			validate(t, bundle)
			if r := runc(t, bundle); r.code != 0 || r.stdout != "built by Nix\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		}
	})
}
