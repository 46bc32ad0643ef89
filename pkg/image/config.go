package image

import (
	"errors"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-builder/oci-builder/pkg/bundle"
)

// ImageConfig maps the container options and the image options to the
// execution parameters of the image configuration. It is the one place where
// container options become image fields:
//
//   - args: Entrypoint is args[0], Cmd the rest (none when args has one
//     element). Run without arguments, the container runs args; arguments
//     given to `podman run IMAGE ARGS...` or a Kubernetes `args:` replace Cmd
//     and keep the program, and `--entrypoint` or `command:` replace it.
//   - exposedPorts, labels, volumes: ExposedPorts, Labels, Volumes.
//   - os and arch are the image's platform (see Platform), not part of the
//     execution parameters.
//   - mounts and readonly are decided by whoever runs an image, and are
//     refused here rather than silently dropped.
//
// Container options that the image configuration can express (Env, User,
// WorkingDir) map to the fields of the same name, below, as they are added
// to bundle.Options; those it cannot express (hostname, capabilities,
// rlimits, resources, network) must be refused here like mounts.
func ImageConfig(c bundle.Options, o Options) (v1.ImageConfig, error) {
	s, err := o.check()
	if err != nil {
		return v1.ImageConfig{}, err
	}
	return imageConfig(c, s)
}

func imageConfig(c bundle.Options, s settings) (v1.ImageConfig, error) {
	if len(c.Args) == 0 {
		return v1.ImageConfig{}, errors.New("args is empty: the image needs a program to run")
	}
	if c.Args[0] == "" {
		return v1.ImageConfig{}, errors.New("args[0] is empty: the image needs a program to run")
	}
	if len(c.Mounts) > 0 {
		return v1.ImageConfig{}, errors.New("mounts cannot be part of an image: whoever runs it chooses them (declare mountpoints with volumes)")
	}
	if c.Readonly {
		return v1.ImageConfig{}, errors.New("readonly cannot be part of an image: whoever runs it chooses it (podman run --read-only, Kubernetes readOnlyRootFilesystem)")
	}
	cfg := v1.ImageConfig{
		Entrypoint:   []string{c.Args[0]},
		ExposedPorts: s.ports,
		Labels:       s.labels,
		Volumes:      s.volumes,
	}
	if len(c.Args) > 1 {
		cfg.Cmd = append([]string(nil), c.Args[1:]...)
	}
	// Env, User and WorkingDir go here as bundle.Options gains them:
	//   cfg.Env = sorted "NAME=value" from the env option (with its PATH default),
	//   cfg.User = "user" or "user:group" as given (names resolve through the
	//     image's /etc/passwd and /etc/group, which then need a layer),
	//   cfg.WorkingDir = the workingDir option.
	return cfg, nil
}

// Platform maps the os and arch options to the image's GOOS and GOARCH
// values, as bundle.Platform does for bundles, plus the variant that Nix's
// 32-bit ARM names carry (armv7l is arm, variant v7).
func Platform(c bundle.Options) (v1.Platform, error) {
	osName, arch, err := bundle.Platform(c.OS, c.Arch)
	if err != nil {
		return v1.Platform{}, err
	}
	p := v1.Platform{OS: osName, Architecture: arch}
	switch c.Arch {
	case "armv5tel":
		p.Variant = "v5"
	case "armv6l":
		p.Variant = "v6"
	case "armv7l", "armv7a":
		p.Variant = "v7"
	}
	return p, nil
}
