package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// ParseJSON parses the JSON array that Nix writes into .attrs.json for a key
// of exportReferencesGraph under structured attributes (every Nix version
// from 2.3 on, and Lix). Fields Nix may add later are ignored; path and
// references are required.
func ParseJSON(data []byte, storeDir string) (*Graph, error) {
	// One decode of the whole array; only when it fails, entry by entry,
	// so that the error names the entry.
	var infos []PathInfo
	if err := json.Unmarshal(data, &infos); err == nil && infos != nil {
		for i, info := range infos {
			if err := checkEntry(i, info); err != nil {
				return nil, err
			}
		}
		return NewGraph(infos, storeDir)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("closure graph: %w", jsonError(data, err))
	}
	infos = make([]PathInfo, len(raw))
	for i, entry := range raw {
		var info PathInfo
		if err := json.Unmarshal(entry, &info); err != nil {
			return nil, fmt.Errorf("closure graph entry %d: %w", i, jsonError(entry, err))
		}
		if err := checkEntry(i, info); err != nil {
			return nil, err
		}
		infos[i] = info
	}
	return NewGraph(infos, storeDir)
}

// checkEntry checks that entry i of a graph has a path and references.
func checkEntry(i int, info PathInfo) error {
	if info.Path == "" {
		return fmt.Errorf("closure graph entry %d: no \"path\"", i)
	}
	// encoding/json leaves the slice nil only when the key is absent or
	// null; an empty array gives an empty slice.
	if info.References == nil {
		return fmt.Errorf("closure graph entry %d (%s): no \"references\"", i, info.Path)
	}
	return nil
}

// jsonError makes encoding/json's errors name the offending offset.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at byte %d: %w", syn.Offset, err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		if typ.Field != "" {
			return fmt.Errorf("field %q: expected %s, got JSON %s", typ.Field, strictjson.KindOf(typ.Type), typ.Value)
		}
		return fmt.Errorf("expected %s, got JSON %s", strictjson.KindOf(typ.Type), typ.Value)
	}
	return err
}

// ParseRegistration parses the text format that Nix writes for
// exportReferencesGraph without structured attributes (the input format of
// `nix-store --register-validity` without hashes): for each path, a line with
// the path, a deriver line (empty in practice), a line with the number of
// references, then one line per reference. Entries may come in any order and
// a path may refer to itself. A missing final newline is tolerated.
func ParseRegistration(r io.Reader, storeDir string) (*Graph, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return sc.Text(), true
	}
	var infos []PathInfo
	for {
		p, ok := next()
		if !ok {
			break
		}
		if p == "" {
			// Only blank lines may follow the last entry.
			for {
				rest, ok := next()
				if !ok {
					break
				}
				if strings.TrimSpace(rest) != "" {
					return nil, fmt.Errorf("closure graph line %d: expected a store path, got an empty line", line-1)
				}
			}
			break
		}
		if _, ok := next(); !ok {
			return nil, fmt.Errorf("closure graph line %d: %s: missing deriver line", line, p)
		}
		countLine, ok := next()
		if !ok {
			return nil, fmt.Errorf("closure graph line %d: %s: missing reference count", line, p)
		}
		n, err := strconv.ParseUint(countLine, 10, 31)
		if err != nil {
			return nil, fmt.Errorf("closure graph line %d: %s: reference count %q is not a number", line, p, countLine)
		}
		refs := make([]string, 0, min(n, 1024))
		for k := uint64(0); k < n; k++ {
			ref, ok := next()
			if !ok {
				return nil, fmt.Errorf("closure graph line %d: %s: expected %d references, found %d", line, p, n, k)
			}
			refs = append(refs, ref)
		}
		infos = append(infos, PathInfo{Path: p, References: refs})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("closure graph line %d: %w", line+1, err)
	}
	return NewGraph(infos, storeDir)
}

// ParsePathInfo parses the output of `nix path-info --json`: an array of
// entries with "path" (Nix 2.4 to 2.18, the same shape as ParseJSON reads) or
// an object keyed by path (Nix 2.19 and later), where a null value means the
// path is not valid in the store that was asked. narHash may be SRI
// ("sha256-...") or "sha256:<nix-base32>"; it is kept as written.
func ParsePathInfo(data []byte, storeDir string) (*Graph, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var byPath map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &byPath); err != nil {
			return nil, fmt.Errorf("nix path-info output: %w", err)
		}
		keys := make([]string, 0, len(byPath))
		for k := range byPath {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var entries []json.RawMessage
		for _, k := range keys {
			if bytes.Equal(bytes.TrimSpace(byPath[k]), []byte("null")) {
				return nil, fmt.Errorf("%s is not valid in the local store", k)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(byPath[k], &fields); err != nil {
				return nil, fmt.Errorf("nix path-info output for %s: %w", k, err)
			}
			fields["path"], _ = json.Marshal(k)
			entry, _ := json.Marshal(fields)
			entries = append(entries, entry)
		}
		trimmed, _ = json.Marshal(entries)
	}
	g, err := ParseJSON(trimmed, storeDir)
	if err != nil {
		return nil, fmt.Errorf("nix path-info output: %w", err)
	}
	return g, nil
}

// ReadFile reads and parses (see Parse) the graph file p.
func ReadFile(p, storeDir string) (*Graph, error) {
	data, err := readlimit.File(p, "a closure graph", readlimit.Graph)
	if err != nil {
		return nil, fmt.Errorf("read graph: %w", err)
	}
	g, err := Parse(data, storeDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return g, nil
}

// Parse reads a closure graph in any of the formats above, telling them
// apart by the first non-blank byte: '[' starts a JSON array (ParseJSON:
// exportReferencesGraph under structured attributes, or `nix path-info
// --json` before Nix 2.19), '{' a JSON object (ParsePathInfo: `nix path-info
// --json` from Nix 2.19 on), anything else is the text registration format
// (ParseRegistration).
func Parse(data []byte, storeDir string) (*Graph, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 {
		switch trimmed[0] {
		case '[':
			return ParseJSON(data, storeDir)
		case '{':
			return ParsePathInfo(data, storeDir)
		}
	}
	return ParseRegistration(bytes.NewReader(data), storeDir)
}
