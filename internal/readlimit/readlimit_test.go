package readlimit_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/internal/readlimit"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("12345678"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A sparse file of 1 GiB: judged by its size, never read.
	huge := filepath.Join(dir, "huge")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tests := []struct {
		name, file string
		limit      int64
		want       string // the content, or the error's text
		tooLarge   bool
	}{
		{"under the limit", small, 9, "12345678", false},
		{"at the limit", small, 8, "12345678", false},
		{"over the limit", small, 7, small + " is 8 B, over the limit of 7 B for a test file", true},
		{"huge regular file", huge, 1 << 20, huge + " is 1.0 GiB, over the limit of 1.0 MiB for a test file", true},
		{"endless device", "/dev/zero", 1 << 20, "/dev/zero is more than 1.0 MiB, over the limit of 1.0 MiB for a test file", true},
		{"empty device", "/dev/null", 1, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := readlimit.File(tc.file, "a test file", tc.limit)
			if tc.tooLarge {
				if !errors.Is(err, readlimit.ErrTooLarge) || err.Error() != tc.want {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || string(data) != tc.want {
				t.Fatalf("%q, %v; want %q", data, err, tc.want)
			}
		})
	}
	if _, err := readlimit.File(filepath.Join(dir, "missing"), "x", 1); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int64
		ok    bool
	}{{"", 0, true}, {"a", 0, false}, {"abc", 3, true}, {"abcd", 3, false}} {
		data, err := readlimit.Reader(strings.NewReader(tc.in), "stdin", "a password", tc.limit)
		if tc.ok != (err == nil) || (tc.ok && string(data) != tc.in) {
			t.Errorf("Reader(%q, %d) = %q, %v", tc.in, tc.limit, data, err)
		}
	}
}
