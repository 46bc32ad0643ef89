// The compression corpus (issue 22): one store path per kind of content,
// so that each compressor's layer size is compared with the tools' kind by
// kind.

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/layer"
)

// corpusKind is one kind of content: fill writes it into dir.
type corpusKind struct {
	name, what string
	fill       func(dir, goroot string) error
}

// corpusKinds are the kinds measured, in the report's order. ELF binaries
// and source text come from the GOROOT given (real files); the others are
// generated from a fixed pseudo-random sequence, the same on every machine.
var corpusKinds = []corpusKind{
	{"elf", "ELF binaries: GOROOT's pkg/tool executables", func(dir, goroot string) error {
		return copyFiles(dir, filepath.Join(goroot, "pkg/tool"), func(string) bool { return true }, 48<<20, asIs)
	}},
	{"source", "source text: GOROOT's .go files", func(dir, goroot string) error {
		return copyFiles(dir, filepath.Join(goroot, "src"), isGo, 32<<20, asIs)
	}},
	{"base64", "base64 text (76 columns) of random bytes, as PEM or MIME", func(dir, _ string) error {
		r := newRng(1)
		return writeLines(dir, "data-%02d.b64", 16, 1<<20, func(b []byte) []byte {
			return wrap(base64.StdEncoding.EncodeToString(r.bytes(len(b)*3/4)), 76, b)
		})
	}},
	{"hex", "hexadecimal text (64 columns) of random bytes", func(dir, _ string) error {
		r := newRng(2)
		return writeLines(dir, "data-%02d.hex", 16, 1<<20, func(b []byte) []byte {
			return wrap(hex.EncodeToString(r.bytes(len(b)/2)), 64, b)
		})
	}},
	{"compressed", "already compressed: gzip -6 of GOROOT's .go files", func(dir, goroot string) error {
		return copyFiles(dir, filepath.Join(goroot, "src"), isGo, 16<<20, gzipped)
	}},
	{"random", "random bytes (incompressible)", func(dir, _ string) error {
		r := newRng(3)
		return writeLines(dir, "data-%02d.bin", 8, 1<<20, func(b []byte) []byte { return r.bytes(len(b)) })
	}},
	{"sparse", "sparse and zero-filled files: 4 MiB holes with 4 KiB of data between, and files of zeros", func(dir, _ string) error {
		r := newRng(4)
		for i := 0; i < 4; i++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("sparse-%d.img", i)))
			if err != nil {
				return err
			}
			for k := 0; k < 4; k++ {
				if _, err := f.WriteAt(r.text(4096), int64(k)*(4<<20+4096)+4<<20); err != nil {
					f.Close()
					return err
				}
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("zeros-%d", i)), make([]byte, 4<<20), 0o444); err != nil {
				return err
			}
		}
		return nil
	}},
	{"tiny", "many tiny files: 20,000 files of 1 to 300 bytes of text", func(dir, _ string) error {
		r := newRng(5)
		for i := 0; i < 20000; i++ {
			p := filepath.Join(dir, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.txt", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, r.text(1+int(r.next()%300)), 0o444); err != nil {
				return err
			}
		}
		return nil
	}},
}

// makeCorpus writes each kind as a store path of its own under a store
// directory in base, and returns the store directory and the paths, in the
// order of corpusKinds.
func makeCorpus(base, goroot string) (string, []string, error) {
	storeDir := filepath.Join(base, "store")
	var paths []string
	for i, k := range corpusKinds {
		// A name of a store path's shape: 32 characters of hash, the kind.
		p := filepath.Join(storeDir, fmt.Sprintf("%032d-corpus-%s", i, k.name))
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", nil, err
		}
		if err := k.fill(p, goroot); err != nil {
			return "", nil, fmt.Errorf("corpus %s: %w", k.name, err)
		}
		paths = append(paths, p)
	}
	return storeDir, paths, nil
}

// copyFiles copies the files under src that keep selects, in sorted order,
// into dir, each through conv (which gives the data and a suffix for the
// name), until limit bytes.
func copyFiles(dir, src string, keep func(string) bool, limit int64, conv func([]byte) ([]byte, string)) error {
	files, err := sortedFiles(src, keep)
	if err != nil {
		return err
	}
	var total int64
	for i, f := range files {
		if total >= limit {
			break
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		data, suffix := conv(data)
		if int64(len(data)) > limit-total {
			data = data[:limit-total]
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d-%s%s", i, filepath.Base(f), suffix)), data, 0o444); err != nil {
			return err
		}
		total += int64(len(data))
	}
	return nil
}

// asIs is copyFiles' conversion that keeps the data.
func asIs(data []byte) ([]byte, string) { return data, "" }

// gzipped is copyFiles' conversion to `gzip -6`.
func gzipped(data []byte) ([]byte, string) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, 6)
	zw.Write(data)
	zw.Close()
	return b.Bytes(), ".gz"
}

func isGo(p string) bool { return strings.HasSuffix(p, ".go") }

