package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/specconv"
)

func TestRootlessCommand(t *testing.T) {
	src := t.TempDir()
	spec, _, err := specconv.Config(container.Options{Args: []string{"/bin/sh"}, User: &container.ID{Name: "app"}, Resources: &container.Resources{Pids: ptrTo(int64(4))}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := specconv.MarshalConfig(spec)
	os.WriteFile(filepath.Join(src, "config.json"), data, 0o644)
	os.Mkdir(filepath.Join(src, "rootfs"), 0o755)
	link := filepath.Join(t.TempDir(), "result")
	os.Symlink(src, link)

	dir := filepath.Join(t.TempDir(), "variant")
	code, stdout, stderr := runWith(t, nil, "rootless", "--uid", "1001", "--gid", "1002", "--subuid", "100000:65536", "--subgid", "200000:65536", link, dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != filepath.Join(dir, "config.json")+"\n" || !strings.Contains(stderr, "oci-builder: warning: rootless: dropping resources") {
		t.Fatalf("stdout %q, stderr %q", stdout, stderr)
	}
	var got specs.Spec
	out, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Root.Path != filepath.Join(src, "rootfs") || got.Process.User.UID != 1000 ||
		got.Linux.UIDMappings[0].HostID != 1001 || got.Linux.GIDMappings[1].HostID != 200000 {
		t.Fatalf("variant: root %q, user %+v, maps %+v %+v", got.Root.Path, got.Process.User, got.Linux.UIDMappings, got.Linux.GIDMappings)
	}

	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rootless", link, dir}, 1, "config.json already exists"},
		{[]string{"rootless", t.TempDir(), dir + "2"}, 1, "read bundle: open"},
		{[]string{"rootless", link}, 2, "rootless takes BUNDLE and DIR"},
		{[]string{"rootless", "--uid", "x", link, dir}, 2, `invalid value "x" for flag -uid`},
		{[]string{"rootless", "--subuid", "5", link, dir + "3"}, 2, `subordinate id range "5" is not START:COUNT`},
		{[]string{"rootless", "--subuid", "4294967295:10", link, dir + "4"}, 2, `subordinate id range "4294967295:10" ends at 4294967304, past the last id, 4294967294`},
		{[]string{"rootless", "--uid", "4294967295", link, dir + "5"}, 2, "--uid and --gid must be ids from 0 to 4294967294"},
	}
	for _, tc := range tests {
		code, _, stderr := runWith(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
