//go:build linux

// The fixtures' closures and the builder run on them outside Nix.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/nixbuild"
)

// closure is a fixture closure as the builder sees it.
type closure struct {
	name  string
	root  string
	attrs map[string]json.RawMessage // .attrs.json of a container of root
	paths []string
	// Counts of what the closure holds.
	files, dirs, symlinks, bytes int64
}

// loadClosure builds the closure of root and reads its graph as Nix gives
// it to a builder.
func (b *bench) loadClosure(ctx context.Context, name, rootExpr string) (*closure, error) {
	b.logf("building fixture %s", name)
	root, _, err := b.nixBuild(ctx, rootExpr)
	if err != nil {
		return nil, err
	}
	attrsPath, _, err := b.nixBuild(ctx, "b.attrs ("+rootExpr+")")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(attrsPath)
	if err != nil {
		return nil, err
	}
	c := &closure{name: name, root: root}
	if err := json.Unmarshal(data, &c.attrs); err != nil {
		return nil, fmt.Errorf("%s: %w", attrsPath, err)
	}
	var graph []struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(c.attrs["closure"], &graph); err != nil {
		return nil, fmt.Errorf("%s: closure: %w", attrsPath, err)
	}
	for _, g := range graph {
		c.paths = append(c.paths, g.Path)
	}
	sort.Strings(c.paths)
	for _, p := range c.paths {
		err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				c.symlinks++
			case d.IsDir():
				c.dirs++
			default:
				info, err := d.Info()
				if err != nil {
					return err
				}
				c.files++
				c.bytes += info.Size()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *closure) describe() string {
	return fmt.Sprintf("%d store paths, %d files, %d directories, %d symlinks, %s", len(c.paths), c.files, c.dirs, c.symlinks, gib(c.bytes))
}

func gib(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// builderAttrs writes the .attrs.json that the builder of a container of c
// would get, with its output at out and the given store mode (and the
// container options in extra), optionally with the whole store moved to
// storeDir; it returns the file.
func (b *bench) builderAttrs(c *closure, mode, out, storeDir string, extra map[string]any) (string, error) {
	attrs := map[string]any{}
	for k, v := range c.attrs {
		attrs[k] = v
	}
	bb := ""
	for _, p := range c.paths {
		if strings.HasSuffix(p, "-busybox") {
			bb = p
		}
	}
	attrs["outputs"] = map[string]string{"out": out}
	container := map[string]any{"args": []string{bb + "/bin/sh", "-c", "echo " + c.root}, "storeMode": mode}
	for k, v := range extra {
		container[k] = v
	}
	attrs["container"] = container
	attrs["storeDir"] = "/nix/store"
	data, err := json.Marshal(attrs)
	if err != nil {
		return "", err
	}
	if storeDir != "" {
		data = bytes.ReplaceAll(data, []byte(`"/nix/store`), []byte(`"`+storeDir))
		data = bytes.ReplaceAll(data, []byte(` /nix/store/`), []byte(` `+storeDir+`/`))
	}
	f, err := os.CreateTemp(b.work, "attrs-*.json")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// builderRun is what a run of the builder took.
type builderRun struct {
	wall, cpu time.Duration // cpu: user + system
	rss       int64         // peak, KiB
	stderr    string
}

// runBuilder runs `oci-builder nix-builder` outside Nix, as a build would,
// on the .attrs.json builderAttrs writes, and reports what it took.
func (b *bench) runBuilder(ctx context.Context, c *closure, mode, out, storeDir string, extra map[string]any) (builderRun, error) {
	var r builderRun
	attrs, err := b.builderAttrs(c, mode, out, storeDir, extra)
	if err != nil {
		return r, err
	}
	defer os.Remove(attrs)
	cmd := exec.CommandContext(ctx, filepath.Join(b.builder, "bin/oci-builder"), "nix-builder")
	cmd.Env = []string{"NIX_ATTRS_JSON_FILE=" + attrs, "NIX_BUILD_TOP=" + b.work, "NIX_BUILD_CORES=0", "PATH=/path-not-set"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	r.wall, r.stderr = time.Since(start), stderr.String()
	if err != nil {
		return r, fmt.Errorf("oci-builder nix-builder (%s): %v\n%s", mode, err, tail(r.stderr, 2000))
	}
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.rss = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	return r, nil
}

// writeFromAttrs does what `oci-builder nix-builder` does with attrsFile,
// in this process.
func writeFromAttrs(ctx context.Context, attrsFile, out string) error {
	attrs, err := nixbuild.ReadAttrs(attrsFile)
	if err != nil {
		return err
	}
	raw, _ := attrs.Raw("container")
	opts, err := container.DecodeOptions(raw)
	if err != nil {
		return err
	}
	g, err := attrs.Graph("/nix/store")
	if err != nil {
		return err
	}
	plan, err := bundle.NewPlan(g, opts, bundle.HostStore{})
	if err != nil {
		return err
	}
	_, err = bundle.Write(ctx, out, plan, bundle.WriteOptions{Workers: runtime.NumCPU()})
	return err
}

// warm reads the closure once so that its pages are cached, as in a store
// in use.
func warm(c *closure) {
	for _, p := range c.paths {
		filepath.WalkDir(p, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if f, err := os.Open(p); err == nil {
					io.Copy(io.Discard, f)
					f.Close()
				}
			}
			return nil
		})
	}
}
