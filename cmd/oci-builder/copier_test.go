package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCopierArgs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "image"), 0o755)
	os.WriteFile(filepath.Join(dir, "image", "index.json"), []byte("{}"), 0o644)
	self := filepath.Join(dir, "bin", copierName)
	img := filepath.Join(dir, "image")
	noPath := func(string) (string, error) { return "", errors.New("not on PATH") }
	onPath := func(string) (string, error) { return self, nil }

	if args, ok, err := copierArgs("/x/bin/oci-builder", []string{"image"}, noPath); ok || err != nil || args != nil {
		t.Fatalf("oci-builder itself: %v %v %v", args, ok, err)
	}
	args, ok, err := copierArgs(self, []string{"--insecure", "docker://h/r:t"}, noPath)
	if !ok || err != nil || strings.Join(args, " ") != "copy "+img+" --insecure docker://h/r:t" {
		t.Fatalf("by path: %v %v %v", args, ok, err)
	}
	if args, _, err = copierArgs(copierName, []string{"oci:/x"}, onPath); err != nil || strings.Join(args, " ") != "copy "+img+" oci:/x" {
		t.Fatalf("found on PATH: %v %v", args, err)
	}
	if _, ok, err = copierArgs(copierName, nil, noPath); !ok || err == nil {
		t.Fatalf("not on PATH: %v %v", ok, err)
	}
	if _, _, err = copierArgs(filepath.Join(t.TempDir(), copierName), nil, noPath); err == nil || !strings.Contains(err.Error(), "../image") {
		t.Fatalf("no image beside it: %v", err)
	}
}
