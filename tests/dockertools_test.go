package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerToolsImages are dockerTools-style calls built at once: a layered
// image with a registry in its name, 2 layers, an owner for the store,
// perms, dirs and a creation date; the same streamed; buildImage in
// dockerTools' style (copyToRoot copied, the output hash as tag); and
// both merged.
const dockerToolsImages = `let
  script = ''
    echo "id $(id -u):$(id -g)"
    echo "pwd $(pwd)"
    echo "greeting $GREETING"
    echo "app $(stat -c %u:%g:%a /var/lib/app)"
    echo "tmp $(stat -c %a /tmp)"
    echo "store $(stat -c %u:%g /nix/store/*-busybox/bin)"
    echo "busybox $(stat -c %u:%g:%a /nix/store/*-busybox/bin/busybox)"
    echo "mtime $(stat -c %Y /nix/store/*-busybox/bin/busybox)"
    echo "sh $(readlink /bin/sh)"
    touch /var/lib/app/written && echo writable
  '';
  args = {
    name = "Registry-1.docker.io/Team/DT-${nonce}";
    tag = "v1";
    contents = [ busybox ];
    config = {
      Cmd = [ "/bin/sh" "-c" script ];
      Env = [ "GREETING=hello world" "PATH=/bin" ];
      WorkingDir = "/var/lib/app";
      User = "1000:1000";
      # Docker's own keys, without nixpkgs.
      Healthcheck = { Test = [ "CMD-SHELL" "test -d /var/lib/app" ]; Interval = 5000000000; StartPeriod = 1000000000; Retries = 2; };
      OnBuild = [ "RUN echo child" ];
      Shell = [ "/bin/sh" "-c" ];
    };
    maxLayers = 2;
    uid = 5;
    gid = 6;
    uname = "five";
    gname = "six";
    # ISO 8601 forms dockerTools reads (no offset: UTC), written as
    # 2024-05-01T12:00:00Z and 946684800.
    created = "20240501T120000";
    mtime = "2000-01-01";
    dirs = [ { path = "/var/lib/app"; uid = 1000; gid = 1000; mode = "0750"; } { path = "/tmp"; mode = "1777"; } ];
    perms = [ { path = busybox; regex = "/bin/busybox$"; mode = "0755"; uid = 7; gid = 8; } ];
  };
in rec {
  layered = ociTools.buildLayeredImage args;
  stream = ociTools.streamLayeredImage args;
  single = ociTools.buildImage {
    name = "single-${nonce}";
    copyToRoot = busybox;
    config.Cmd = [ "/bin/sh" "-c" "echo single; stat -c %F /bin/busybox; readlink /bin/sh" ];
  };
  merged = ociTools.mergeImages [ layered single ];
  # oci-builder's style takes perms and dirs too.
  argsStyle = ociTools.buildImage {
    args = [ "${busybox}/bin/sh" "-c" "${busybox}/bin/busybox stat -c '%u:%g:%a %n' /var/lib/app ${busybox}/bin/busybox" ];
    tag = "v1";
    dirs = [ { path = "/var/lib/app"; uid = 1000; gid = 1001; mode = "0700"; } ];
    perms = [ { path = busybox; regex = "/bin/busybox$"; mode = "0750"; uid = 3; } ];
  };
}`

// dockerToolsWant is what the layered image prints: uid and gid from
// config.User, the declared directories' owners and modes, the store's
// owner from uid/gid, busybox's from perms.
const dockerToolsWant = `id 1000:1000
pwd /var/lib/app
greeting hello world
app 1000:1000:750
tmp 1777
store 5:6
busybox 7:8:755
mtime 946684800
sh /nix/store/`

func checkDockerToolsRun(t *testing.T, how, out string) {
	t.Helper()
	if !strings.HasPrefix(out, dockerToolsWant) || !strings.HasSuffix(out, "-busybox/bin/sh\nwritable\n") {
		t.Fatalf("%s printed\n%s\nwant\n%s...-busybox/bin/sh\nwritable", how, out, dockerToolsWant)
	}
}

