package image_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/bundle"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/store"
)

var (
	app   = sp('a', "app-1.0")
	glibc = sp('g', "glibc-2.40")
	sh    = sp('b', "bash-5.2")
)

func sampleGraph(t *testing.T) *store.Graph {
	t.Helper()
	g, err := store.NewGraph([]store.PathInfo{
		{Path: app, References: []string{app, glibc}},
		{Path: glibc, References: []string{glibc}},
		{Path: sh, References: []string{glibc}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestImageConfig(t *testing.T) {
	tests := []struct {
		name string
		c    bundle.Options
		o    image.Options
		want string
	}{
		{"program only", bundle.Options{Args: []string{app + "/bin/app"}}, image.Options{},
			`{"Entrypoint":["` + app + `/bin/app"]}`},
		{"program and arguments", bundle.Options{Args: []string{sh + "/bin/sh", "-c", "exec " + app + "/bin/app"}}, image.Options{},
			`{"Entrypoint":["` + sh + `/bin/sh"],"Cmd":["-c","exec ` + app + `/bin/app"]}`},
		{"ports, labels, volumes", bundle.Options{Args: []string{"x"}}, image.Options{
			ExposedPorts: []string{"8080", "53/udp", "8080/tcp", "9/sctp"},
			Labels:       map[string]string{"b": "2", "a": "1"},
			Volumes:      []string{"/data", "/var/lib/x/"},
		}, `{"ExposedPorts":{"53/udp":{},"8080/tcp":{},"9/sctp":{}},"Entrypoint":["x"],"Volumes":{"/data":{},"/var/lib/x":{}},"Labels":{"a":"1","b":"2"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := image.ImageConfig(tc.c, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tc.want {
				t.Fatalf("config\n%s\nwant\n%s", data, tc.want)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	args := []string{app + "/bin/app"}
	tests := []struct {
		name string
		c    bundle.Options
		o    image.Options
		want string
	}{
		{"no args", bundle.Options{}, image.Options{}, "args is empty"},
		{"empty program", bundle.Options{Args: []string{""}}, image.Options{}, "args[0] is empty"},
		{"mounts", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/d", Source: "/s"}}}, image.Options{}, "mounts cannot be part of an image"},
		{"readonly", bundle.Options{Args: args, Readonly: true}, image.Options{}, "readonly cannot be part of an image"},
		{"tag", bundle.Options{Args: args}, image.Options{Tag: "-x"}, `tag "-x" is not a valid tag`},
		{"tag with colon", bundle.Options{Args: args}, image.Options{Tag: "a:b"}, `tag "a:b" is not a valid tag`},
		{"long tag", bundle.Options{Args: args}, image.Options{Tag: strings.Repeat("t", 129)}, "is not a valid tag"},
		{"negative maxLayers", bundle.Options{Args: args}, image.Options{MaxLayers: -1}, "maxLayers -1 is out of range (1 to 125)"},
		{"too many layers", bundle.Options{Args: args}, image.Options{MaxLayers: 126}, "maxLayers 126 is out of range"},
		{"compression", bundle.Options{Args: args}, image.Options{Compression: "xz"}, `compression "xz" is not supported`},
		{"created", bundle.Options{Args: args}, image.Options{Created: "yesterday"}, `created "yesterday" is not an RFC 3339 date`},
		{"port number", bundle.Options{Args: args}, image.Options{ExposedPorts: []string{"http"}}, `exposed port "http": "http" is not a port number`},
		{"port zero", bundle.Options{Args: args}, image.Options{ExposedPorts: []string{"0"}}, `exposed port "0"`},
		{"port range", bundle.Options{Args: args}, image.Options{ExposedPorts: []string{"70000"}}, `exposed port "70000"`},
		{"protocol", bundle.Options{Args: args}, image.Options{ExposedPorts: []string{"80/http"}}, `protocol "http" is not tcp, udp or sctp`},
		{"label name", bundle.Options{Args: args}, image.Options{Labels: map[string]string{"": "x"}}, "empty name"},
		{"relative volume", bundle.Options{Args: args}, image.Options{Volumes: []string{"data"}}, `volume: mount destination "data" is not an absolute path`},
		{"root volume", bundle.Options{Args: args}, image.Options{Volumes: []string{"/"}}, "is the root directory"},
		{"arch", bundle.Options{Args: args, Arch: "vax"}, image.Options{}, `arch "vax" is not a known architecture`},
		{"os", bundle.Options{Args: args, OS: "plan9"}, image.Options{}, `os "plan9" is not supported`},
		{"path outside the graph", bundle.Options{Args: []string{sp('z', "other") + "/bin/x"}}, image.Options{}, "args[0]: /nix/store/zzzz"},
		{"no store path", bundle.Options{Args: []string{"/bin/sh"}}, image.Options{}, "args mention no store path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := image.NewPlan(sampleGraph(t), tc.c, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewPlan(t *testing.T) {
	p, err := image.NewPlan(sampleGraph(t), bundle.Options{
		Args: []string{sh + "/bin/sh", "-c", "exec " + app + "/bin/app"},
		Arch: "armv7l",
	}, image.Options{Tag: "v1", Compression: "zstd", Created: "2024-05-01T12:00:00+02:00", MaxLayers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var layers []string
	for _, l := range p.Layers {
		layers = append(layers, names(l.Paths))
	}
	if want := []string{"glibc-2.40", "app-1.0+bash-5.2"}; !reflect.DeepEqual(layers, want) {
		t.Fatalf("layers %v, want %v", layers, want)
	}
	if p.Tag != "v1" || p.Compression != "zstd" || p.StoreDir != "/nix/store" {
		t.Fatalf("plan %+v", p)
	}
	c := p.Config
	if c.Created.String() != "2024-05-01 10:00:00 +0000 UTC" || c.OS != "linux" || c.Architecture != "arm" || c.Variant != "v7" {
		t.Fatalf("config %+v", c)
	}
	wantHistory := []string{"store path glibc-2.40, used by 2 other paths", "2 store paths: app-1.0, bash-5.2"}
	if len(c.History) != 2 || c.History[0].Comment != wantHistory[0] || c.History[1].Comment != wantHistory[1] || c.History[1].CreatedBy != "oci-builder" {
		t.Fatalf("history %+v", c.History)
	}

	def, err := image.NewPlan(sampleGraph(t), bundle.Options{Args: []string{app + "/bin/app"}}, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if def.Tag != "latest" || def.Compression != "gzip" || def.Config.Created.Unix() != 1 || len(def.Layers) != 2 {
		t.Fatalf("defaults: %+v", def)
	}
}

func TestDecodeOptions(t *testing.T) {
	o, err := image.DecodeOptions([]byte(`{"tag":"t","maxLayers":3,"compression":"zstd","created":"` + image.DefaultCreated + `","exposedPorts":["80"],"labels":{"a":"b"},"volumes":["/v"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Tag != "t" || o.MaxLayers != 3 || o.Labels["a"] != "b" || o.Volumes[0] != "/v" {
		t.Fatalf("options %+v", o)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"maxLayer":3}`, `image options: unknown option "maxLayer"`},
		{`{"maxLayers":"3"}`, `image options: option "maxLayers": expected int, got JSON string`},
		{`{"Tag":"x"}`, `unknown option "Tag"`},
	} {
		if _, err := image.DecodeOptions([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestEveryContainerOptionIsDecided fails when bundle.Options gains a field
// that ImageConfig neither maps to the image nor refuses: each new container
// option needs that decision (and a line here).
func TestEveryContainerOptionIsDecided(t *testing.T) {
	decided := map[string]string{
		"Args":     "Entrypoint and Cmd",
		"OS":       "platform",
		"Arch":     "platform",
		"Mounts":   "refused",
		"Readonly": "refused",
	}
	typ := reflect.TypeOf(bundle.Options{})
	for i := 0; i < typ.NumField(); i++ {
		if name := typ.Field(i).Name; decided[name] == "" {
			t.Errorf("bundle.Options.%s is not decided for images: map it in image.ImageConfig or refuse it there, then list it here", name)
		}
	}
}
