package image_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/store"
	"github.com/oci-builder/oci-builder/tests/imports"
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

// binDirs is a container.StoreFS where the given paths have a bin directory.
type binDirs map[string]bool

func (b binDirs) IsDir(p string) bool {
	return b[strings.TrimSuffix(p, "/bin")] && strings.HasSuffix(p, "/bin")
}

func planConfig(t *testing.T, c container.Options, o image.Options) string {
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
		c    container.Options
		o    image.Options
		want string
	}{
		{"program only", container.Options{Args: []string{app + "/bin/app"}}, image.Options{},
			`{"Env":["HOME=/root","PATH=` + app + `/bin"],"Entrypoint":["` + app + `/bin/app"]}`},
		{"program and arguments", container.Options{Args: []string{sh + "/bin/sh", "-c", "exec " + app + "/bin/app"}}, image.Options{},
			`{"Env":["HOME=/root","PATH=` + sh + `/bin:` + app + `/bin"],"Entrypoint":["` + sh + `/bin/sh"],"Cmd":["-c","exec ` + app + `/bin/app"]}`},
		{"env, user, working directory", container.Options{
			Args: []string{app + "/bin/app"}, Env: map[string]string{"PATH": "/bin", "LANG": "C.UTF-8"},
			User: &container.ID{Num: &uid}, WorkingDir: "/srv/app",
		}, image.Options{}, `{"User":"1000:1000","Env":["HOME=/home/user","LANG=C.UTF-8","PATH=/bin"],"Entrypoint":["` + app + `/bin/app"],"WorkingDir":"/srv/app"}`},
		{"ports, labels, volumes", container.Options{Args: []string{app + "/bin/app"}, Env: map[string]string{"PATH": "/bin"}}, image.Options{
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
	yes := true
	args := []string{app + "/bin/app"}
	tests := []struct {
		name string
		c    container.Options
		o    image.Options
		want string
	}{
		{"no args", container.Options{}, image.Options{}, "args is empty"},
		{"empty program", container.Options{Args: []string{""}}, image.Options{}, "args[0] is empty"},
		{"mounts", container.Options{Args: args, Mounts: []container.Mount{{Destination: "/d", Source: "/s"}}}, image.Options{}, "mounts cannot be part of an image: podman run -v"},
		{"readonly", container.Options{Args: args, Readonly: new(bool)}, image.Options{}, "readonly cannot be part of an image"},
		{"hostname", container.Options{Args: args, Hostname: "h"}, image.Options{}, "hostname cannot be part of an image"},
		{"terminal", container.Options{Args: args, Terminal: true}, image.Options{}, "terminal cannot be part of an image"},
		{"capabilities", container.Options{Args: args, Capabilities: &container.Capabilities{}}, image.Options{}, "capabilities cannot be part of an image"},
		{"noNewPrivileges", container.Options{Args: args, NoNewPrivileges: new(bool)}, image.Options{}, "noNewPrivileges cannot be part of an image"},
		{"rlimits", container.Options{Args: args, Rlimits: map[string]container.Rlimit{"nofile": {}}}, image.Options{}, "rlimits cannot be part of an image"},
		{"network", container.Options{Args: args, Network: "host"}, image.Options{}, "network cannot be part of an image"},
		{"resources", container.Options{Args: args, Resources: &container.Resources{}}, image.Options{}, "resources cannot be part of an image"},
		{"extraConfig", container.Options{Args: args, ExtraConfig: []byte(`{}`)}, image.Options{}, "extraConfig cannot be part of an image"},
		{"rootless", container.Options{Args: args, Rootless: &container.RootlessIDs{}}, image.Options{}, "rootless cannot be part of an image"},
		{"verify without hashes", container.Options{Args: args, Verify: &yes}, image.Options{}, "verify: the closure graph gives no narHash for " + app},
		{"bad env", container.Options{Args: args, Env: map[string]string{"A=B": "x"}}, image.Options{}, `env: "A=B" is not a valid variable name`},
		{"tag", container.Options{Args: args}, image.Options{Tag: "-x"}, `tag "-x" is not a valid tag`},
		{"tag with colon", container.Options{Args: args}, image.Options{Tag: "a:b"}, `tag "a:b" is not a valid tag`},
		{"long tag", container.Options{Args: args}, image.Options{Tag: strings.Repeat("t", 129)}, "is not a valid tag"},
		{"negative maxLayers", container.Options{Args: args}, image.Options{MaxLayers: -1}, "maxLayers -1 is out of range (2 to 125"},
		{"one layer", container.Options{Args: args}, image.Options{MaxLayers: 1}, "maxLayers 1 is out of range (2 to 125"},
		{"too many layers", container.Options{Args: args}, image.Options{MaxLayers: 126}, "maxLayers 126 is out of range"},
		{"compression", container.Options{Args: args}, image.Options{Compression: "xz"}, `compression "xz" is not supported`},
		{"created", container.Options{Args: args}, image.Options{Created: "yesterday"}, `created: "yesterday" is not an ISO 8601 date and time`},
		{"port number", container.Options{Args: args}, image.Options{ExposedPorts: []string{"http"}}, `exposed port "http": "http" is not a port number`},
		{"port zero", container.Options{Args: args}, image.Options{ExposedPorts: []string{"0"}}, `exposed port "0"`},
		{"port range", container.Options{Args: args}, image.Options{ExposedPorts: []string{"70000"}}, `exposed port "70000"`},
		{"protocol", container.Options{Args: args}, image.Options{ExposedPorts: []string{"80/http"}}, `protocol "http" is not tcp, udp or sctp`},
		{"label name", container.Options{Args: args}, image.Options{Labels: map[string]string{"": "x"}}, "empty name"},
		{"relative volume", container.Options{Args: args}, image.Options{Volumes: []string{"data"}}, `volume: mount destination "data" is not an absolute path`},
		{"root volume", container.Options{Args: args}, image.Options{Volumes: []string{"/"}}, "is the root directory"},
		{"arch", container.Options{Args: args, Arch: "vax"}, image.Options{}, `arch "vax" is not a known architecture`},
		{"os", container.Options{Args: args, OS: "plan9"}, image.Options{}, `os "plan9" is not supported`},
		{"path outside the graph", container.Options{Args: []string{sp('z', "other") + "/bin/x"}}, image.Options{}, "args[0]: /nix/store/zzzz"},
		{"no store path", container.Options{Args: []string{"/bin/sh"}}, image.Options{}, "args mention no store path"},
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
	p, err := image.NewPlan(sampleGraph(t), container.Options{
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
	if !reflect.DeepEqual(p.Annotations, map[string]string{"org.example": "yes", "org.opencontainers.image.created": "2024-05-01T10:00:00Z"}) {
		t.Fatalf("annotations %v", p.Annotations)
	}

	def, err := image.NewPlan(sampleGraph(t), container.Options{Args: []string{app + "/bin/app"}}, image.Options{}, binDirs{})
	if err != nil {
		t.Fatal(err)
	}
	if def.Tag != "latest" || def.Compression != "gzip" || def.Config.Created.Unix() != 1 || len(def.Layers) != 3 || def.Annotations != nil {
		t.Fatalf("defaults: %+v", def)
	}
}

// TestCreatedAnnotation: the manifest has org.opencontainers.image.created
// when a creation time other than the default is given, and the
// annotations option wins over it.
func TestCreatedAnnotation(t *testing.T) {
	for _, tc := range []struct {
		name, created string
		annotations   map[string]string
		want          map[string]string
	}{
		{"default", "", nil, nil},
		{"the default given", image.DefaultCreated, nil, nil},
		{"given", "2024-05-01T12:00:00+02:00", nil, map[string]string{"org.opencontainers.image.created": "2024-05-01T10:00:00Z"}},
		{"given and other annotations", "2024-05-01T10:00:00Z", map[string]string{"a": "b"}, map[string]string{"a": "b", "org.opencontainers.image.created": "2024-05-01T10:00:00Z"}},
		{"annotation given", "2024-05-01T10:00:00Z", map[string]string{"org.opencontainers.image.created": "2024"}, map[string]string{"org.opencontainers.image.created": "2024"}},
		{"fractional seconds", "2024-05-01T12:00:00.5+02:00", nil, map[string]string{"org.opencontainers.image.created": "2024-05-01T10:00:00.5Z"}},
		{"nanoseconds", "2024-05-01T10:00:00.123456789Z", nil, map[string]string{"org.opencontainers.image.created": "2024-05-01T10:00:00.123456789Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := image.NewPlan(sampleGraph(t), container.Options{Args: []string{app + "/bin/app"}, Annotations: tc.annotations}, image.Options{Created: tc.created}, binDirs{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Annotations, tc.want) {
				t.Fatalf("annotations %v, want %v", p.Annotations, tc.want)
			}
			// The annotation says what the configuration's created says.
			if a, ok := p.Annotations["org.opencontainers.image.created"]; ok && tc.annotations == nil {
				cfg, err := json.Marshal(p.Config)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(cfg, []byte(`"created":"`+a+`"`)) {
					t.Fatalf("annotation created %q, configuration %s", a, cfg)
				}
			}
		})
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
		{`{"maxLayers":"3"}`, `image options: option "maxLayers": expected an integer, got JSON string`},
		{`{"Tag":"x"}`, `unknown option "Tag"`},
	} {
		if _, err := image.DecodeOptions([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestEveryContainerOptionIsDecided fails when container.Options gains a field
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
		"SeccompArch":     "ignored: an image has no seccomp filter (the library sets it for bundles only)",
		"Verify":          "Plan.Verify: the layers are checked against the NAR hashes as they are written",
		"Roots":           "the closure's layers",
		"StartCheck":      "unused: an image has no mounts",
	}
	typ := reflect.TypeOf(container.Options{})
	for i := 0; i < typ.NumField(); i++ {
		if name := typ.Field(i).Name; decided[name] == "" {
			t.Errorf("container.Options.%s is not decided for images: map it in image.ImageConfig or refuse it there, then list it here", name)
		}
	}
}

// TestNewPlanNarHashMalformed checks that an image is not planned from a
// graph whose narHash cannot be parsed, verified or not (such a graph is
// not what Nix writes), naming the store path.
func TestNewPlanNarHashMalformed(t *testing.T) {
	g, err := store.NewGraph([]store.PathInfo{
		{Path: app, References: []string{glibc}, NarHash: "sha256:not-a-hash"},
		{Path: glibc, NarHash: "md5:0"},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	no := false
	for _, verify := range []*bool{&no, nil} {
		if _, err := image.NewPlan(g, container.Options{Args: []string{app + "/bin/app"}, Verify: verify}, image.Options{}, binDirs{}); err == nil || !strings.Contains(err.Error(), "store path "+app) {
			t.Fatalf("verify %v: a malformed narHash: %v", verify, err)
		}
	}
}

// TestNewPlanWarnings checks that the container's warnings reach the plan:
// a closure whose bin directories would make a PATH longer than 64 KiB
// (1,200 store paths with a bin directory) gets the bin directories of the
// paths the process mentions, and a warning says so; a store directory
// inside /tmp leaves the image without a writable /tmp.
func TestNewPlanWarnings(t *testing.T) {
	infos := []store.PathInfo{{Path: app}}
	bins := binDirs{app: true}
	for i := 0; i < 1200; i++ {
		dep := "/nix/store/" + strings.Repeat("d", 32-len(fmt.Sprint(i))) + fmt.Sprint(i) + "-dependency"
		infos[0].References = append(infos[0].References, dep)
		infos = append(infos, store.PathInfo{Path: dep})
		bins[dep] = true
	}
	g, err := store.NewGraph(infos, "")
	if err != nil {
		t.Fatal(err)
	}
	// Verification off: the graph gives no hashes, which would add a
	// warning of its own.
	no := false
	p, err := image.NewPlan(g, container.Options{Args: []string{app + "/bin/app"}, Verify: &no}, image.Options{}, bins)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.HasPrefix(p.Warnings[0], "PATH holds only the bin directories of the store paths the process mentions: ") {
		t.Fatalf("warnings %q", p.Warnings)
	}
	if env := p.Config.Config.Env; !reflect.DeepEqual(env, []string{"HOME=/root", "PATH=" + app + "/bin"}) {
		t.Fatalf("env has %d variables, PATH %d bytes long", len(env), len(env[len(env)-1]))
	}

	tmpApp := "/tmp/store/" + strings.Repeat("a", 32) + "-app"
	g, err = store.NewGraph([]store.PathInfo{{Path: tmpApp}}, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err = image.NewPlan(g, container.Options{Args: []string{tmpApp + "/bin/app"}, Verify: &no}, image.Options{}, binDirs{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"no writable /tmp: the store directory /tmp/store is inside it"}; !reflect.DeepEqual(p.Warnings, want) {
		t.Fatalf("warnings %q, want %q", p.Warnings, want)
	}
	if c := p.Config.History[0].Comment; c != "created for the image: /etc/passwd, /etc/group, /etc/nsswitch.conf, /root, /var/empty" {
		t.Fatalf("the /etc layer: %s", c)
	}
}

// TestPlanIndependentOfBundles keeps image planning away from what only a
// bundle needs: the runtime configuration and its schema.
func TestPlanIndependentOfBundles(t *testing.T) {
	imports.Check(t, ".", []string{"plan.go", "config.go", "options.go", "layers.go"},
		"github.com/oci-builder/oci-builder/pkg/bundle", "github.com/oci-builder/oci-builder/pkg/specconv",
		"github.com/oci-builder/oci-builder/pkg/schema",
		"github.com/opencontainers/runtime-spec/specs-go")
}

// TestPlanVerify: the verify option decides Plan.Verify as it decides a
// bundle's in copy mode: on by default when the graph gives hashes, with a
// warning for the paths it gives none, an error when asked for without
// hashes.
func TestPlanVerify(t *testing.T) {
	hash := "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
	graphOf := func(hashed ...string) *store.Graph {
		var infos []store.PathInfo
		for _, p := range []string{app, glibc} {
			info := store.PathInfo{Path: p, References: []string{glibc}}
			for _, h := range hashed {
				if h == p {
					info.NarHash = hash
				}
			}
			infos = append(infos, info)
		}
		g, err := store.NewGraph(infos, "")
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	yes, no := true, false
	tests := []struct {
		name    string
		g       *store.Graph
		asked   *bool
		verify  bool
		warning string
		err     string
	}{
		{"default with hashes", graphOf(app, glibc), nil, true, "", ""},
		{"default without hashes", graphOf(), nil, false, "not verifying the closure: the closure graph gives no narHash", ""},
		{"default with some hashes", graphOf(app), nil, true, "not verifying 1 of 2 store paths, " + glibc + " first", ""},
		{"asked with hashes", graphOf(app, glibc), &yes, true, "", ""},
		{"asked without some hashes", graphOf(app), &yes, false, "", "verify: the closure graph gives no narHash for " + glibc + " (1 of 2 store paths have none"},
		{"turned off", graphOf(app, glibc), &no, false, "", ""},
		{"turned off without hashes", graphOf(), &no, false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := image.NewPlan(tc.g, container.Options{Args: []string{app + "/bin/app"}, Verify: tc.asked}, image.Options{}, binDirs{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			warnings := strings.Join(p.Warnings, "\n")
			if p.Verify != tc.verify || (tc.warning == "") != (warnings == "") || !strings.Contains(warnings, tc.warning) {
				t.Fatalf("verify %v, warnings %q; want %v, %q", p.Verify, p.Warnings, tc.verify, tc.warning)
			}
		})
	}
}