// TestDockerToolsArchives builds dockerToolsImages and loads and runs them
// as their users would: docker load (dockerd 20.10's own daemon), podman
// load, skopeo's docker-archive: and oci-archive:, ctr images import and
// ctr run (containerd's own daemon), oci-builder copy; and checks layer
// counts, the configuration, the creation date and what the program
// printed.
func TestDockerToolsArchives(t *testing.T) {
	needPodman(t)
	file := writeExpr(t, dockerToolsImages)
	out := map[string]string{}
	for _, attr := range []string{"layered", "stream", "single", "merged", "argsStyle"} {
		r := nixBuildFile(t, file, true, "-A", attr)
		if r.err != nil {
			t.Fatal(r)
		}
		out[attr] = r.out
	}
	if r := nixBuildFile(t, file, true, "-A", "layered", "--check"); r.err != nil {
		t.Fatal(r)
	}
	name := "registry-1.docker.io/team/dt-" + h.nonce
	ref := name + ":v1"
	singleTag := strings.SplitN(filepath.Base(out["single"]), "-", 2)[0]
	singleRef := "single-" + h.nonce + ":" + singleTag
	for attr, suffix := range map[string]string{"layered": "-DT-" + h.nonce + ".tar", "single": "-docker-image-single-" + h.nonce + ".tar", "merged": "-merge-docker-images.tar"} {
		if fi, err := os.Stat(out[attr]); err != nil || !fi.Mode().IsRegular() || !strings.HasSuffix(out[attr], suffix) {
			t.Fatalf("%s: %s is not a file named *%s (%v)", attr, out[attr], suffix, err)
		}
	}

	t.Run("docker", func(t *testing.T) {
		d := dockerDaemon(t)
		if loaded := d.docker(t, out["layered"], "load"); !strings.Contains(loaded, "Loaded image: "+ref) {
			t.Fatalf("docker load: %s", loaded)
		}
		checkDockerToolsRun(t, "docker run", d.docker(t, "", "run", "--rm", "--network", "none", ref))
		var inspect []struct {
			Created string
			Config  struct {
				User        string
				Env         []string
				WorkingDir  string
				Healthcheck struct {
					Test                  []string
					Interval, StartPeriod time.Duration
					Retries               int
				}
				OnBuild, Shell []string
			}
			RootFS struct{ Layers []string }
		}
		if err := json.Unmarshal([]byte(d.docker(t, "", "image", "inspect", ref)), &inspect); err != nil || len(inspect) != 1 {
			t.Fatalf("docker image inspect: %v", err)
		}
		if i := inspect[0]; len(i.RootFS.Layers) != 2 || !strings.HasPrefix(i.Created, "2024-05-01T12:00:00") ||
			i.Config.User != "1000:1000" || strings.Join(i.Config.Env, ",") != "GREETING=hello world,PATH=/bin" {
			t.Fatalf("docker image inspect: %+v (want 2 layers, created 2024-05-01T12:00:00Z, user and env as given)", i)
		}
		if c := inspect[0].Config; strings.Join(c.Healthcheck.Test, ",") != "CMD-SHELL,test -d /var/lib/app" || c.Healthcheck.Interval != 5*time.Second ||
			c.Healthcheck.StartPeriod != time.Second || c.Healthcheck.Retries != 2 || strings.Join(c.OnBuild, ",") != "RUN echo child" || strings.Join(c.Shell, ",") != "/bin/sh,-c" {
			t.Fatalf("docker image inspect: Healthcheck %+v, OnBuild %q, Shell %q: want config's", c.Healthcheck, c.OnBuild, c.Shell)
		}
		layeredID := strings.TrimSpace(d.docker(t, "", "image", "inspect", "--format", "{{.Id}}", ref))
		d.docker(t, "", "rmi", ref)

		// The streamed image is the same image (the same ID).
		streamed := filepath.Join(t.TempDir(), "stream.tar")
		streamTo(t, out["stream"], streamed)
		d.docker(t, streamed, "load")
		if id := strings.TrimSpace(d.docker(t, "", "image", "inspect", "--format", "{{.Id}}", ref)); id != layeredID {
			t.Fatalf("streamed image %s, buildLayeredImage's %s", id, layeredID)
		}
		checkDockerToolsRun(t, "docker run of the streamed image", d.docker(t, "", "run", "--rm", "--network", "none", ref))
		d.docker(t, "", "rmi", ref)

		// mergeImages: both images at once.
		loaded := d.docker(t, out["merged"], "load")
		if !strings.Contains(loaded, "Loaded image: "+ref) || !strings.Contains(loaded, "Loaded image: "+singleRef) {
			t.Fatalf("docker load of the merged images: %s", loaded)
		}
		if got := d.docker(t, "", "run", "--rm", "--network", "none", singleRef); !strings.HasPrefix(got, "single\nregular file\nbusybox\n") {
			t.Fatalf("docker run %s printed %q", singleRef, got)
		}
		if n := strings.TrimSpace(d.docker(t, "", "image", "inspect", "--format", "{{len .RootFS.Layers}}", singleRef)); n != "1" {
			t.Fatalf("buildImage's dockerTools style: %s layers, want 1", n)
		}
	})

	t.Run("podman", func(t *testing.T) {
		root := podmanRoot(t)
		f, err := os.Open(out["layered"])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if loaded := podman(t, root, f, "load"); !strings.Contains(loaded, ref) {
			t.Fatalf("podman load: %s", loaded)
		}
		checkDockerToolsRun(t, "podman run", podmanRun(t, root, ref))
		// podman reads Docker's health check from the configuration.
		if hc := strings.TrimSpace(podman(t, root, nil, "image", "inspect", "--format", "{{json .HealthCheck}}", ref)); hc != `{"Test":["CMD-SHELL","test -d /var/lib/app"],"StartPeriod":1000000000,"Interval":5000000000,"Retries":2}` {
			t.Fatalf("podman image inspect: HealthCheck %s, want config's", hc)
		}
	})

	t.Run("skopeo", func(t *testing.T) {
		// oci-archive: names the tag (index.json lists the image's
		// documents too, as a layout does).
		for _, src := range []string{"docker-archive:" + out["layered"], "oci-archive:" + out["layered"] + ":v1"} {
			var inspect struct {
				Layers  []string
				Created string
			}
			if err := json.Unmarshal(tool(t, "skopeo", "inspect", src), &inspect); err != nil {
				t.Fatal(err)
			}
			if len(inspect.Layers) != 2 || !strings.HasPrefix(inspect.Created, "2024-05-01T12:00:00") {
				t.Fatalf("skopeo inspect %s: %+v", src, inspect)
			}
			layout := filepath.Join(t.TempDir(), "layout")
			tool(t, "skopeo", "--insecure-policy", "copy", src, "oci:"+layout+":v1")
			res := unpackAndRun(t, layout+":v1")
			if res.code != 0 {
				t.Fatalf("%s: runc: exit %d, %s", src, res.code, res.stderr)
			}
			// umoci unpacks as root and keeps the store's and the
			// directories' owners; runc runs as 1000.
			checkDockerToolsRun(t, "skopeo copy "+src+", umoci, runc", res.stdout)
		}
	})

	t.Run("containerd", func(t *testing.T) {
		d := containerdDaemon(t)
		imported := d.ctr(t, "images", "import", "--snapshotter", ctrSnapshotter(), out["layered"])
		full := "registry-1.docker.io/team/dt-" + h.nonce + ":v1"
		if !strings.Contains(imported, full) && !strings.Contains(d.ctr(t, "images", "ls", "-q"), full) {
			t.Fatalf("ctr images import: %s\nimages: %s", imported, d.ctr(t, "images", "ls", "-q"))
		}
		id := "ocib-" + h.nonce
		got := d.ctr(t, "run", "--rm", "--snapshotter", ctrSnapshotter(), "--net-host=false", full, id)
		checkDockerToolsRun(t, "ctr run", got)
		// Docker's short names are docker.io's, as Kubernetes names them.
		d.ctr(t, "images", "import", "--snapshotter", ctrSnapshotter(), out["single"])
		if ls := d.ctr(t, "images", "ls", "-q"); !strings.Contains(ls, "docker.io/library/"+singleRef) {
			t.Fatalf("ctr images ls: %s, want docker.io/library/%s", ls, singleRef)
		}
	})

	t.Run("args style", func(t *testing.T) {
		res := unpackAndRun(t, out["argsStyle"]+":v1")
		want := "1000:1001:700 /var/lib/app\n3:0:750 "
		if res.code != 0 || !strings.HasPrefix(res.stdout, want) || !strings.HasSuffix(res.stdout, "-busybox/bin/busybox\n") {
			t.Fatalf("exit %d, printed %q, want %q...", res.code, res.stdout, want)
		}
	})

	t.Run("oci-builder copy", func(t *testing.T) {
		layout := filepath.Join(t.TempDir(), "copied")
		digest := strings.TrimSpace(string(tool(t, builderBin(), "copy", out["layered"], "oci:"+layout+":v1")))
		if want := archiveImageDigest(t, out["layered"]); digest != want {
			t.Fatalf("oci-builder copy printed %s, the archive holds %s", digest, want)
		}
		res := unpackAndRun(t, layout+":v1")
		checkDockerToolsRun(t, "oci-builder copy, umoci, runc", res.stdout)
		// The image's documents go with it, as from a layout.
		if doc, stderr, code := ociBuilder(t, nil, "sbom", "oci:"+layout+":v1"); code != 0 || !strings.Contains(doc, "CycloneDX") {
			t.Fatalf("oci-builder sbom of the copy: exit %d, %s", code, stderr)
		}
		if doc, stderr, code := ociBuilder(t, nil, "sbom", out["layered"]); code != 0 || !strings.Contains(doc, "CycloneDX") {
			t.Fatalf("oci-builder sbom of the archive: exit %d, %s", code, stderr)
		}
		// mergeImages' archive: each image by its name, as docker load
		// names them (the short name is docker.io's).
		for name, want := range map[string]string{"registry-1.docker.io/team/dt-" + h.nonce + ":v1": archiveImageDigest(t, out["layered"]), "docker.io/library/" + singleRef: archiveImageDigest(t, out["single"])} {
			layout := filepath.Join(t.TempDir(), "picked")
			if got := strings.TrimSpace(string(tool(t, builderBin(), "copy", "docker-archive:"+out["merged"]+":"+name, "oci:"+layout+":v1"))); got != want {
				t.Fatalf("oci-builder copy of %s from the merged archive printed %s, want %s", name, got, want)
			}
		}
		if _, stderr, code := ociBuilder(t, nil, "copy", "docker-archive:"+out["merged"]+":nosuch:1", "oci:"+filepath.Join(t.TempDir(), "none")); code != 1 || !strings.Contains(stderr, "no image named nosuch:1 (the archive has") {
			t.Fatalf("copy of a name the merged archive lacks: exit %d, %s", code, stderr)
		}
	})
}

