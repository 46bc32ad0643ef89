package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/container"
)

// funcFlag is a flag whose every occurrence calls set.
type funcFlag struct {
	set    func(string) error
	isBool bool
}

func (f funcFlag) String() string     { return "" }
func (f funcFlag) Set(v string) error { return f.set(v) }
func (f funcFlag) IsBoolFlag() bool   { return f.isBool }

// boolPtr sets *p to the flag's boolean value.
func boolPtr(p **bool) funcFlag {
	return funcFlag{isBool: true, set: func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*p = &b
		return nil
	}}
}

// setIn sets m[NAME] from NAME=VALUE occurrences, making m when nil.
func setIn(m *map[string]string, what string) funcFlag {
	return funcFlag{set: func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%q is not %s=VALUE", kv, what)
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[k] = v
		return nil
	}}
}

// containerFlags are the flags of container options: each sets its field of
// *opts as it is parsed, so that flags override what --options gave. names
// selects the flags (all of them when empty). The function returned checks,
// after parsing, what no single flag can.
func containerFlags(fs *flag.FlagSet, opts *container.Options, names ...string) (check func() error) {
	capsSet := false
	var rootlessUID, rootlessGID *uint32
	rootless := func(p **uint32) func(string) error {
		return func(v string) error {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return errors.New("--rootless-uid and --rootless-gid must be 32-bit ids")
			}
			id := uint32(n)
			*p = &id
			if rootlessUID != nil && rootlessGID != nil {
				opts.Rootless = &container.RootlessIDs{UID: *rootlessUID, GID: *rootlessGID}
			}
			return nil
		}
	}
	resources := func() *container.Resources {
		if opts.Resources == nil {
			opts.Resources = &container.Resources{}
		}
		return opts.Resources
	}
	str := func(p *string) funcFlag { return funcFlag{set: func(v string) error { *p = v; return nil }} }
	all := map[string]funcFlag{
		"workdir":    str(&opts.WorkingDir),
		"hostname":   str(&opts.Hostname),
		"network":    str(&opts.Network),
		"os":         str(&opts.OS),
		"arch":       str(&opts.Arch),
		"store-mode": str(&opts.StoreMode),
		"readonly":   boolPtr(&opts.Readonly),
		"verify":     boolPtr(&opts.Verify),
		"terminal": {isBool: true, set: func(v string) (err error) {
			opts.Terminal, err = strconv.ParseBool(v)
			return err
		}},
		"no-tmp": {isBool: true, set: func(v string) error {
			noTmp, err := strconv.ParseBool(v)
			tmp := !noTmp
			opts.Tmp = &tmp
			return err
		}},
		"no-new-privileges": boolPtr(&opts.NoNewPrivileges),
		"user": {set: func(v string) (err error) {
			opts.User, err = parseID(v)
			return err
		}},
		"group": {set: func(v string) (err error) {
			opts.Group, err = parseID(v)
			return err
		}},
		"env":        setIn(&opts.Env, "NAME"),
		"annotation": setIn(&opts.Annotations, "KEY"),
		"mount": {set: func(v string) error {
			m, err := parseMount(v)
			opts.Mounts = append(opts.Mounts, m)
			return err
		}},
		// The first --cap replaces the capability sets; the next add to it.
		"cap": {set: func(v string) error {
			if !capsSet {
				capsSet = true
				opts.Capabilities = &container.Capabilities{}
			}
			c := opts.Capabilities
			c.Bounding, c.Effective, c.Permitted = append(c.Bounding, v), append(c.Effective, v), append(c.Permitted, v)
			return nil
		}},
		"rlimit": {set: func(v string) error {
			name, limit, err := parseRlimit(v)
			if err != nil {
				return err
			}
			if opts.Rlimits == nil {
				opts.Rlimits = map[string]container.Rlimit{}
			}
			opts.Rlimits[name] = limit
			return nil
		}},
		"memory": {set: func(v string) error {
			n, err := container.ParseSize(v)
			size := container.Size(n)
			resources().Memory = &size
			return err
		}},
		"cpus": {set: func(v string) error {
			cpus, err := strconv.ParseFloat(v, 64)
			resources().CPU = &cpus
			return err
		}},
		"pids": {set: func(v string) error {
			pids, err := strconv.ParseInt(v, 10, 64)
			resources().Pids = &pids
			return err
		}},
		"extra-config": {set: func(v string) error {
			data := []byte(v)
			if file, ok := strings.CutPrefix(v, "@"); ok {
				var err error
				if data, err = readlimit.File(file, "an extraConfig file", readlimit.Options); err != nil {
					return err
				}
			}
			opts.ExtraConfig = json.RawMessage(data)
			return nil
		}},
		"seccomp": {set: func(v string) error {
			sc := &container.Seccomp{Name: v}
			if v == "" {
				return fmt.Errorf("want %q, %q or a profile's file", container.SeccompDefault, container.SeccompUnconfined)
			}
			if v != container.SeccompDefault && v != container.SeccompUnconfined {
				data, err := readlimit.File(v, "a seccomp profile", readlimit.Options)
				if err != nil {
					return err
				}
				if err := sc.UnmarshalJSON(data); err != nil || sc.Profile == nil {
					return fmt.Errorf("%s is not a seccomp profile (a JSON object in Docker's format)", v)
				}
			}
			opts.Seccomp = sc
			return nil
		}},
		"extra-user": {set: func(v string) error {
			name, entry, err := parseExtraUser(v)
			if err != nil {
				return err
			}
			if opts.ExtraUsers == nil {
				opts.ExtraUsers = map[string]container.UserEntry{}
			}
			opts.ExtraUsers[name] = entry
			return nil
		}},
		"extra-group": {set: func(v string) error {
			name, entry, err := parseExtraGroup(v)
			if err != nil {
				return err
			}
			if opts.ExtraGroups == nil {
				opts.ExtraGroups = map[string]container.GroupEntry{}
			}
			opts.ExtraGroups[name] = entry
			return nil
		}},
		"rootless-uid": {set: rootless(&rootlessUID)},
		"rootless-gid": {set: rootless(&rootlessGID)},
	}
	if len(names) == 0 {
		for name := range all {
			names = append(names, name)
		}
	}
	for _, name := range names {
		fs.Var(all[name], name, "")
	}
	return func() error {
		if (rootlessUID == nil) != (rootlessGID == nil) {
			return &usageError{"--rootless-uid and --rootless-gid go together"}
		}
		return nil
	}
}

