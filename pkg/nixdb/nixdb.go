// Package nixdb writes Nix's store database, /nix/var/nix/db/db.sqlite,
// for a closure: the database `nix-store --load-db` would make of the
// closure's registration, so that Nix in a container knows the store paths
// of its image as valid (nix-store --verify, -q --references, nix
// path-info, the garbage collector).
//
// It writes the SQLite 3 file itself, without an SQLite library: page
// size 4096, UTF-8, schema format 4, rollback journal mode (Nix switches it
// to WAL when it first opens it), every table and index a B-tree built
// bottom up from rows in key order, overflow pages where a payload is too
// big for its page. The schema is Nix's version 10 (Nix 2.0 to current),
// with the SQL text Nix 2.26 stores (sqlite_schema keeps it verbatim).
// The same paths always give the same bytes, in whatever order they are
// given.
package nixdb

import (
	"encoding/binary"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixhash"
)

// SchemaVersion is the version of Nix's database schema this package
// writes, the content of /nix/var/nix/db/schema. Nix 2.0 to current use
// version 10.
const SchemaVersion = 10

// SchemaFile is the content of /nix/var/nix/db/schema beside the
// database, as Nix writes it (no newline).
const SchemaFile = "10"

// Path is one valid store path, as the database records it.
type Path struct {
	// Path is the absolute store path.
	Path string
	// NarHash is the SHA-256 of the path's NAR serialisation, in any form
	// Nix prints ("sha256:<nix-base32>", base16, SRI); the database holds
	// "sha256:<base16>", as Nix writes it.
	NarHash string
	// NarSize is the size of the NAR serialisation (0: unknown, NULL).
	NarSize uint64
	// References are store paths of the same database, Path itself
	// included when it refers to itself.
	References []string
	// Deriver is the derivation that built the path, or empty.
	Deriver string
	// CA is the content address of a content-addressed path, as Nix
	// renders it ("fixed:r:sha256:...", "text:sha256:..."), or empty.
	CA string
	// Outputs are the outputs of a derivation (a .drv path) whose paths
	// are known, for the DerivationOutputs table.
	Outputs []Output
}

// Output is an output of a derivation: its name ("out") and store path.
type Output struct {
	Name string
	Path string
}

// Options tune Build.
type Options struct {
	// RegistrationTime is every path's registration time, in seconds
	// since the epoch: fixed, so that the database is reproducible.
	RegistrationTime int64
}

// The schema Nix 2.26 creates, as SQLite stores it in sqlite_schema (from
// Nix's src/libstore/schema.sql and local-store.cc; Nix 2.8's differs only
// by the comment on hash and has no SchemaMigrations, which it ignores).
const (
	validPathsSQL = "CREATE TABLE ValidPaths (\n" +
		"    id               integer primary key autoincrement not null,\n" +
		"    path             text unique not null,\n" +
		"    hash             text not null, -- base16 representation\n" +
		"    registrationTime integer not null,\n" +
		"    deriver          text,\n" +
		"    narSize          integer,\n" +
		"    ultimate         integer, -- null implies \"false\"\n" +
		"    sigs             text, -- space-separated\n" +
		"    ca               text -- if not null, an assertion that the path is content-addressed; see ValidPathInfo\n" +
		")"
	sequenceSQL = "CREATE TABLE sqlite_sequence(name,seq)"
	refsSQL     = "CREATE TABLE Refs (\n" +
		"    referrer  integer not null,\n" +
		"    reference integer not null,\n" +
		"    primary key (referrer, reference),\n" +
		"    foreign key (referrer) references ValidPaths(id) on delete cascade,\n" +
		"    foreign key (reference) references ValidPaths(id) on delete restrict\n" +
		")"
	indexReferrerSQL  = "CREATE INDEX IndexReferrer on Refs(referrer)"
	indexReferenceSQL = "CREATE INDEX IndexReference on Refs(reference)"
	deleteSelfRefsSQL = "CREATE TRIGGER DeleteSelfRefs before delete on ValidPaths\n" +
		"  begin\n" +
		"    delete from Refs where referrer = old.id and reference = old.id;\n" +
		"  end"
	derivationOutputsSQL = "CREATE TABLE DerivationOutputs (\n" +
		"    drv  integer not null,\n" +
		"    id   text not null, -- symbolic output id, usually \"out\"\n" +
		"    path text not null,\n" +
		"    primary key (drv, id),\n" +
		"    foreign key (drv) references ValidPaths(id) on delete cascade\n" +
		")"
	indexDerivationOutputsSQL = "CREATE INDEX IndexDerivationOutputs on DerivationOutputs(path)"
	schemaMigrationsSQL       = "CREATE TABLE SchemaMigrations (migration text primary key not null)"
)

// The root pages, in the order Nix creates the schema.
const (
	rootValidPaths uint32 = iota + 2
	rootValidPathsPath
	rootSequence
	rootRefs
	rootRefsKey
	rootIndexReferrer
	rootIndexReference
	rootDerivationOutputs
	rootDerivationOutputsKey
	rootIndexDerivationOutputs
	rootSchemaMigrations
	rootSchemaMigrationsKey
	lastRoot = rootSchemaMigrationsKey
)