func sortedFiles(src string, keep func(string) bool) ([]string, error) {
	var files []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && keep(p) {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files)
	return files, err
}

// writeLines writes n files named by pattern of size bytes each, filled by
// fill.
func writeLines(dir, pattern string, n, size int, fill func([]byte) []byte) error {
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf(pattern, i)), fill(make([]byte, size)), 0o444); err != nil {
			return err
		}
	}
	return nil
}

// wrap cuts s into lines of width characters into b (as much as fits).
func wrap(s string, width int, b []byte) []byte {
	b = b[:0]
	for len(s) > 0 && len(b)+width+1 <= cap(b) {
		k := min(width, len(s))
		b = append(b, s[:k]...)
		b = append(b, '\n')
		s = s[k:]
	}
	return b
}

// rng is a fixed pseudo-random sequence (PCG, the same on every machine
// and Go version).
type rng struct{ r *rand.Rand }

func newRng(seed uint64) *rng { return &rng{rand.New(rand.NewPCG(seed, 22))} }

func (r *rng) next() uint64 { return r.r.Uint64() }

func (r *rng) bytes(n int) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.next())
	}
	return b[:n]
}

// text is words of lowercase letters, spaces and newlines.
func (r *rng) text(n int) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyz      \n"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.next()%uint64(len(letters))]
	}
	return b
}

// corpusSizes makes the corpus from goroot in a scratch directory under
// work and prints, kind by kind, the size of each tool's compressed tar
// and of oci-builder's layers, with the verdict: each layer within
// 2 % of `gzip -6`, `pigz -6` and `zstd -3`.
func corpusSizes(work, goroot string) error {
	base, err := os.MkdirTemp(work, "bench-corpus-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	storeDir, paths, err := makeCorpus(base, goroot)
	if err != nil {
		return err
	}
	tools := []struct{ name, cmd string }{
		{"`gzip -6`", "gzip -6"}, {"`pigz -6`", "pigz -6"}, {"`zstd -3`", "zstd -q -3"}, {"`zstd -3 -T0`", "zstd -q -3 -T0"},
	}
	fmt.Printf("Sizes in bytes: the layer's tar of each kind, the tools' compression of that tar, and oci-builder's layers with their difference to the better of the tools' (`gzip -6` or `pigz -6`; `zstd -3` or `-3 -T0`).\n\n")
	fmt.Printf("| kind | tar |")
	for _, t := range tools {
		fmt.Printf(" %s |", t.name)
	}
	fmt.Printf(" oci-builder gzip | oci-builder zstd | within 2 %% |\n|---|---:|")
	for range tools {
		fmt.Printf("---:|")
	}
	fmt.Printf("---:|---:|---|\n")
	allMet := true
	for i, p := range paths {
		name := filepath.Base(p)
		// The tools compress the very tar the layer holds, so that only
		// the compressors differ.
		tarFile := filepath.Join(base, name+".tar")
		f, err := os.Create(tarFile)
		if err != nil {
			return err
		}
		_, err = layer.WriteTar(context.Background(), f, storeDir, []string{p}, layer.Options{})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		sizes := make([]int64, len(tools))
		for k, t := range tools {
			out, err := exec.Command("sh", "-c", t.cmd+" < "+q(tarFile)+" | wc -c").Output()
			if err != nil {
				return fmt.Errorf("%s of %s: %w", t.name, name, err)
			}
			if _, err := fmt.Sscan(string(out), &sizes[k]); err != nil {
				return err
			}
		}
		ours := map[layer.Compression]layer.Layer{}
		for _, c := range []layer.Compression{layer.Gzip, layer.Zstd} {
			l, err := layer.Write(context.Background(), io.Discard, storeDir, []string{p}, c, layer.Options{Pool: layer.NewPool(runtime.NumCPU())})
			if err != nil {
				return err
			}
			ours[c] = l
		}
		gz := min(sizes[0], sizes[1])
		zs := min(sizes[2], sizes[3])
		dg := float64(ours[layer.Gzip].Size)/float64(gz) - 1
		dz := float64(ours[layer.Zstd].Size)/float64(zs) - 1
		met := dg <= 0.02 && dz <= 0.02
		allMet = allMet && met
		fmt.Printf("| %s | %d |", corpusKinds[i].name, ours[layer.Gzip].TarSize)
		for _, s := range sizes {
			fmt.Printf(" %d |", s)
		}
		verdict := "yes"
		if !met {
			verdict = "**no**"
		}
		fmt.Printf(" %d (%+.1f %%) | %d (%+.1f %%) | %s |\n", ours[layer.Gzip].Size, 100*dg, ours[layer.Zstd].Size, 100*dz, verdict)
	}
	fmt.Println()
	for _, k := range corpusKinds {
		fmt.Printf("- %s: %s\n", k.name, k.what)
	}
	if allMet {
		fmt.Printf("\nTarget (every kind, every compressor within 2 %%): met\n")
	} else {
		fmt.Printf("\nTarget (every kind, every compressor within 2 %%): missed\n")
	}
	return nil
}