// parseWithOptionsFile parses args with fs, whose flag --options FILE names
// a JSON file of container options: the file is read into *opts first, then
// the other flags, bound to *opts' fields (containerFlags), override it.
func parseWithOptionsFile(fs *flag.FlagSet, args []string, optionsFile *string, opts *container.Options) error {
	// A first pass finds --options with stand-ins of every flag, so that
	// nothing is set twice.
	scout := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	scout.SetOutput(fs.Output())
	fs.VisitAll(func(f *flag.Flag) {
		b, isBool := f.Value.(interface{ IsBoolFlag() bool })
		if f.Name == "options" {
			scout.Var(funcFlag{set: func(v string) error { *optionsFile = v; return nil }}, f.Name, "")
			return
		}
		scout.Var(funcFlag{isBool: isBool && b.IsBoolFlag(), set: func(string) error { return nil }}, f.Name, "")
	})
	if err := scout.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if *optionsFile != "" {
		data, err := readlimit.File(*optionsFile, "an options file", readlimit.Options)
		if err != nil {
			return fmt.Errorf("read options: %w", err)
		}
		if *opts, err = container.DecodeOptions(data); err != nil {
			return fmt.Errorf("%s: %w", *optionsFile, err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	opts.Args = fs.Args()
	return nil
}
