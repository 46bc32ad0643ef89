package store_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/store"
)

// sp returns a syntactically valid store path whose hash is c repeated.
func sp(dir string, c byte, name string) string {
	return dir + "/" + strings.Repeat(string(c), 32) + "-" + name
}

var (
	hello = sp("/nix/store", 'h', "hello-2.12")
	glibc = sp("/nix/store", 'g', "glibc-2.40")
	extra = sp("/nix/store", 'x', "extra")
	other = sp("/nix/store", 'z', "other")
)

func sampleGraph(t *testing.T) *store.Graph {
	t.Helper()
	g, err := store.NewGraph([]store.PathInfo{
		{Path: hello, References: []string{glibc, hello}},
		{Path: glibc, References: []string{glibc}},
		{Path: extra, References: nil},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewGraphErrors(t *testing.T) {
	f := false
	tests := []struct {
		name     string
		infos    []store.PathInfo
		storeDir string
		want     string
	}{
		{"bad hash", []store.PathInfo{{Path: "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x"}}, "", "not a valid store path name"},
		{"short", []store.PathInfo{{Path: "/nix/store/abc"}}, "", "not a valid store path name"},
		// go-nix's storepath accepts these (found by FuzzParseJSON).
		{"no dash", []store.PathInfo{{Path: "/nix/store/" + strings.Repeat("0", 33)}}, "", "not a valid store path name"},
		{"empty name", []store.PathInfo{{Path: "/nix/store/" + strings.Repeat("0", 32) + "-"}}, "", "not a valid store path name"},
		{"no dash, longer", []store.PathInfo{{Path: "/nix/store/" + strings.Repeat("0", 32) + "xhello"}}, "", "not a valid store path name"},
		{"sub path", []store.PathInfo{{Path: hello + "/bin/hello"}}, "", "not a valid store path name"},
		{"dot dot", []store.PathInfo{{Path: "/nix/store/../" + strings.Repeat("a", 32) + "-x"}}, "", "not a clean absolute path"},
		{"relative", []store.PathInfo{{Path: strings.Repeat("a", 32) + "-x"}}, "", "not a clean absolute path"},
		{"other dir", []store.PathInfo{{Path: hello}, {Path: sp("/opt/store", 'a', "x")}}, "", "not in the store directory /nix/store"},
		{"wrong explicit dir", []store.PathInfo{{Path: hello}}, "/opt/store", "not in the store directory /opt/store"},
		// Found by FuzzParseRegistration.
		{"NUL in store dir", []store.PathInfo{{Path: sp("/\x00", 'a', "x")}}, "", `store directory "/\x00" contains a NUL byte`},
		{"newline in explicit store dir", []store.PathInfo{{Path: sp("/a\nb", 'a', "x")}}, "/a\nb", "contains a NUL byte or a newline"},
		{"bad name char", []store.PathInfo{{Path: sp("/nix/store", 'a', "a b")}}, "", "not a valid store path name"},
		{"long name", []store.PathInfo{{Path: sp("/nix/store", 'a', strings.Repeat("n", 212))}}, "", "name longer than 211"},
		{"duplicate", []store.PathInfo{{Path: hello}, {Path: hello}}, "", "appears twice"},
		// Found by FuzzParseJSON: FindReferences could not tell them apart.
		{"same hash", []store.PathInfo{{Path: sp("/nix/store", 'a', "x")}, {Path: sp("/nix/store", 'a', "y")}}, "", "graph entries " + sp("/nix/store", 'a', "x") + " and " + sp("/nix/store", 'a', "y") + " have the same hash"},
		{"bad reference", []store.PathInfo{{Path: hello, References: []string{"/etc/passwd"}}}, "", "reference"},
		{"not valid", []store.PathInfo{{Path: hello, Valid: &f}}, "", "marked as not valid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.NewGraph(tc.infos, tc.storeDir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestGraphStoreDirFromData(t *testing.T) {
	p := sp("/opt/nix/store", 'a', "thing")
	g, err := store.NewGraph([]store.PathInfo{{Path: p}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if g.StoreDir() != "/opt/nix/store" {
		t.Fatalf("store dir %q", g.StoreDir())
	}
	refs, err := g.FindReferences("exec " + p + "/bin/x")
	if err != nil || !reflect.DeepEqual(refs, []string{p}) {
		t.Fatalf("refs %v, err %v", refs, err)
	}
}

func TestClosure(t *testing.T) {
	g := sampleGraph(t)
	tests := []struct {
		name  string
		roots []string
		want  []string
		err   string
	}{
		{"with self references", []string{hello}, []string{glibc, hello}, ""},
		{"two roots, duplicates", []string{extra, hello, extra}, []string{glibc, hello, extra}, ""},
		{"no roots", nil, []string{}, ""},
		{"unknown root", []string{other}, nil, other + " is not in the closure graph"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := g.Closure(tc.roots)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			paths := []string{}
			for _, info := range got {
				paths = append(paths, info.Path)
			}
			if !reflect.DeepEqual(paths, tc.want) {
				t.Fatalf("closure %v, want %v", paths, tc.want)
			}
		})
	}
}

func TestClosureNotClosed(t *testing.T) {
	g, err := store.NewGraph([]store.PathInfo{{Path: hello, References: []string{glibc}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Closure([]string{hello})
	want := "closure is not closed: " + hello + " refers to " + glibc + ", which is not in the graph"
	if !errors.Is(err, store.ErrNotClosed) || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if _, err := g.Closure([]string{glibc}); !errors.Is(err, store.ErrNotInGraph) {
		t.Fatalf("closure of a path not in the graph: %v", err)
	}
}

func TestFindReferences(t *testing.T) {
	g := sampleGraph(t)
	tests := []struct {
		name string
		s    string
		want []string
		err  string
	}{
		{"plain path", hello, []string{hello}, ""},
		{"sub path", hello + "/bin/hello", []string{hello}, ""},
		{"embedded twice", "exec " + extra + "/bin/x " + hello + "/a " + extra, []string{extra, hello}, ""},
		{"followed by a dot", hello + ".", []string{hello}, ""},
		{"store dir alone", "ls /nix/store /nix/store/.links", nil, ""},
		{"no paths", "--flag", nil, ""},
		{"unknown path", "run " + other + "/bin/x", nil, other + " is not in the closure graph"},
		{"known hash, other name", strings.Replace(hello, "hello-2.12", "evil", 1), nil, "-evil is not in the closure graph"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := g.FindReferences(tc.s)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPathsSortedAndLookup(t *testing.T) {
	g := sampleGraph(t)
	if got, want := g.Paths(), []string{glibc, hello, extra}; !reflect.DeepEqual(got, want) {
		t.Fatalf("paths %v, want %v", got, want)
	}
	info, ok := g.Lookup(hello)
	if !ok || info.Name() != "hello-2.12" {
		t.Fatalf("lookup %v %v", info, ok)
	}
	if !reflect.DeepEqual(info.References, []string{glibc, hello}) {
		t.Fatalf("references not sorted: %v", info.References)
	}
	if g.Len() != 3 {
		t.Fatalf("len %d", g.Len())
	}
}

func TestMentions(t *testing.T) {
	s := "a " + hello + "/bin/x " + hello + ". /nix/store/" + strings.Repeat("e", 32) + "-x /nix/store/" + strings.Repeat("a", 32) + "- /nix/store"
	got := store.Mentions(s, "/nix/store")
	var texts []string
	for _, m := range got {
		texts = append(texts, s[m.Start:m.End]+"|"+m.Hash)
	}
	// 'e' is not a nix-base32 digit; a name cannot be empty.
	want := []string{hello + "|" + strings.Repeat("h", 32), hello + ".|" + strings.Repeat("h", 32)}
	if !reflect.DeepEqual(texts, want) {
		t.Fatalf("mentions %q, want %q", texts, want)
	}
}

// TestMarshalJSON: a graph written as JSON parses back to the same graph,
// hashes and sizes kept, whatever format it came from.
func TestMarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func() (*store.Graph, error)
	}{
		{"json", func() (*store.Graph, error) {
			return store.ParseJSON([]byte(`[
 {"path": "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a", "narHash": "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "narSize": 128, "closureSize": 256, "references": ["/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b"]},
 {"path": "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b", "narHash": "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "narSize": 128, "references": []}
]`), "")
		}},
		{"registration", func() (*store.Graph, error) {
			return store.ParseRegistration(strings.NewReader("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a\n\n2\n/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a\n/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b\n/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b\n\n0\n"), "")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := tc.parse()
			if err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			back, err := store.ParseJSON(data, "")
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if back.StoreDir() != g.StoreDir() || !reflect.DeepEqual(back.Paths(), g.Paths()) {
				t.Fatalf("paths %v in %s, want %v in %s", back.Paths(), back.StoreDir(), g.Paths(), g.StoreDir())
			}
			for _, p := range g.Paths() {
				want, _ := g.Lookup(p)
				got, _ := back.Lookup(p)
				if got.NarHash != want.NarHash || got.NarSize != want.NarSize || !reflect.DeepEqual(got.References, want.References) {
					t.Errorf("%s: %+v, want %+v", p, *got, *want)
				}
			}
			if strings.Contains(string(data), "closureSize") {
				t.Errorf("closure sizes written: %s", data)
			}
		})
	}
}
