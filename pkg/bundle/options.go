// Package bundle turns a closure graph and container options into an OCI
// runtime bundle: config.json plus a rootfs holding the closure.
//
// The work is split in two. NewPlan is pure: from the graph and the options
// it computes the closure to copy, the mountpoints to create and the
// runtime-spec configuration. Write performs the plan on disk.
package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// Options describe the container. They are what the Nix library passes to
// the builder (as JSON) and what the command line collects.
type Options struct {
	// Args is the process's command line; args[0] is the program.
	Args []string `json:"args"`
	// Mounts are the user's mounts, applied after the system mounts. A user
	// mount whose destination equals a system mount's replaces it.
	Mounts []Mount `json:"mounts,omitempty"`
	// Readonly makes the root filesystem read-only.
	Readonly bool `json:"readonly,omitempty"`
	// OS and Arch name the platform, as GOOS/GOARCH values or Nix's names
	// ("x86_64", "aarch64"); they are recorded as annotations. Empty means
	// linux and the builder's own architecture.
	OS   string `json:"os,omitempty"`
	Arch string `json:"arch,omitempty"`
	// StoreMode is how the closure gets into the bundle: "copy" (the
	// default, also meant by ""), "reflink", "hardlink" or "bind".
	StoreMode StoreMode `json:"storeMode,omitempty"`
}

// Mount is a mount in the container.
type Mount struct {
	// Destination is the absolute path inside the container.
	Destination string `json:"destination"`
	// Type is the filesystem type; "none" or "bind" (the default) mean a
	// bind mount of Source.
	Type string `json:"type,omitempty"`
	// Source is the host path for bind mounts, the device or a label for
	// other types (defaulting to the type's name).
	Source string `json:"source,omitempty"`
	// Options are mount options. Nil means the defaults: "rbind", "nosuid",
	// "nodev" for a bind mount, none otherwise. A bind mount always gets
	// "rbind" when it names neither "bind" nor "rbind".
	Options []string `json:"options,omitempty"`
	// IsFile says the mountpoint is a file, not a directory (for example a
	// bind mount of /etc/resolv.conf), so an empty file is created for it.
	IsFile bool `json:"isFile,omitempty"`
}

// DecodeOptions reads Options from JSON. Keys are matched exactly (not
// case-insensitively as encoding/json does) and unknown ones are errors, so
// that a misspelt option fails instead of being ignored.
func DecodeOptions(data []byte) (Options, error) {
	var opts Options
	if err := strictjson.Unmarshal(data, &opts); err != nil {
		return Options{}, fmt.Errorf("container options: %w", describeJSONError(err))
	}
	return opts, nil
}

func describeJSONError(err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return fmt.Errorf("option %q: expected %s, got JSON %s", typ.Field, typ.Type, typ.Value)
	}
	var unknown *strictjson.UnknownFieldError
	if errors.As(err, &unknown) {
		return fmt.Errorf("unknown option %q%s (known: %s)", unknown.Key, inPath(unknown.Path), strings.Join(unknown.Known, ", "))
	}
	return err
}

func inPath(p string) string {
	if p == "" {
		return ""
	}
	return " in " + p
}
