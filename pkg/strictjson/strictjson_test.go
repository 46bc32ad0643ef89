package strictjson_test

import (
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

type inner struct {
	Name string `json:"name"`
}

type embedded struct {
	Extra int `json:"extra,omitempty"`
}

type outer struct {
	embedded
	Flag   bool             `json:"flag"`
	Items  []inner          `json:"items"`
	ByName map[string]inner `json:"byName"`
	Ptr    *inner           `json:"ptr,omitempty"`
	Skip   string           `json:"-"`
	NoTag  string
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"valid", `{"flag":true,"items":[{"name":"a"}],"byName":{"x":{"name":"b"}},"ptr":{"name":"c"},"extra":1,"NoTag":"n"}`, ""},
		{"case differs", `{"Flag":true}`, `unknown field "Flag" (known: NoTag, byName, extra, flag, items, ptr)`},
		{"nested in slice", `{"items":[{"name":"a"},{"nmae":"b"}]}`, `unknown field "nmae" in /items/1 (known: name)`},
		{"nested in map", `{"byName":{"a/b":{"Name":"b"}}}`, `unknown field "Name" in /byName/a~1b`},
		{"through pointer", `{"ptr":{"x":1}}`, `unknown field "x" in /ptr`},
		{"skipped field", `{"Skip":"x"}`, `unknown field "Skip"`},
		{"type error", `{"flag":"yes"}`, "cannot unmarshal string"},
		{"trailing", `{} []`, "trailing data"},
		{"syntax", `{"flag":}`, "invalid character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v outer
			err := strictjson.Unmarshal([]byte(tc.json), &v)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !v.Flag || v.Items[0].Name != "a" || v.ByName["x"].Name != "b" || v.Ptr.Name != "c" || v.Extra != 1 {
					t.Fatalf("decoded %+v", v)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDescribeOptionError(t *testing.T) {
	type inner struct {
		B int `json:"b"`
	}
	type opts struct {
		A int               `json:"a"`
		I inner             `json:"i"`
		S []string          `json:"s"`
		M map[string]string `json:"m"`
		T *bool             `json:"t"`
		U uint32            `json:"u"`
		F float64           `json:"f"`
		N string            `json:"n"`
		B []byte            `json:"b"`
	}
	tests := []struct{ json, want string }{
		{`{"a":"x"}`, `option "a": expected an integer, got JSON string`},
		{`{"s":{}}`, `option "s": expected a list, got JSON object`},
		{`{"m":[]}`, `option "m": expected an object, got JSON array`},
		{`{"t":"yes"}`, `option "t": expected true or false, got JSON string`},
		{`{"u":-1}`, `option "u": expected a non-negative integer, got JSON number -1`},
		{`{"f":"1"}`, `option "f": expected a number, got JSON string`},
		{`{"n":1}`, `option "n": expected a string, got JSON number`},
		{`{"b":{}}`, `option "b": expected a base64 string, got JSON object`},
		{`{"c":1}`, `unknown option "c" (known: a, b, f, i, m, n, s, t, u)`},
		{`{"i":{"z":1}}`, `unknown option "z" in /i (known: b)`},
		{`[1]`, `expected a JSON object, got JSON array`},
	}
	for _, tc := range tests {
		var o opts
		err := strictjson.DescribeOptionError(strictjson.Unmarshal([]byte(tc.json), &o))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.json, err, tc.want)
		}
	}
}
