package schema_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/schema"
)

func TestVersionMatchesSpecsGo(t *testing.T) {
	// The bundle package declares specs.Version; the embedded schema must be
	// the one for that version, so a runtime-spec upgrade must bring its schema.
	if specs.Version != schema.Version {
		t.Fatalf("specs-go is %s but the embedded schema is %s", specs.Version, schema.Version)
	}
}

func TestProblems(t *testing.T) {
	v, err := schema.New()
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		{"minimal", `{"ociVersion":"1.0.0","root":{"path":"rootfs"}}`, nil},
		{"runc spec", read("runc-spec.json"), nil},
		{"runc spec rootless", read("runc-spec-rootless.json"), nil},
		// nixpkgs' buildContainer writes "options": null for /proc.
		{"nixpkgs", read("nixpkgs-config.json"), []string{"/mounts/4/options: got null, want array"}},
		{"missing version", `{"root":{"path":"rootfs"}}`, []string{"/: missing property 'ociVersion'"}},
		{"two problems", `{"ociVersion":1,"process":{"cwd":"/","args":"sh","user":{"uid":0,"gid":0}}}`,
			[]string{"/ociVersion: got number, want string", "/process/args: got string, want array"}},
		{"bad namespace", `{"ociVersion":"1.3.0","linux":{"namespaces":[{"type":"bogus"}]}}`,
			[]string{"/linux/namespaces/0/type: value must be one of 'mount', 'pid', 'network', 'uts', 'ipc', 'user', 'cgroup', 'time'"}},
		{"not json", `{`, []string{"not valid JSON: unexpected EOF"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := v.Problems([]byte(tc.config))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("problems\n%q\nwant\n%q", got, tc.want)
			}
			err := v.Validate([]byte(tc.config))
			if (err == nil) != (len(tc.want) == 0) {
				t.Fatalf("Validate: %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.want[0]) {
				t.Fatalf("Validate error %q lacks %q", err, tc.want[0])
			}
		})
	}
}

func TestForVersion(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"1.3.0", "1.3.0", ""},
		{"1.0.0", "1.0.2", ""},
		{"1.0.2-dev", "1.0.2", ""},
		{"1.1.0+dev", "1.1.0", ""},
		{"1.2.0", "1.2.1", ""},
		{"2.0.0", "", `no schema for ociVersion "2.0.0" (schemas: 1.0.2, 1.1.0, 1.2.1, 1.3.0)`},
		{"one", "", `ociVersion "one" is not a version like 1.3.0`},
	}
	for _, tc := range tests {
		v, err := schema.ForVersion(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ForVersion(%q): %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || v.Version() != tc.want {
			t.Errorf("ForVersion(%q) = %v, %v; want %s", tc.in, v, err, tc.want)
			continue
		}
		// Each schema compiles and accepts runc's default config.
		data, _ := os.ReadFile("testdata/runc-spec.json")
		if problems := v.Problems(data); problems != nil {
			t.Errorf("%s: runc spec: %v", tc.want, problems)
		}
	}
}
