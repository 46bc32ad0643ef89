package image

import (
	"fmt"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/container"
)

// refuseRuntimeOnly fails on container options that an image cannot carry:
// whoever runs an image decides them (podman run flags, a Kubernetes pod
// spec). They are refused, not dropped, so that nobody believes an image
// has them.
func refuseRuntimeOnly(c container.Options) error {
	refused := []struct {
		set  bool
		name string
		how  string
	}{
		{len(c.Mounts) > 0, "mounts", "podman run -v or a Kubernetes volume decide mounts; declare mountpoints with volumes"},
		{c.Readonly != nil, "readonly", "podman run --read-only or Kubernetes' readOnlyRootFilesystem decide it"},
		{c.Hostname != "", "hostname", "podman run --hostname or Kubernetes' hostname decide it"},
		{c.Terminal, "terminal", "podman run -t decides it"},
		{c.Capabilities != nil, "capabilities", "podman run --cap-add/--cap-drop or Kubernetes' securityContext decide them"},
		{c.NoNewPrivileges != nil, "noNewPrivileges", "podman run --security-opt no-new-privileges or Kubernetes' allowPrivilegeEscalation decide it"},
		{len(c.Rlimits) > 0, "rlimits", "podman run --ulimit decides them"},
		{c.Network != "", "network", "podman run --network or the pod decides it"},
		{c.Resources != nil, "resources", "podman run --memory/--cpus/--pids-limit or Kubernetes' resources decide them"},
		{len(c.ExtraConfig) > 0, "extraConfig", "an image has no runtime configuration to merge into"},
		{c.Rootless != nil, "rootless", "rootless runtimes map users themselves"},
		{c.Seccomp != nil, "seccomp", "runtimes apply their own default profile; podman run --security-opt seccomp=FILE or Kubernetes' seccompProfile choose another"},
		{c.StoreMode != "", "storeMode", "an image's layers always hold the closure's bytes"},
	}
	for _, r := range refused {
		if r.set {
			return fmt.Errorf("%s cannot be part of an image: %s", r.name, r.how)
		}
	}
	return nil
}

// imageConfig maps the container options c, as container.New resolved them
// in ct, and the image settings s to the execution parameters of the image
// configuration. It is the one place where container options become image
// fields:
//
//   - args: Entrypoint is args[0], Cmd the rest (none when args has one
//     element). Run without arguments, the container runs args; arguments
//     given to `podman run IMAGE ARGS...` or a Kubernetes `args:` replace Cmd
//     and keep the program, and `--entrypoint` or `command:` replace it.
//   - env: Env, as the bundle's process gets it: PATH defaults to the
//     closure's bin directories, HOME to the user's home.
//   - workingDir: WorkingDir.
//   - user, group: User, as "UID:GID" numbers, which runtimes need no
//     /etc/passwd to resolve and Kubernetes' runAsNonRoot can check.
//   - extraUsers, extraGroups, tmp: the /etc layer (see rootfsEntries).
//   - annotations: the manifest's annotations (see Plan).
//   - exposedPorts, labels, volumes (image settings): ExposedPorts, Labels,
//     Volumes.
//   - os and arch are the image's platform (see Platform).
//   - the rest is refused (see refuseRuntimeOnly).
func imageConfig(c container.Options, ct *container.Container, s settings) v1.ImageConfig {
	proc := ct.Process
	cfg := v1.ImageConfig{
		Entrypoint:   []string{proc.Args[0]},
		Env:          append([]string(nil), proc.Env...),
		ExposedPorts: s.ports,
		Labels:       s.labels,
		Volumes:      s.volumes,
	}
	if len(proc.Args) > 1 {
		cfg.Cmd = append([]string(nil), proc.Args[1:]...)
	}
	if c.WorkingDir != "" {
		cfg.WorkingDir = proc.Cwd
	}
	if c.User != nil || c.Group != nil {
		cfg.User = fmt.Sprintf("%d:%d", proc.User.UID, proc.User.GID)
	}
	return cfg
}

// Platform maps the os and arch options to the image's GOOS and GOARCH
// values, as container.Platform does, plus the variant: v8 for arm64,
// and the one Nix's 32-bit ARM names carry (armv7l is arm, variant v7).
func Platform(c container.Options) (v1.Platform, error) {
	osName, arch, err := container.Platform(c.OS, c.Arch)
	if err != nil {
		return v1.Platform{}, err
	}
	p := v1.Platform{OS: osName, Architecture: arch}
	switch c.Arch {
	case "arm64", "aarch64":
		// As docker and containerd name 64-bit ARM (its only variant).
		p.Variant = "v8"
	case "armv5tel":
		p.Variant = "v5"
	case "armv6l":
		p.Variant = "v6"
	case "armv7l", "armv7a":
		p.Variant = "v7"
	}
	return p, nil
}
