package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

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
	// Readonly is nixpkgs' option; the root filesystem is always
	// read-only, so that no container can write into a bundle in the store
	// (or, in hardlink mode, into the store itself). Nil and true are the
	// same; false is accepted for compatibility with nixpkgs and warns that
	// the root stays read-only (`oci-builder writable` makes a writable
	// copy outside the store). The writable places a program expects are
	// tmpfs mounts: see Tmp.
	Readonly *bool `json:"readonly,omitempty"`
	// OS and Arch name the platform, as GOOS/GOARCH values or Nix's names
	// ("x86_64", "aarch64"); they are recorded as annotations. Empty means
	// linux and the builder's own architecture.
	OS   string `json:"os,omitempty"`
	Arch string `json:"arch,omitempty"`
	// SeccompArch is the architecture whose system calls the seccomp
	// filter names: that of the platform the bundle is built for, which
	// the Nix library sets (stdenv.hostPlatform, else the builder's
	// system), while Arch stays metadata, as in nixpkgs, whose default
	// "x86_64" is kept everywhere. Empty means Arch.
	SeccompArch string `json:"seccompArch,omitempty"`
	// StoreMode is how the closure gets into a bundle: "copy" (the
	// default, also meant by ""), "reflink", "hardlink" or "bind". Package
	// bundle reads it (bundle.ParseStoreMode); New does not.
	StoreMode string `json:"storeMode,omitempty"`
	// Verify checks each store path of the closure against the NAR hash
	// (and size) the closure graph gives it. Nil means true in the modes
	// that put the closure's files in the rootfs (copy, reflink, hardlink),
	// which hash each file as they put it in place, and false in bind mode,
	// where verifying means reading the whole closure for that alone.
	// Package bundle reads it (see bundle.NewPlan for store paths the graph
	// gives no hash); New does not, nor does an image, which is never
	// verified.
	Verify *bool `json:"verify,omitempty"`

	// Env is the process environment. PATH defaults to the bin directories
	// of the closure (the paths args mention first).
	Env map[string]string `json:"env,omitempty"`
	// WorkingDir is the process's working directory, "/" by default. Outside
	// the store it is created in the rootfs.
	WorkingDir string `json:"workingDir,omitempty"`
	// Hostname is the container's host name, "container" by default.
	Hostname string `json:"hostname,omitempty"`
	// Terminal attaches a terminal to the process (and sets TERM=xterm).
	Terminal bool `json:"terminal,omitempty"`

	// User and Group are who the process runs as: a name or a number. The
	// rootfs gets /etc/passwd and /etc/group naming them.
	User  *ID `json:"user,omitempty"`
	Group *ID `json:"group,omitempty"`
	// ExtraUsers and ExtraGroups add entries to /etc/passwd and /etc/group.
	ExtraUsers  map[string]UserEntry  `json:"extraUsers,omitempty"`
	ExtraGroups map[string]GroupEntry `json:"extraGroups,omitempty"`

	// Capabilities replaces the default capability sets (those of `runc
	// spec`).
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// NoNewPrivileges defaults to true.
	NoNewPrivileges *bool `json:"noNewPrivileges,omitempty"`
	// Rlimits set resource limits by name ("nofile" or "RLIMIT_NOFILE"),
	// over the default RLIMIT_NOFILE of 1024.
	Rlimits map[string]Rlimit `json:"rlimits,omitempty"`
	// Tmp gives the container its writable scratch directories (default
	// true): /tmp and /var/tmp that every user can write, /run for root,
	// and the process user's home, each an empty tmpfs (see TmpfsDir).
	// False leaves the whole filesystem read-only but /dev/shm.
	Tmp *bool `json:"tmp,omitempty"`
	// Seccomp is the system call filter: nil or "default" for Docker's
	// default profile adjusted to the capabilities, "unconfined" for none,
	// or a profile in Docker's JSON format.
	Seccomp *Seccomp `json:"seccomp,omitempty"`
	// Network is "private" (the default: a network namespace of its own) or
	// "host" (the host's network, with its /etc/resolv.conf and /etc/hosts).
	Network string `json:"network,omitempty"`
	// Resources limit memory, CPU and the number of processes.
	Resources *Resources `json:"resources,omitempty"`
	// Annotations are added to the configuration's annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
	// ExtraConfig is deep-merged into the generated configuration (objects
	// merge, other values replace, null deletes) and the result must be a
	// valid runtime-spec configuration with no unknown field.
	ExtraConfig json.RawMessage `json:"extraConfig,omitempty"`
	// Rootless, when set, makes the bundle runnable by an unprivileged user
	// with these host ids (see Rootless).
	Rootless *RootlessIDs `json:"rootless,omitempty"`

	// Roots are store paths that go into the rootfs with their closure
	// besides those the process mentions: the Nix builder sets them to
	// what the derivation exported (exportReferencesGraph), the store
	// paths of the context of the container's strings. Not an option.
	Roots []string `json:"-"`
	// StartCheck is the oci-builder executable that a bundle's
	// createRuntime hook runs, when the container starts, to check the
	// writable mount sources its build could not judge (see package
	// guard); "" when none can run where the bundle runs (it is for
	// another platform), and such mounts are then read-only. Not an option
	// either: the command sets it to itself.
	StartCheck string `json:"-"`
}