// schemaRows are the rows of sqlite_schema: type, name, tbl_name,
// rootpage, sql.
func schemaRows() [][]value {
	entry := func(typ, name, table string, root uint32, sql string) []value {
		return []value{text(typ), text(name), text(table), integer(int64(root)), textOrNull(sql)}
	}
	return [][]value{
		entry("table", "ValidPaths", "ValidPaths", rootValidPaths, validPathsSQL),
		entry("index", "sqlite_autoindex_ValidPaths_1", "ValidPaths", rootValidPathsPath, ""),
		entry("table", "sqlite_sequence", "sqlite_sequence", rootSequence, sequenceSQL),
		entry("table", "Refs", "Refs", rootRefs, refsSQL),
		entry("index", "sqlite_autoindex_Refs_1", "Refs", rootRefsKey, ""),
		entry("index", "IndexReferrer", "Refs", rootIndexReferrer, indexReferrerSQL),
		entry("index", "IndexReference", "Refs", rootIndexReference, indexReferenceSQL),
		entry("trigger", "DeleteSelfRefs", "ValidPaths", 0, deleteSelfRefsSQL),
		entry("table", "DerivationOutputs", "DerivationOutputs", rootDerivationOutputs, derivationOutputsSQL),
		entry("index", "sqlite_autoindex_DerivationOutputs_1", "DerivationOutputs", rootDerivationOutputsKey, ""),
		entry("index", "IndexDerivationOutputs", "DerivationOutputs", rootIndexDerivationOutputs, indexDerivationOutputsSQL),
		entry("table", "SchemaMigrations", "SchemaMigrations", rootSchemaMigrations, schemaMigrationsSQL),
		entry("index", "sqlite_autoindex_SchemaMigrations_1", "SchemaMigrations", rootSchemaMigrationsKey, ""),
	}
}

