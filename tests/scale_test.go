package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scalePaths is the number of store paths in the large closure; nixpkgs'
// `xargs tar c | tar -x` pipeline loses paths past about 128 KiB of path
// list, about 2,000 store paths.
const scalePaths = 5000

// TestLargeClosure builds, with real Nix, a container whose closure holds
// 5,000 store paths besides busybox (text files made with builtins.toFile,
// all referenced from one list) and runs it: every path must be in the
// rootfs with its contents, and the container must see and read them all.
func TestLargeClosure(t *testing.T) {
	need(t)
	t.Parallel()
	bundle := mustBuild(t, fmt.Sprintf(`
let
  bb = "${busybox}/bin/busybox";
  # Named without the nonce: the same paths serve every run; the list and
  # the container are new each time.
  files = builtins.genList (i: builtins.toFile "ocib-scale-${toString i}" "file ${toString i}\n") %d;
  list = builtins.toFile "ocib-scale-list-${nonce}" (builtins.concatStringsSep "\n" files);
in
ociTools.buildContainer {
  name = "scale-${nonce}";
  args = [ "${busybox}/bin/sh" "-c" ''
    ${bb} ls /nix/store | ${bb} wc -l
    ${bb} cat $(${bb} cat ${list}) | ${bb} wc -l
    ${bb} cat ${list} | ${bb} xargs ${bb} cat | ${bb} sort -u | ${bb} wc -l
  '' ];
}`, scalePaths), false)
	validate(t, bundle)

	store := filepath.Join(bundle, "rootfs", "nix", "store")
	entries, err := os.ReadDir(store)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, e := range entries {
		if _, name, ok := strings.Cut(e.Name(), "-"); ok {
			found[name] = e.Name()
		}
	}
	for i := 0; i < scalePaths; i++ {
		name := fmt.Sprintf("ocib-scale-%d", i)
		base, ok := found[name]
		if !ok {
			t.Fatalf("%s is missing from the rootfs (%d store paths there)", name, len(entries))
		}
		data, err := os.ReadFile(filepath.Join(store, base))
		if err != nil || string(data) != fmt.Sprintf("file %d\n", i) {
			t.Fatalf("%s: %q, %v", base, data, err)
		}
	}
	// The files, the list and busybox: nothing else.
	if len(entries) != scalePaths+2 {
		t.Fatalf("rootfs holds %d store paths, want %d", len(entries), scalePaths+2)
	}

	r := runc(t, bundle)
	want := fmt.Sprintf("%d\n%d\n%d\n", scalePaths+2, scalePaths, scalePaths)
	if r.code != 0 || strings.ReplaceAll(r.stdout, " ", "") != want {
		t.Fatalf("exit %d, stdout %q, want %q; stderr %q", r.code, r.stdout, want, r.stderr)
	}
}
