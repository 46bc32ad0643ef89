package subid_test

import (
	"testing"

	"github.com/oci-builder/oci-builder/pkg/subid"
)

func TestFind(t *testing.T) {
	text := "alice:100000:65536\n# comment\nbob:165536:1000\n1002:300000:10\nbroken:x:y\n"
	tests := []struct {
		names []string
		want  subid.Range
		ok    bool
	}{
		{[]string{"1001", "bob"}, subid.Range{Start: 165536, Count: 1000}, true},
		{[]string{"1002", "carol"}, subid.Range{Start: 300000, Count: 10}, true},
		{[]string{"1003", "broken"}, subid.Range{}, false},
		{[]string{"9", "nobody"}, subid.Range{}, false},
	}
	for _, tc := range tests {
		if got, ok := subid.Find(text, tc.names); got != tc.want || ok != tc.ok {
			t.Errorf("Find(%v) = %+v, %v; want %+v, %v", tc.names, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want subid.Range
		ok   bool
	}{
		{"100000:65536", subid.Range{Start: 100000, Count: 65536}, true},
		{"1", subid.Range{}, false},
		{"a:1", subid.Range{}, false},
		{"1:0", subid.Range{}, false},
		{"1:-1", subid.Range{}, false},
		{":", subid.Range{}, false},
		{"4294967295:10", subid.Range{}, false},
		{"4294967290:6", subid.Range{}, false},
		{"4294967290:5", subid.Range{Start: 4294967290, Count: 5}, true},
		{"0:4294967295", subid.Range{Start: 0, Count: 4294967295}, true},
	} {
		got, err := subid.Parse(tc.s)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("Parse(%q) = %+v, %v", tc.s, got, err)
		}
	}
}
