package imageconfig

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/strictjson"
	"github.com/oci-builder/oci-builder/tests/imports"
)

// fromOCI is the image configuration of img, no Docker keys.
func fromOCI(img v1.Image) Image {
	return Image{Created: img.Created, Author: img.Author, Platform: img.Platform,
		Config: Config{ImageConfig: img.Config}, RootFS: img.RootFS, History: img.History}
}

// ociOf is img as image-spec's v1.Image: Docker's keys left out.
func ociOf(img Image) v1.Image {
	return v1.Image{Created: img.Created, Author: img.Author, Platform: img.Platform,
		Config: img.Config.ImageConfig, RootFS: img.RootFS, History: img.History}
}

func TestNoIO(t *testing.T) {
	imports.Check(t, ".", nil, imports.IO()...)
}

// Image mirrors v1.Image field by field (but Config), so that an
// image-spec upgrade that adds a field fails here rather than drops it.
func TestImageMirrorsOCI(t *testing.T) {
	ours, theirs := reflect.TypeFor[Image](), reflect.TypeFor[v1.Image]()
	if ours.NumField() != theirs.NumField() {
		t.Fatalf("Image has %d fields, v1.Image %d", ours.NumField(), theirs.NumField())
	}
	for i := 0; i < theirs.NumField(); i++ {
		o, w := ours.Field(i), theirs.Field(i)
		if o.Name != w.Name || o.Tag != w.Tag || o.Anonymous != w.Anonymous {
			t.Errorf("field %d: %s `%s`, v1.Image's %s `%s`", i, o.Name, o.Tag, w.Name, w.Tag)
		}
		if o.Name != "Config" && o.Type != w.Type {
			t.Errorf("field %s: type %s, v1.Image's %s", o.Name, o.Type, w.Type)
		}
	}
}

func TestJSON(t *testing.T) {
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	base := v1.Image{
		Created:  &created,
		Platform: v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
		Config: v1.ImageConfig{User: "1000:1000", Env: []string{"A=1"}, Cmd: []string{"/bin/redis-server"}, WorkingDir: "/data",
			Volumes: map[string]struct{}{"/data": {}}, ArgsEscaped: true},
		RootFS:  v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("a")}},
		History: []v1.History{{Created: &created, CreatedBy: "oci-builder"}},
	}
	redis := fromOCI(base)
	redis.Config.Healthcheck = &HealthConfig{Test: []string{"CMD-SHELL", "/bin/healthcheck"}, Interval: 30 * time.Second, Timeout: 10 * time.Second, Retries: 3}
	all := fromOCI(v1.Image{RootFS: v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}})
	all.Config = Config{
		Healthcheck: &HealthConfig{Test: []string{"CMD", "/bin/check", "-q"}, Interval: 1, Timeout: 2, StartPeriod: 3, StartInterval: 4, Retries: 5},
		OnBuild:     []string{"RUN true"},
		Shell:       []string{"/bin/sh", "-c"},
	}
	for _, tc := range []struct {
		name string
		img  Image
		// want is the JSON's config object; "" means v1.Image's bytes.
		want string
	}{
		{name: "oci only", img: fromOCI(base)},
		{name: "empty", img: fromOCI(v1.Image{})},
		{name: "healthcheck", img: redis,
			want: `{"User":"1000:1000","Env":["A=1"],"Cmd":["/bin/redis-server"],"Volumes":{"/data":{}},"WorkingDir":"/data","ArgsEscaped":true,"Healthcheck":{"Test":["CMD-SHELL","/bin/healthcheck"],"Interval":30000000000,"Timeout":10000000000,"Retries":3}}`},
		{name: "every Docker key", img: all,
			want: `{"Healthcheck":{"Test":["CMD","/bin/check","-q"],"Interval":1,"Timeout":2,"StartPeriod":3,"StartInterval":4,"Retries":5},"OnBuild":["RUN true"],"Shell":["/bin/sh","-c"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.img)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				oci, err := json.Marshal(ociOf(tc.img))
				if err != nil {
					t.Fatal(err)
				}
				if string(data) != string(oci) {
					t.Fatalf("JSON\n%s\nv1.Image's\n%s", data, oci)
				}
			} else {
				var raw struct{ Config json.RawMessage }
				if err := json.Unmarshal(data, &raw); err != nil {
					t.Fatal(err)
				}
				if string(raw.Config) != tc.want {
					t.Fatalf("config\n%s\nwant\n%s", raw.Config, tc.want)
				}
				if !strings.HasPrefix(string(data), `{"created"`) && tc.img.Created != nil {
					t.Fatalf("JSON does not start as v1.Image's: %s", data)
				}
			}
			// Read back strictly, it is the same image.
			var back Image
			if err := strictjson.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.img) {
				t.Fatalf("read back %+v, want %+v", back, tc.img)
			}
		})
	}
}

// Strict decoding knows Docker's keys, case-sensitively, and nothing
// else.
func TestStrictDecoding(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{`{"Healthcheck":{"Test":["NONE"]},"OnBuild":[],"Shell":["/bin/bash","-c"],"Cmd":["x"]}`, ""},
		{`{"Healthcheck":{"test":["NONE"]}}`, `unknown field "test" in /Healthcheck`},
		{`{"Healthcheck":{"Test":["NONE"],"Intervall":1}}`, `unknown field "Intervall" in /Healthcheck`},
		{`{"healthcheck":{}}`, `unknown field "healthcheck"`},
		{`{"Hostname":"x"}`, `unknown field "Hostname"`},
		{`{"Healthcheck":{"Interval":"30s"}}`, `cannot unmarshal string`},
	} {
		var c Config
		err := strictjson.Unmarshal([]byte(tc.in), &c)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    *HealthConfig
		err  string
	}{
		{"none", nil, ""},
		{"disabled", &HealthConfig{Test: []string{"NONE"}}, ""},
		{"cmd", &HealthConfig{Test: []string{"CMD", "/bin/check"}, Interval: time.Second, Retries: 3}, ""},
		{"shell", &HealthConfig{Test: []string{"CMD-SHELL", "check || exit 1"}}, ""},
		{"empty test", &HealthConfig{Interval: time.Second}, "config.Healthcheck.Test is empty"},
		{"no command", &HealthConfig{Test: []string{"CMD"}}, `config.Healthcheck.Test is ["CMD"] with no command after it`},
		{"bare command", &HealthConfig{Test: []string{"/bin/check"}}, `config.Healthcheck.Test starts with "/bin/check", not "NONE", "CMD" or "CMD-SHELL"`},
		{"negative interval", &HealthConfig{Test: []string{"NONE"}, Interval: -1}, "config.Healthcheck.Interval is -1"},
		{"negative start interval", &HealthConfig{Test: []string{"NONE"}, StartInterval: -5}, "config.Healthcheck.StartInterval is -5"},
		{"negative retries", &HealthConfig{Test: []string{"NONE"}, Retries: -1}, "config.Healthcheck.Retries is -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Healthcheck: tc.h}
			err := c.Check()
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}