// ID names a user or group by name or by number. In JSON it is a string or
// a number; a string of digits is a number.
type ID struct {
	Name string
	Num  *uint32
}

// UnmarshalJSON accepts a name or a non-negative number.
func (id *ID) UnmarshalJSON(data []byte) error {
	var n uint32
	if err := json.Unmarshal(data, &n); err == nil {
		*id = ID{Num: &n}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("expected a name or a number, got %s", data)
	}
	if v, err := strconv.ParseUint(s, 10, 32); err == nil {
		n := uint32(v)
		*id = ID{Num: &n}
		return nil
	}
	*id = ID{Name: s}
	return nil
}

// MarshalJSON writes the number or the name.
func (id ID) MarshalJSON() ([]byte, error) {
	if id.Num != nil {
		return json.Marshal(*id.Num)
	}
	return json.Marshal(id.Name)
}

func (id ID) String() string {
	if id.Num != nil {
		return strconv.FormatUint(uint64(*id.Num), 10)
	}
	return id.Name
}

// UserEntry is an /etc/passwd entry.
type UserEntry struct {
	UID uint32 `json:"uid"`
	// GID is the primary group; it defaults to UID.
	GID *uint32 `json:"gid,omitempty"`
	// Home defaults to /home/NAME.
	Home string `json:"home,omitempty"`
	// Shell defaults to /sbin/nologin.
	Shell string `json:"shell,omitempty"`
}

// GroupEntry is an /etc/group entry.
type GroupEntry struct {
	GID     uint32   `json:"gid"`
	Members []string `json:"members,omitempty"`
}

// Capabilities are the process's capability sets. In JSON it is a list of
// names, meaning the bounding, effective and permitted sets, or an object
// with any of the five sets. Names may omit the CAP_ prefix and are checked.
type Capabilities struct {
	Bounding    []string `json:"bounding,omitempty"`
	Effective   []string `json:"effective,omitempty"`
	Inheritable []string `json:"inheritable,omitempty"`
	Permitted   []string `json:"permitted,omitempty"`
	Ambient     []string `json:"ambient,omitempty"`
}

// UnmarshalJSON accepts a list of names or an object of sets.
func (c *Capabilities) UnmarshalJSON(data []byte) error {
	var list []string
	if err := json.Unmarshal(data, &list); err == nil {
		*c = Capabilities{Bounding: list, Effective: list, Permitted: list}
		return nil
	}
	type sets Capabilities
	var s sets
	if err := strictjson.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("capabilities: expected a list of names or an object of sets: %w", err)
	}
	*c = Capabilities(s)
	return nil
}

// Rlimit is a resource limit. In JSON it is a number (soft and hard) or an
// object with "soft" and "hard".
type Rlimit struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// UnmarshalJSON accepts a number or {soft, hard}.
func (r *Rlimit) UnmarshalJSON(data []byte) error {
	var n uint64
	if err := json.Unmarshal(data, &n); err == nil {
		*r = Rlimit{Soft: n, Hard: n}
		return nil
	}
	var obj struct {
		Soft *uint64 `json:"soft"`
		Hard *uint64 `json:"hard"`
	}
	if err := strictjson.Unmarshal(data, &obj); err != nil || obj.Soft == nil || obj.Hard == nil {
		return fmt.Errorf("expected a number or {soft, hard} of non-negative numbers, got %s", data)
	}
	*r = Rlimit{Soft: *obj.Soft, Hard: *obj.Hard}
	return nil
}

// Resources are cgroup limits.
type Resources struct {
	// Memory is a byte count, as a number or a string with a binary suffix
	// ("512M", "1G", "1GiB").
	Memory *Size `json:"memory,omitempty"`
	// CPU is a number of CPUs, possibly fractional (0.5 is half a CPU).
	CPU *float64 `json:"cpu,omitempty"`
	// Pids is the most processes the container may have.
	Pids *int64 `json:"pids,omitempty"`
}

