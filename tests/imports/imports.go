// Package imports lets a package's tests check what the package imports,
// so that a package meant to do no I/O cannot start doing it unnoticed.
package imports

import (
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// IO lists the packages through which code reads or writes files.
func IO() []string {
	return []string{"os", "io/fs", "os/exec", "path/filepath"}
}

// Check fails t for each import of a forbidden path (see Forbidden).
func Check(t testing.TB, dir string, files []string, forbidden ...string) {
	t.Helper()
	bad, err := Forbidden(dir, files, forbidden...)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// Forbidden parses the import lines of the Go files in dir (test files
// excluded; only those named in files, when any are) and returns one line
// for each import of a forbidden path, "FILE imports PATH", sorted.
func Forbidden(dir string, files []string, forbidden ...string) ([]string, error) {
	if len(files) == 0 {
		matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			if !strings.HasSuffix(m, "_test.go") {
				files = append(files, filepath.Base(m))
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	bad := map[string]bool{}
	for _, f := range forbidden {
		bad[f] = true
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
		if err != nil {
			return nil, err
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return nil, err
			}
			if bad[p] {
				out = append(out, fmt.Sprintf("%s imports %s", name, p))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