// Build returns the database of paths: every path valid, with its
// references, and the outputs of the derivations among them. Paths are
// numbered in the order of their store paths; every reference must be
// one of paths.
func Build(paths []Path, opts Options) ([]byte, error) {
	sorted := append([]Path(nil), paths...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	ids := make(map[string]int64, len(sorted))
	for i, p := range sorted {
		if err := checkText("store path", p.Path); err != nil {
			return nil, err
		}
		if !path.IsAbs(p.Path) || path.Clean(p.Path) != p.Path {
			return nil, fmt.Errorf("store path %q is not a clean absolute path", p.Path)
		}
		if _, dup := ids[p.Path]; dup {
			return nil, fmt.Errorf("store path %s is given twice", p.Path)
		}
		ids[p.Path] = int64(i + 1)
	}

	var validPaths []tableRow
	var byPath [][]value
	type ref struct{ referrer, reference int64 }
	var refs []ref
	type output struct {
		drv        int64
		name, path string
	}
	var outputs []output
	for i, p := range sorted {
		id := int64(i + 1)
		hash, err := base16(p.NarHash)
		if err != nil {
			return nil, fmt.Errorf("store path %s: %w", p.Path, err)
		}
		for _, s := range []struct{ what, v string }{{"deriver", p.Deriver}, {"content address", p.CA}} {
			if err := checkText(s.what, s.v); err != nil {
				return nil, fmt.Errorf("store path %s: %w", p.Path, err)
			}
		}
		narSize := null()
		if p.NarSize > 1<<63-1 {
			return nil, fmt.Errorf("store path %s: NAR size %d is too big", p.Path, p.NarSize)
		} else if p.NarSize != 0 {
			narSize = integer(int64(p.NarSize))
		}
		// id is the rowid (INTEGER PRIMARY KEY): NULL in the record.
		validPaths = append(validPaths, tableRow{id, record(null(), text(p.Path), text(hash), integer(opts.RegistrationTime),
			textOrNull(p.Deriver), narSize, null(), null(), textOrNull(p.CA))})
		byPath = append(byPath, []value{text(p.Path), integer(id)})
		seen := map[string]bool{}
		for _, r := range p.References {
			rid, ok := ids[r]
			if !ok {
				return nil, fmt.Errorf("store path %s refers to %s, which is not in the database", p.Path, r)
			}
			if !seen[r] {
				seen[r] = true
				refs = append(refs, ref{id, rid})
			}
		}
		names := map[string]bool{}
		for _, o := range p.Outputs {
			if !strings.HasSuffix(p.Path, ".drv") {
				return nil, fmt.Errorf("store path %s has outputs but is not a derivation (.drv)", p.Path)
			}
			if o.Name == "" || o.Path == "" || names[o.Name] {
				return nil, fmt.Errorf("derivation %s: output %q (%s) is empty or given twice", p.Path, o.Name, o.Path)
			}
			for _, s := range []string{o.Name, o.Path} {
				if err := checkText("output", s); err != nil {
					return nil, fmt.Errorf("derivation %s: %w", p.Path, err)
				}
			}
			names[o.Name] = true
			outputs = append(outputs, output{id, o.Name, o.Path})
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		a, b := refs[i], refs[j]
		return a.referrer < b.referrer || a.referrer == b.referrer && a.reference < b.reference
	})
	sort.Slice(outputs, func(i, j int) bool {
		a, b := outputs[i], outputs[j]
		return a.drv < b.drv || a.drv == b.drv && a.name < b.name
	})

	f := &file{}
	for pgno := uint32(1); pgno <= lastRoot; pgno++ {
		if _, err := f.alloc(); err != nil {
			return nil, err
		}
	}
	var schema []tableRow
	for i, row := range schemaRows() {
		schema = append(schema, tableRow{int64(i + 1), record(row...)})
	}
	var sequence []tableRow
	if len(sorted) > 0 {
		sequence = []tableRow{{1, record(text("ValidPaths"), integer(int64(len(sorted))))}}
	}
	var refRows []tableRow
	var refKeys, referrers, references [][]value
	for i, r := range refs {
		rowid := int64(i + 1)
		refRows = append(refRows, tableRow{rowid, record(integer(r.referrer), integer(r.reference))})
		refKeys = append(refKeys, []value{integer(r.referrer), integer(r.reference), integer(rowid)})
		referrers = append(referrers, []value{integer(r.referrer), integer(rowid)})
		references = append(references, []value{integer(r.reference), integer(rowid)})
	}
	var outputRows []tableRow
	var outputKeys, outputPaths [][]value
	for i, o := range outputs {
		rowid := int64(i + 1)
		outputRows = append(outputRows, tableRow{rowid, record(integer(o.drv), text(o.name), text(o.path))})
		outputKeys = append(outputKeys, []value{integer(o.drv), text(o.name), integer(rowid)})
		outputPaths = append(outputPaths, []value{text(o.path), integer(rowid)})
	}
	for _, keys := range [][][]value{references, outputPaths} {
		sort.Slice(keys, func(i, j int) bool { return compareKeys(keys[i], keys[j]) < 0 })
	}

	for _, t := range []struct {
		root uint32
		rows []tableRow
	}{
		{1, schema},
		{rootValidPaths, validPaths},
		{rootSequence, sequence},
		{rootRefs, refRows},
		{rootDerivationOutputs, outputRows},
		{rootSchemaMigrations, nil},
	} {
		if err := f.buildTable(t.root, t.rows); err != nil {
			return nil, fmt.Errorf("table at page %d: %w", t.root, err)
		}
	}
	for _, x := range []struct {
		root uint32
		keys [][]value
	}{
		{rootValidPathsPath, byPath},
		{rootRefsKey, refKeys},
		{rootIndexReferrer, referrers},
		{rootIndexReference, references},
		{rootDerivationOutputsKey, outputKeys},
		{rootIndexDerivationOutputs, outputPaths},
		{rootSchemaMigrationsKey, nil},
	} {
		if err := f.buildIndex(x.root, x.keys); err != nil {
			return nil, fmt.Errorf("index at page %d: %w", x.root, err)
		}
	}

	out := make([]byte, 0, len(f.pages)*PageSize)
	for _, page := range f.pages {
		out = append(out, page...)
	}
	writeHeader(out, uint32(len(f.pages)))
	return out, nil
}

// writeHeader fills in the file header at the start of page 1
// (https://www.sqlite.org/fileformat2.html#the_database_header).
func writeHeader(db []byte, pages uint32) {
	h := db[:100]
	copy(h, "SQLite format 3\x00")
	binary.BigEndian.PutUint16(h[16:], PageSize)
	// File format write and read versions: 1, rollback journal.
	h[18], h[19] = 1, 1
	// No reserved bytes; payload fractions 64, 32, 32 as they must be.
	h[20], h[21], h[22], h[23] = 0, 64, 32, 32
	// File change counter, equal to the version-valid-for number so that
	// the page count is believed.
	binary.BigEndian.PutUint32(h[24:], 1)
	binary.BigEndian.PutUint32(h[28:], pages)
	// No free pages (32, 36); schema cookie 1; schema format 4.
	binary.BigEndian.PutUint32(h[40:], 1)
	binary.BigEndian.PutUint32(h[44:], 4)
	// Text encoding: UTF-8.
	binary.BigEndian.PutUint32(h[56:], 1)
	binary.BigEndian.PutUint32(h[92:], 1)
	// The SQLite version the file's format follows (3.40.1).
	binary.BigEndian.PutUint32(h[96:], 3040001)
}

// base16 is narHash as the database holds it: "sha256:<base16>".
func base16(narHash string) (string, error) {
	if narHash == "" {
		return "", fmt.Errorf("no NAR hash: the database needs every path's")
	}
	h, err := nixhash.ParseAny(narHash, nil)
	if err != nil {
		return "", fmt.Errorf("NAR hash %q: %w", narHash, err)
	}
	if h.Algo() != nixhash.SHA256 {
		return "", fmt.Errorf("NAR hash %q is not SHA-256", narHash)
	}
	return h.Format(nixhash.Base16, true), nil
}

// checkText refuses what SQLite's text cannot hold as Nix means it.
func checkText(what, s string) error {
	if strings.ContainsRune(s, 0) {
		return fmt.Errorf("%s %q holds a NUL byte", what, s)
	}
	return nil
}