// Size is a byte count; in JSON a number or a string such as "256M".
type Size int64

// UnmarshalJSON accepts a number of bytes or a string with a suffix.
func (s *Size) UnmarshalJSON(data []byte) error {
	var n int64
	if err := json.Unmarshal(data, &n); err == nil {
		if n <= 0 {
			return fmt.Errorf("size %d is not positive", n)
		}
		*s = Size(n)
		return nil
	}
	var str string
	if err := json.Unmarshal(data, &str); err != nil {
		return fmt.Errorf("expected a size (bytes or a string like \"256M\"), got %s", data)
	}
	v, err := ParseSize(str)
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// ParseSize reads "1024", "64k", "256M", "1G", "1GiB", "2T" (binary units).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "iB"), "B")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is not a positive size such as 256M", s)
	}
	return n * mult, nil
}

// RootlessIDs are the host user and group that will run a rootless bundle,
// and optionally the subordinate ids they may map (as in /etc/subuid and
// /etc/subgid), which a process user other than root needs.
type RootlessIDs struct {
	UID     uint32   `json:"uid"`
	GID     uint32   `json:"gid"`
	SubUIDs *IDRange `json:"subUids,omitempty"`
	SubGIDs *IDRange `json:"subGids,omitempty"`
}

// IDRange is a range of subordinate ids.
type IDRange struct {
	Start uint32 `json:"start"`
	Count uint32 `json:"count"`
}

// MaxID is the last user or group id an id map may hold: 2^32-1 is
// (uid_t)-1, no one's, which the kernel refuses there.
const MaxID = 1<<32 - 2

// check refuses ids that no user namespace can map: an id past MaxID, an
// empty range, a range that ends past MaxID.
func (r *RootlessIDs) check() error {
	if r == nil {
		return nil
	}
	if r.UID > MaxID || r.GID > MaxID {
		return fmt.Errorf("rootless: uid %d, gid %d: ids go from 0 to %d", r.UID, r.GID, uint64(MaxID))
	}
	for _, sub := range []struct {
		name string
		r    *IDRange
	}{{"subUids", r.SubUIDs}, {"subGids", r.SubGIDs}} {
		if sub.r == nil {
			continue
		}
		if sub.r.Count == 0 {
			return fmt.Errorf("rootless.%s: the range from %d holds no id (count 0)", sub.name, sub.r.Start)
		}
		if last := uint64(sub.r.Start) + uint64(sub.r.Count) - 1; last > MaxID {
			return fmt.Errorf("rootless.%s: %d ids from %d end at %d, past the last id, %d", sub.name, sub.r.Count, sub.r.Start, last, uint64(MaxID))
		}
	}
	return nil
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
	// encoding/json would quietly replace bytes that are not UTF-8.
	if !utf8.Valid(data) {
		return Options{}, errors.New("container options: not valid UTF-8 (config.json can only carry UTF-8 strings)")
	}
	var opts Options
	if err := strictjson.Unmarshal(data, &opts); err != nil {
		return Options{}, fmt.Errorf("container options: %w", strictjson.DescribeOptionError(err))
	}
	return opts, nil
}

// Seccomp names a seccomp profile or gives one. In JSON it is "default",
// "unconfined" or a profile object in Docker's format (that of moby's
// default.json).
type Seccomp struct {
	// Name is SeccompDefault or SeccompUnconfined when Profile is nil.
	Name string
	// Profile is a profile in Docker's JSON format.
	Profile json.RawMessage
}

// The seccomp profiles named by the seccomp option.
const (
	// SeccompDefault is Docker's default profile, adjusted to the
	// container's capabilities.
	SeccompDefault = "default"
	// SeccompUnconfined is no system call filter at all.
	SeccompUnconfined = "unconfined"
)

// UnmarshalJSON accepts "default", "unconfined" or a profile object.
func (s *Seccomp) UnmarshalJSON(data []byte) error {
	var name string
	if err := json.Unmarshal(data, &name); err == nil {
		if name != SeccompDefault && name != SeccompUnconfined {
			return fmt.Errorf("seccomp %q is not %q, %q or a profile", name, SeccompDefault, SeccompUnconfined)
		}
		*s = Seccomp{Name: name}
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return fmt.Errorf("seccomp: expected %q, %q or a profile object, got %s", SeccompDefault, SeccompUnconfined, data)
	}
	*s = Seccomp{Profile: append(json.RawMessage(nil), data...)}
	return nil
}

// MarshalJSON writes the name or the profile.
func (s Seccomp) MarshalJSON() ([]byte, error) {
	if s.Profile != nil {
		return s.Profile, nil
	}
	return json.Marshal(s.Name)
}
