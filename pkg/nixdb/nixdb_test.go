package nixdb

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

// needSqlite skips the test without Debian's sqlite3, except under CI.
func needSqlite(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but sqlite3 is missing")
		}
		t.Skip("sqlite3 missing")
	}
}

// sqlite runs sql on the database file db with sqlite3 and returns what
// it printed.
func sqlite(t *testing.T, db string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("sqlite3", append([]string{"-bail", db}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("sqlite3 %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// storePath makes a store path of name with a hash derived from i.
func storePath(dir string, i int, name string) string {
	h := sha256.Sum256([]byte(fmt.Sprint(i)))
	return dir + "/" + nixbase32.EncodeToString(h[:20]) + "-" + name
}

// narHash is a "sha256:<nix-base32>" hash derived from i.
func narHash(i int) string {
	d := make([]byte, 32)
	for k := range d {
		d[k] = byte(i*31 + k*7)
	}
	h, err := nixhash.NewHash(nixhash.SHA256, d)
	if err != nil {
		panic(err)
	}
	return h.Format(nixhash.NixBase32, true)
}

// randomGraph is a closed graph of n paths whose names are about
// nameLen characters long, each referring to up to maxRefs earlier paths
// and sometimes itself; some are derivations with outputs, some
// content-addressed or with a deriver.
func randomGraph(rng *rand.Rand, n, nameLen, maxRefs int) []Path {
	paths := make([]Path, n)
	for i := range paths {
		name := fmt.Sprintf("p%d-", i) + strings.Repeat("x", rng.Intn(nameLen+1))
		if rng.Intn(10) == 0 {
			name += ".drv"
		}
		p := Path{Path: storePath("/nix/store", i, name), NarHash: narHash(i), NarSize: uint64(rng.Int63n(1 << 40))}
		if rng.Intn(8) == 0 {
			p.NarSize = 0
		}
		if i > 0 {
			for k := rng.Intn(maxRefs + 1); k > 0; k-- {
				p.References = append(p.References, paths[rng.Intn(i)].Path)
			}
		}
		if rng.Intn(4) == 0 {
			p.References = append(p.References, p.Path)
		}
		switch rng.Intn(6) {
		case 0:
			p.CA = "fixed:r:sha256:" + strings.TrimPrefix(narHash(i+1), "sha256:")
		case 1:
			p.Deriver = storePath("/nix/store", i+1<<20, "d.drv")
		}
		if strings.HasSuffix(name, ".drv") {
			for k := rng.Intn(3); k >= 0; k-- {
				p.Outputs = append(p.Outputs, Output{Name: []string{"out", "dev", "lib"}[k], Path: storePath("/nix/store", i+k<<22, "o")})
			}
		}
		paths[i] = p
	}
	return paths
}

// row is a ValidPaths row as the tests compare it.
type row struct {
	Path, Hash, Deriver, CA string
	NarSize                 uint64
	RegistrationTime        int64
	References              []string
	Outputs                 []Output
}

// expected is what the database of paths must hold, by path.
func expected(t *testing.T, paths []Path, regTime int64) map[string]row {
	t.Helper()
	want := map[string]row{}
	for _, p := range paths {
		h, err := base16(p.NarHash)
		if err != nil {
			t.Fatal(err)
		}
		r := row{Path: p.Path, Hash: h, Deriver: p.Deriver, CA: p.CA, NarSize: p.NarSize, RegistrationTime: regTime}
		seen := map[string]bool{}
		for _, ref := range p.References {
			if !seen[ref] {
				seen[ref] = true
				r.References = append(r.References, ref)
			}
		}
		sort.Strings(r.References)
		r.Outputs = append([]Output(nil), p.Outputs...)
		sort.Slice(r.Outputs, func(i, j int) bool { return r.Outputs[i].Name < r.Outputs[j].Name })
		want[p.Path] = r
	}
	return want
}

// readRows reads the database back with the test's reader.
func readRows(db []byte) (map[string]row, error) {
	r, err := newReader(db)
	if err != nil {
		return nil, err
	}
	if _, _, err := r.table(1); err != nil {
		return nil, err
	}
	vp, _, err := r.table(rootValidPaths)
	if err != nil {
		return nil, err
	}
	byID := map[int64]string{}
	got := map[string]row{}
	for _, tr := range vp {
		v, err := decodeRecord(tr.payload)
		if err != nil {
			return nil, err
		}
		if len(v) != 9 || v[0].kind != kindNull || v[6].kind != kindNull || v[7].kind != kindNull {
			return nil, fmt.Errorf("ValidPaths row %d: %v", tr.rowid, v)
		}
		byID[tr.rowid] = v[1].s
		got[v[1].s] = row{Path: v[1].s, Hash: v[2].s, RegistrationTime: v[3].i, Deriver: v[4].s, NarSize: uint64(v[5].i), CA: v[8].s}
	}
	refs, _, err := r.table(rootRefs)
	if err != nil {
		return nil, err
	}
	for _, tr := range refs {
		v, err := decodeRecord(tr.payload)
		if err != nil {
			return nil, err
		}
		from, to := byID[v[0].i], byID[v[1].i]
		x := got[from]
		x.References = append(x.References, to)
		got[from] = x
	}
	outs, _, err := r.table(rootDerivationOutputs)
	if err != nil {
		return nil, err
	}
	for _, tr := range outs {
		v, err := decodeRecord(tr.payload)
		if err != nil {
			return nil, err
		}
		x := got[byID[v[0].i]]
		x.Outputs = append(x.Outputs, Output{Name: v[1].s, Path: v[2].s})
		got[byID[v[0].i]] = x
	}
	for _, root := range []uint32{rootSequence, rootSchemaMigrations} {
		if _, _, err := r.table(root); err != nil {
			return nil, err
		}
	}
	for root := rootValidPathsPath; root <= lastRoot; root++ {
		switch root {
		case rootSequence, rootRefs, rootDerivationOutputs, rootSchemaMigrations:
			continue
		}
		if _, _, err := r.index(root); err != nil {
			return nil, err
		}
	}
	if len(r.used) != len(db)/PageSize {
		return nil, fmt.Errorf("%d of %d pages used", len(r.used), len(db)/PageSize)
	}
	for _, x := range got {
		sort.Strings(x.References)
		got[x.Path] = x
	}
	return got, nil
}

// checkSqlite has sqlite3 check the database db of paths: its integrity,
// foreign keys, and every row against paths.
func checkSqlite(t *testing.T, db []byte, paths []Path, regTime int64) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "db.sqlite")
	if err := os.WriteFile(file, db, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := sqlite(t, file, "PRAGMA integrity_check"); got != "ok\n" {
		t.Fatalf("integrity_check:\n%s", got)
	}
	if got := sqlite(t, file, "PRAGMA foreign_key_check"); got != "" {
		t.Fatalf("foreign_key_check:\n%s", got)
	}
	var rows []struct {
		ID               int64   `json:"id"`
		Path             string  `json:"path"`
		Hash             string  `json:"hash"`
		RegistrationTime int64   `json:"registrationTime"`
		Deriver          *string `json:"deriver"`
		NarSize          *uint64 `json:"narSize"`
		Ultimate         *int64  `json:"ultimate"`
		Sigs             *string `json:"sigs"`
		CA               *string `json:"ca"`
		Refs             *string `json:"refs"`
	}
	// Each query goes through the index its WHERE or ORDER BY names, and
	// the references are joined through IndexReferrer.
	out := sqlite(t, file, "-json", `SELECT v.*, (SELECT group_concat(r.path, ' ') FROM (SELECT w.path FROM Refs JOIN ValidPaths w ON w.id = Refs.reference WHERE Refs.referrer = v.id ORDER BY w.path) r) AS refs FROM ValidPaths v ORDER BY v.path`)
	if out != "" {
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	want := expected(t, paths, regTime)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		w, ok := want[r.Path]
		if !ok {
			t.Fatalf("unexpected row %s", r.Path)
		}
		if i > 0 && rows[i-1].Path >= r.Path {
			t.Fatalf("rows out of order at %s", r.Path)
		}
		str := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		var size uint64
		if r.NarSize != nil {
			size = *r.NarSize
			if size == 0 {
				t.Errorf("%s: narSize 0 where NULL was expected", r.Path)
			}
		}
		var refs []string
		if r.Refs != nil {
			refs = strings.Split(*r.Refs, " ")
		}
		got := row{Path: r.Path, Hash: r.Hash, RegistrationTime: r.RegistrationTime, Deriver: str(r.Deriver), CA: str(r.CA), NarSize: size, References: refs}
		w.Outputs = nil
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("row %s:\n got %+v\nwant %+v", r.Path, got, w)
		}
		if r.Ultimate != nil || r.Sigs != nil {
			t.Errorf("%s: ultimate and sigs must be NULL", r.Path)
		}
		if r.ID != int64(i+1) {
			t.Errorf("%s: id %d, want %d", r.Path, r.ID, i+1)
		}
	}
	// Lookups through each index.
	for _, q := range []struct{ sql, want string }{
		{"SELECT count(*) FROM ValidPaths INDEXED BY sqlite_autoindex_ValidPaths_1 WHERE path >= ''", fmt.Sprint(len(paths))},
		{"SELECT count(*) FROM Refs INDEXED BY IndexReference WHERE reference > 0", fmt.Sprint(countRefs(paths))},
		{"SELECT count(*) FROM Refs INDEXED BY IndexReferrer WHERE referrer > 0", fmt.Sprint(countRefs(paths))},
		{"SELECT count(*) FROM DerivationOutputs INDEXED BY IndexDerivationOutputs WHERE path >= ''", fmt.Sprint(countOutputs(paths))},
		{"SELECT count(*) FROM SchemaMigrations", "0"},
	} {
		if got := strings.TrimSpace(sqlite(t, file, q.sql)); got != q.want {
			t.Errorf("%s: %s, want %s", q.sql, got, q.want)
		}
	}
	// The derivations' outputs, looked up by output path.
	var wantOutputs []string
	for _, p := range paths {
		for _, o := range p.Outputs {
			wantOutputs = append(wantOutputs, o.Path+" "+o.Name+" "+p.Path)
		}
	}
	sort.Strings(wantOutputs)
	gotOutputs := strings.Fields(strings.ReplaceAll(sqlite(t, file, "SELECT d.path || ' ' || d.id || ' ' || v.path FROM DerivationOutputs d INDEXED BY IndexDerivationOutputs JOIN ValidPaths v ON v.id = d.drv WHERE d.path >= '' ORDER BY d.path, d.id, v.path"), "\n", " "))
	if want := strings.Fields(strings.Join(wantOutputs, " ")); !reflect.DeepEqual(gotOutputs, want) && len(want)+len(gotOutputs) > 0 {
		t.Errorf("derivation outputs:\n got %v\nwant %v", gotOutputs, want)
	}
	seq := strings.TrimSpace(sqlite(t, file, "SELECT seq FROM sqlite_sequence WHERE name = 'ValidPaths'"))
	if len(paths) > 0 && seq != fmt.Sprint(len(paths)) || len(paths) == 0 && seq != "" {
		t.Errorf("sqlite_sequence: %q for %d paths", seq, len(paths))
	}
}

func countRefs(paths []Path) int {
	n := 0
	for _, p := range paths {
		seen := map[string]bool{}
		for _, r := range p.References {
			if !seen[r] {
				seen[r] = true
				n++
			}
		}
	}
	return n
}

func countOutputs(paths []Path) int {
	n := 0
	for _, p := range paths {
		n += len(p.Outputs)
	}
	return n
}

func TestBuild(t *testing.T) {
	needSqlite(t)
	hello := storePath("/nix/store", 1, "hello-2.12")
	glibc := storePath("/nix/store", 2, "glibc-2.40")
	drv := storePath("/nix/store", 3, "hello-2.12.drv")
	long := func(i int, n int) string { return storePath("/nix/store", i, strings.Repeat("l", n)) }
	for _, tc := range []struct {
		name  string
		paths []Path
		// depth is the least depth of the B-tree of ValidPaths' path
		// index (0: one page).
		depth int
		// tableDepth is the least depth of ValidPaths' B-tree.
		tableDepth int
	}{
		{name: "empty"},
		{name: "one path", paths: []Path{{Path: glibc, NarHash: narHash(2), NarSize: 1 << 20}}},
		{name: "references, self-reference, deriver, content address", paths: []Path{
			{Path: hello, NarHash: narHash(1), NarSize: 100, References: []string{glibc, hello}, Deriver: drv},
			{Path: glibc, NarHash: narHash(2), NarSize: 200, References: []string{glibc}, CA: "fixed:r:sha256:" + strings.TrimPrefix(narHash(9), "sha256:")},
		}},
		{name: "derivation outputs", paths: []Path{
			{Path: drv, NarHash: narHash(3), NarSize: 1234, References: []string{glibc}, Outputs: []Output{{"out", hello}, {"dev", glibc}}},
			{Path: glibc, NarHash: narHash(2)},
		}},
		{name: "hashes in every form", paths: []Path{
			{Path: hello, NarHash: "sha256-" + "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
			{Path: glibc, NarHash: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		}},
		// Payloads bigger than a page keeps: overflow pages, in the table
		// and in the index (a path of 3000 bytes fits neither).
		{name: "overflow", paths: []Path{
			{Path: long(1, 1200), NarHash: narHash(1), References: []string{long(2, 5000)}},
			{Path: long(2, 5000), NarHash: narHash(2), Deriver: long(3, 9000), CA: strings.Repeat("c", 20000)},
			{Path: long(4, 990), NarHash: narHash(4)},
		}},
		{name: "many paths", paths: randomGraph(rand.New(rand.NewSource(1)), 3000, 60, 12), depth: 2},
		{name: "long names", paths: randomGraph(rand.New(rand.NewSource(2)), 2000, 200, 5), depth: 2},
		// More leaves than one interior page of the table holds.
		{name: "three levels", paths: randomGraph(rand.New(rand.NewSource(6)), 9000, 200, 3), depth: 2, tableDepth: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Build(tc.paths, Options{RegistrationTime: 1})
			if err != nil {
				t.Fatal(err)
			}
			checkSqlite(t, db, tc.paths, 1)
			got, err := readRows(db)
			if err != nil {
				t.Fatal(err)
			}
			if want := expected(t, tc.paths, 1); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("read back:\n got %v\nwant %v", got, want)
			}
			r, _ := newReader(db)
			if _, depth, err := r.index(rootValidPathsPath); err != nil || depth < tc.depth {
				t.Errorf("the path index's B-tree has depth %d (%v), want at least %d", depth, err, tc.depth)
			}
			if _, depth, err := r.table(rootValidPaths); err != nil || depth < tc.tableDepth {
				t.Errorf("ValidPaths' B-tree has depth %d (%v), want at least %d", depth, err, tc.tableDepth)
			}
		})
	}
}

// TestReproducible: the same paths, in any order, give the same bytes.
func TestReproducible(t *testing.T) {
	paths := randomGraph(rand.New(rand.NewSource(3)), 500, 40, 6)
	a, err := Build(paths, Options{RegistrationTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	shuffled := append([]Path(nil), paths...)
	rand.New(rand.NewSource(4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i := range shuffled {
		refs := append([]string(nil), shuffled[i].References...)
		for k, l := 0, len(refs)-1; k < l; k, l = k+1, l-1 {
			refs[k], refs[l] = refs[l], refs[k]
		}
		shuffled[i].References = refs
	}
	b, err := Build(shuffled, Options{RegistrationTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the same paths in another order gave other bytes")
	}
}

// TestRandomGraphs has sqlite3 check databases of random graphs of every
// size from nothing to several levels of B-tree.
func TestRandomGraphs(t *testing.T) {
	needSqlite(t)
	rng := rand.New(rand.NewSource(5))
	for i, n := range []int{1, 2, 3, 7, 20, 50, 90, 150, 300, 700, 1500, 5000} {
		paths := randomGraph(rng, n, 1+rng.Intn(200), rng.Intn(20))
		t.Run(fmt.Sprint(i, "-", n), func(t *testing.T) {
			db, err := Build(paths, Options{RegistrationTime: int64(i)})
			if err != nil {
				t.Fatal(err)
			}
			checkSqlite(t, db, paths, int64(i))
		})
	}
}

func TestBuildErrors(t *testing.T) {
	a := storePath("/nix/store", 1, "a")
	b := storePath("/nix/store", 2, "b")
	for _, tc := range []struct {
		name  string
		paths []Path
		want  string
	}{
		{"dangling reference", []Path{{Path: a, NarHash: narHash(1), References: []string{b}}}, "refers to " + b + ", which is not in the database"},
		{"twice", []Path{{Path: a, NarHash: narHash(1)}, {Path: a, NarHash: narHash(1)}}, "is given twice"},
		{"no hash", []Path{{Path: a}}, "no NAR hash"},
		{"bad hash", []Path{{Path: a, NarHash: "sha256:xyz"}}, "NAR hash \"sha256:xyz\""},
		{"md5", []Path{{Path: a, NarHash: "md5:d41d8cd98f00b204e9800998ecf8427e"}}, "is not SHA-256"},
		{"relative", []Path{{Path: "nix/store/x", NarHash: narHash(1)}}, "not a clean absolute path"},
		{"outputs of a non-derivation", []Path{{Path: a, NarHash: narHash(1), Outputs: []Output{{"out", b}}}}, "is not a derivation"},
		{"NUL", []Path{{Path: a, NarHash: narHash(1), CA: "x\x00"}}, "NUL byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.paths, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDerivationOutputs(t *testing.T) {
	for _, tc := range []struct {
		name, drv string
		want      []Output
		err       string
	}{
		{"two outputs", `Derive([("dev","/nix/store/aaa-x-dev","",""),("out","/nix/store/bbb-x","","")],[],[],"x86_64-linux","/bin/sh",[],[])`,
			[]Output{{"dev", "/nix/store/aaa-x-dev"}, {"out", "/nix/store/bbb-x"}}, ""},
		{"fixed output", `Derive([("out","/nix/store/ccc-src","r:sha256","0123")],[],[],"x","b",[],[])`,
			[]Output{{"out", "/nix/store/ccc-src"}}, ""},
		{"floating content address", `Derive([("out","","r:sha256","")],[],[],"x","b",[],[])`, nil, ""},
		{"escapes", `Derive([("o\"ut","/nix/store/ddd-a\\b","","")],[],[],"x","b",[],[])`, []Output{{`o"ut`, `/nix/store/ddd-a\b`}}, ""},
		{"not a derivation", `{"hello": 1}`, nil, "not a derivation"},
		{"truncated", `Derive([("out","/nix/store/eee`, nil, "unterminated string"},
		{"ends after the outputs", `Derive([("out","/nix/store/eee","","")]`, nil, "ends after them"},
		{"no name", `Derive([("","/nix/store/eee","","")],`, nil, "no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DerivationOutputs([]byte(tc.drv))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestSchemaFitsFirstPage: sqlite_schema is one leaf, on page 1.
func TestSchemaFitsFirstPage(t *testing.T) {
	db, err := Build(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if db[100] != tableLeaf {
		t.Fatalf("page 1 has type %#x", db[100])
	}
	if len(db) != int(lastRoot)*PageSize {
		t.Fatalf("an empty database has %d pages, want %d", len(db)/PageSize, lastRoot)
	}
}

// FuzzBuild builds the database of random graphs and reads it back: every
// row as given, every B-tree well formed.
func FuzzBuild(f *testing.F) {
	for _, seed := range []struct {
		seed               int64
		n, nameLen, refs16 uint16
	}{{1, 0, 0, 0}, {2, 1, 10, 0}, {3, 40, 200, 8}, {4, 400, 30, 3}, {5, 900, 5, 40}} {
		f.Add(seed.seed, seed.n, seed.nameLen, seed.refs16)
	}
	f.Fuzz(func(t *testing.T, seed int64, n, nameLen, maxRefs uint16) {
		paths := randomGraph(rand.New(rand.NewSource(seed)), int(n%2000), int(nameLen%300), int(maxRefs%50))
		db, err := Build(paths, Options{RegistrationTime: seed})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readRows(db)
		if err != nil {
			t.Fatal(err)
		}
		if want := expected(t, paths, seed); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatal("rows read back differ from those given")
		}
	})
}
