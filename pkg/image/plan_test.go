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

// binDirs is a bundle.StoreFS where the given paths have a bin directory.
type binDirs map[string]bool

func (b binDirs) IsDir(p string) bool {
	return b[strings.TrimSuffix(p, "/bin")] && strings.HasSuffix(p, "/bin")
}

func planConfig(t *testing.T, c bundle.Options, o image.Options) string {
	t.Helper()
	p, err := image.NewPlan(sampleGraph(t), c, o, binDirs{app: true, sh: true})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p.Config.Config)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestImageConfig(t *testing.T) {
	uid := uint32(1000)
	tests := []struct {
		name string
		c    bundle.Options
		o    image.Options
		want string
	}{
		{"program only", bundle.Options{Args: []string{app + "/bin/app"}}, image.Options{},
			`{"Env":["HOME=/root","PATH=` + app + `/bin"],"Entrypoint":["` + app + `/bin/app"]}`},
		{"program and arguments", bundle.Options{Args: []string{sh + "/bin/sh", "-c", "exec " + app + "/bin/app"}}, image.Options{},
			`{"Env":["HOME=/root","PATH=` + sh + `/bin:` + app + `/bin"],"Entrypoint":["` + sh + `/bin/sh"],"Cmd":["-c","exec ` + app + `/bin/app"]}`},
		{"env, user, working directory", bundle.Options{
			Args: []string{app + "/bin/app"}, Env: map[string]string{"PATH": "/bin", "LANG": "C.UTF-8"},
			User: &bundle.ID{Num: &uid}, WorkingDir: "/srv/app",
		}, image.Options{}, `{"User":"1000:1000","Env":["HOME=/home/user","LANG=C.UTF-8","PATH=/bin"],"Entrypoint":["` + app + `/bin/app"],"WorkingDir":"/srv/app"}`},
		{"ports, labels, volumes", bundle.Options{Args: []string{app + "/bin/app"}, Env: map[string]string{"PATH": "/bin"}}, image.Options{
			ExposedPorts: []string{"8080", "53/udp", "8080/tcp", "9/sctp"},
			Labels:       map[string]string{"b": "2", "a": "1"},
			Volumes:      []string{"/data", "/var/lib/x/"},
		}, `{"ExposedPorts":{"53/udp":{},"8080/tcp":{},"9/sctp":{}},"Env":["HOME=/root","PATH=/bin"],"Entrypoint":["` + app + `/bin/app"],"Volumes":{"/data":{},"/var/lib/x":{}},"Labels":{"a":"1","b":"2"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := planConfig(t, tc.c, tc.o); got != tc.want {
				t.Fatalf("config\n%s\nwant\n%s", got, tc.want)
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
		{"mounts", bundle.Options{Args: args, Mounts: []bundle.Mount{{Destination: "/d", Source: "/s"}}}, image.Options{}, "mounts cannot be part of an image: podman run -v"},
		{"readonly", bundle.Options{Args: args, Readonly: new(bool)}, image.Options{}, "readonly cannot be part of an image"},
		{"hostname", bundle.Options{Args: args, Hostname: "h"}, image.Options{}, "hostname cannot be part of an image"},
		{"terminal", bundle.Options{Args: args, Terminal: true}, image.Options{}, "terminal cannot be part of an image"},
		{"capabilities", bundle.Options{Args: args, Capabilities: &bundle.Capabilities{}}, image.Options{}, "capabilities cannot be part of an image"},
		{"noNewPrivileges", bundle.Options{Args: args, NoNewPrivileges: new(bool)}, image.Options{}, "noNewPrivileges cannot be part of an image"},
		{"rlimits", bundle.Options{Args: args, Rlimits: map[string]bundle.Rlimit{"nofile": {}}}, image.Options{}, "rlimits cannot be part of an image"},
		{"network", bundle.Options{Args: args, Network: "host"}, image.Options{}, "network cannot be part of an image"},
		{"resources", bundle.Options{Args: args, Resources: &bundle.Resources{}}, image.Options{}, "resources cannot be part of an image"},
		{"extraConfig", bundle.Options{Args: args, ExtraConfig: []byte(`{}`)}, image.Options{}, "extraConfig cannot be part of an image"},
		{"rootless", bundle.Options{Args: args, Rootless: &bundle.RootlessIDs{}}, image.Options{}, "rootless cannot be part of an image"},
		{"verify", bundle.Options{Args: args, Verify: new(bool)}, image.Options{}, "verify cannot be part of an image: images are not checked against the NAR hashes"},
		{"bad env", bundle.Options{Args: args, Env: map[string]string{"A=B": "x"}}, image.Options{}, `env: "A=B" is not a valid variable name`},
		{"tag", bundle.Options{Args: args}, image.Options{Tag: "-x"}, `tag "-x" is not a valid tag`},
		{"tag with colon", bundle.Options{Args: args}, image.Options{Tag: "a:b"}, `tag "a:b" is not a valid tag`},
		{"long tag", bundle.Options{Args: args}, image.Options{Tag: strings.Repeat("t", 129)}, "is not a valid tag"},
		{"negative maxLayers", bundle.Options{Args: args}, image.Options{MaxLayers: -1}, "maxLayers -1 is out of range (2 to 125"},
		{"one layer", bundle.Options{Args: args}, image.Options{MaxLayers: 1}, "maxLayers 1 is out of range (2 to 125"},
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
			_, err := image.NewPlan(sampleGraph(t), tc.c, tc.o, binDirs{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewPlan(t *testing.T) {
	p, err := image.NewPlan(sampleGraph(t), bundle.Options{
		Args:        []string{sh + "/bin/sh", "-c", "exec " + app + "/bin/app"},
		Arch:        "armv7l",
		Annotations: map[string]string{"org.example": "yes"},
	}, image.Options{Tag: "v1", Compression: "zstd", Created: "2024-05-01T12:00:00+02:00", MaxLayers: 3}, binDirs{})
	if err != nil {
		t.Fatal(err)
	}
	var layers []string
	for _, l := range p.Layers[1:] {
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
	wantHistory := []string{
		"created for the image: /etc/passwd, /etc/group, /etc/nsswitch.conf, /root, /var/empty, /tmp",
		"store path glibc-2.40, used by 2 other paths",
		"2 store paths: app-1.0, bash-5.2",
	}
	var history []string
	for _, h := range c.History {
		history = append(history, h.Comment)
		if h.CreatedBy != "oci-builder" || !h.Created.Equal(*c.Created) {
			t.Fatalf("history %+v", h)
		}
	}
	if !reflect.DeepEqual(history, wantHistory) {
		t.Fatalf("history\n%q\nwant\n%q", history, wantHistory)
	}
	if !reflect.DeepEqual(p.Annotations, map[string]string{"org.example": "yes"}) {
		t.Fatalf("annotations %v", p.Annotations)
	}

	def, err := image.NewPlan(sampleGraph(t), bundle.Options{Args: []string{app + "/bin/app"}}, image.Options{}, binDirs{})
	if err != nil {
		t.Fatal(err)
	}
	if def.Tag != "latest" || def.Compression != "gzip" || def.Config.Created.Unix() != 1 || len(def.Layers) != 3 || def.Annotations != nil {
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
		"Args":            "Entrypoint and Cmd",
		"OS":              "platform",
		"Arch":            "platform",
		"Env":             "Env",
		"WorkingDir":      "WorkingDir and the /etc layer",
		"User":            "User and the /etc layer",
		"Group":           "User and the /etc layer",
		"ExtraUsers":      "the /etc layer",
		"ExtraGroups":     "the /etc layer",
		"Tmp":             "the /etc layer",
		"Annotations":     "manifest annotations",
		"Mounts":          "refused",
		"Readonly":        "refused",
		"Hostname":        "refused",
		"Terminal":        "refused",
		"Capabilities":    "refused",
		"NoNewPrivileges": "refused",
		"Rlimits":         "refused",
		"Network":         "refused",
		"Resources":       "refused",
		"ExtraConfig":     "refused",
		"Rootless":        "refused",
		"StoreMode":       "refused",
		"Seccomp":         "refused",
		"Verify":          "refused",
		"Roots":           "the closure's layers",
	}
	typ := reflect.TypeOf(bundle.Options{})
	for i := 0; i < typ.NumField(); i++ {
		if name := typ.Field(i).Name; decided[name] == "" {
			t.Errorf("bundle.Options.%s is not decided for images: map it in image.ImageConfig or refuse it there, then list it here", name)
		}
	}
}