// archiveImageDigest is the manifest digest of the only image of a
// dockerTools-style archive (its index.json also lists the image's
// documents, artifacts).
func archiveImageDigest(t *testing.T, archive string) string {
	t.Helper()
	var idx struct {
		Manifests []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(tool(t, "tar", "-xOf", archive, "index.json"), &idx); err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, m := range idx.Manifests {
		if m.ArtifactType == "" {
			images = append(images, m.Digest)
		}
	}
	if len(images) != 1 {
		t.Fatalf("index.json of %s lists %d images", archive, len(images))
	}
	return images[0]
}

// TestMergeImagesSameName: mergeImages refuses two images of one name, as
// docker load names them (dup:1 and docker.io/library/dup:1 are one), in
// one line naming both archives.
func TestMergeImagesSameName(t *testing.T) {
	need(t)
	t.Parallel()
	r := nixBuild(t, `ociTools.mergeImages [
  (ociTools.buildLayeredImage { name = "dup-${nonce}"; tag = "1"; contents = [ busybox ]; })
  (ociTools.buildLayeredImage { name = "docker.io/library/dup-${nonce}"; tag = "1"; config.Cmd = [ "${busybox}/bin/sh" ]; })
]`, true)
	if want := "both hold an image named docker.io/library/dup-" + h.nonce + ":1: docker load would keep one"; r.err == nil || !strings.Contains(errorLine(r.log), want) {
		t.Fatalf("want an error line with %q, got %v\n%s", want, r.err, r.log)
	}
}
