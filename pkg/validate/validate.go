// Package validate checks an OCI runtime bundle as runc 1.1 would before
// starting it, offline, and reports every problem at once: the config
// against the runtime-spec schema of the version it declares and against
// what runc 1.1 accepts (Spec), the root filesystem, the program to run,
// mountpoints and bind sources, the working directory. A bundle it finds
// valid is one runc 1.1 can create and start.
package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/container"
	"github.com/oci-builder/oci-builder/pkg/guard"
	"github.com/oci-builder/oci-builder/pkg/schema"
)

// Report is the outcome of validating a bundle.
type Report struct {
	// Bundle is the directory validated.
	Bundle string
	// SchemaVersion is the runtime-spec schema the config was checked
	// against, if one was found.
	SchemaVersion string
	// Program is the container path args[0] resolved to; it is set
	// whenever the report is valid.
	Program string
	// Problems lists what would stop a runtime, one line each.
	Problems []string
	// Warnings lists the weakenings of the configuration (guard.Weakenings
	// for the store directory given): what lets the container past the
	// protections a bundle has by default. They do not make it invalid.
	Warnings []string
}

// Valid reports whether no problem was found.
func (r *Report) Valid() bool { return len(r.Problems) == 0 }

func (r *Report) addf(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Bundle validates the bundle in dir: config.json against the schema of its
// ociVersion, then Spec's checks, then the files; and lists the weakenings
// of its configuration for the store directory storeDir.
func Bundle(dir, storeDir string) *Report { return check(dir, false, storeDir) }

// AtBuild validates the bundle in dir as Bundle does, where it is built
// rather than where it will run: a bind mount's source that does not exist
// on this machine (a host path, absent in a Nix build's sandbox) is not a
// problem, and what lies under it cannot be checked.
func AtBuild(dir, storeDir string) *Report { return check(dir, true, storeDir) }

func check(dir string, atBuild bool, storeDir string) *Report {
	r := &Report{Bundle: dir}
	configPath := filepath.Join(dir, "config.json")
	data, err := readlimit.File(configPath, "a bundle's config.json", readlimit.BundleConfig)
	if err != nil {
		r.addf("config.json: %v", unwrapPathError(err))
		return r
	}
	var version struct {
		OCIVersion string `json:"ociVersion"`
	}
	if err := json.Unmarshal(data, &version); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field == "":
			r.addf("config.json: not a JSON object but a JSON %s", te.Value)
		case errors.As(err, &te):
			r.addf("config.json: %s is a JSON %s, not a string", te.Field, te.Value)
		default:
			r.addf("config.json: not valid JSON: %v", err)
		}
		return r
	}
	var flagged []string // the fields the schema found wrong, as JSON pointers
	if v, err := schema.ForVersion(version.OCIVersion); err != nil {
		r.addf("config.json: %v", err)
	} else {
		r.SchemaVersion = v.Version()
		for _, p := range v.Problems(data) {
			r.addf("config.json does not match the runtime-spec %s schema: %s", v.Version(), p)
			flagged = append(flagged, schemaFields(p)...)
		}
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		r.addf("config.json: cannot be read as a runtime configuration: %v", err)
		return r
	}
	for _, p := range specProblems(&spec) {
		if !coveredBy(p.field, flagged) {
			r.Problems = append(r.Problems, p.msg)
		}
	}
	for _, w := range guard.Weakenings(&spec, storeDir) {
		r.Warnings = append(r.Warnings, w.Msg)
	}
	c := &checker{r: r, bundle: dir, spec: &spec, atBuild: atBuild}
	c.root()
	c.mounts()
	c.process()
	return r
}

// schemaFields returns the JSON pointers a schema problem
// ("/process/args: got null, want array") is about: its location, or for a
// missing property ("/process: missing property 'cwd'") that property's.
func schemaFields(p string) []string {
	loc, msg, _ := strings.Cut(p, ": ")
	if !strings.HasPrefix(msg, "missing propert") {
		return []string{loc}
	}
	var out []string
	parts := strings.Split(msg, "'")
	for i := 1; i < len(parts); i += 2 {
		out = append(out, strings.TrimSuffix(loc, "/")+"/"+parts[i])
	}
	return out
}

// coveredBy reports whether field is one of flagged or inside one.
func coveredBy(field string, flagged []string) bool {
	for _, f := range flagged {
		if field == f || f == "/" || strings.HasPrefix(field, f+"/") {
			return true
		}
	}
	return false
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type checker struct {
	r      *Report
	bundle string
	spec   *specs.Spec
	rootfs string // host path of the root filesystem, "" when unusable
	// atBuild tolerates bind sources missing on this machine (AtBuild).
	atBuild bool
}

// root checks root.path; Spec reports it missing.
func (c *checker) root() {
	if c.spec.Root == nil || c.spec.Root.Path == "" {
		return
	}
	p := c.spec.Root.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.bundle, p)
	}
	st, err := os.Stat(p)
	switch {
	case err != nil:
		c.r.addf("root.path %q: %v", c.spec.Root.Path, unwrapPathError(err))
	case !st.IsDir():
		c.r.addf("root.path %q is not a directory", c.spec.Root.Path)
	default:
		c.rootfs = p
	}
}

// isBindMount reports whether m is a bind mount: of type bind or rbind,
// or with a bind or rbind option (Spec refuses the first without the
// second, which runc 1.1 does not bind).
func isBindMount(m specs.Mount) bool {
	return m.Type == "bind" || m.Type == "rbind" || hasBindOption(m)
}

func hasBindOption(m specs.Mount) bool {
	return hasOption(m, "bind") || hasOption(m, "rbind")
}

func hasOption(m specs.Mount, option string) bool {
	for _, o := range m.Options {
		if o == option {
			return true
		}
	}
	return false
}

// bindSource is the host path of a bind mount's source: runc takes a
// relative one from the bundle directory.
func (c *checker) bindSource(m specs.Mount) string {
	if filepath.IsAbs(m.Source) {
		return m.Source
	}
	return filepath.Join(c.bundle, m.Source)
}

// mounts checks mountpoints and bind sources (Spec checks destinations). A
// mountpoint inside an earlier mount lives in that mount's filesystem and
// cannot be checked, nor need one the runtime can make in a tmpfs; every
// other one must exist in the rootfs, since where the rootfs is read-only
// the runtime cannot create it.
func (c *checker) mounts() {
	for i, m := range c.spec.Mounts {
		where := fmt.Sprintf("mounts[%d] (%s)", i, m.Destination)
		if !path.IsAbs(m.Destination) {
			continue
		}
		var srcInfo os.FileInfo
		if isBindMount(m) {
			st, err := os.Stat(c.bindSource(m))
			if err != nil && !(c.atBuild && errors.Is(err, fs.ErrNotExist)) {
				c.r.addf("%s: bind source %q: %v", where, m.Source, unwrapPathError(err))
			}
			srcInfo = st
		}
		nested := false
		for _, e := range c.spec.Mounts[:i] {
			nested = nested || container.Within(path.Clean(m.Destination), path.Clean(e.Destination))
		}
		if nested || c.rootfs == "" {
			continue
		}
		loc, err := c.resolve(m.Destination, i)
		if err != nil {
			c.r.addf("%s: mountpoint: %v", where, err)
			continue
		}
		if loc.kind != onHost {
			continue
		}
		st, err := os.Stat(loc.host)
		if err != nil {
			c.r.addf("%s: mountpoint does not exist in the rootfs", where)
			continue
		}
		if srcInfo != nil && srcInfo.IsDir() != st.IsDir() {
			c.r.addf("%s: bind source is a %s but the mountpoint is a %s", where, kind(srcInfo), kind(st))
		}
	}
}

func kind(st os.FileInfo) string {
	if st.IsDir() {
		return "directory"
	}
	return "file"
}

// process checks cwd and the program (Spec checks that both are given).
func (c *checker) process() {
	p := c.spec.Process
	if p == nil || c.rootfs == "" {
		return
	}
	if path.IsAbs(p.Cwd) {
		loc, err := c.resolve(p.Cwd, len(c.spec.Mounts))
		switch {
		case err != nil:
			c.r.addf("process.cwd %q: %v", p.Cwd, err)
		case loc.kind == absent:
			c.r.addf("process.cwd %q is not a directory in the container: it lies in the tmpfs mounted at %s", p.Cwd, loc.mount)
		case loc.kind == onHost:
			if st, err := os.Stat(loc.host); err != nil || !st.IsDir() {
				c.r.addf("process.cwd %q is not a directory in the container", p.Cwd)
			}
		}
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		return
	}
	prog := p.Args[0]
	if !strings.Contains(prog, "/") {
		found := ""
		for _, dir := range strings.Split(EnvValue(p.Env, "PATH"), ":") {
			if !path.IsAbs(dir) {
				continue
			}
			cand := path.Join(dir, prog)
			if loc, err := c.resolve(cand, len(c.spec.Mounts)); err == nil && loc.kind == onHost && IsExecutable(loc.host) {
				found = cand
				break
			}
		}
		if found == "" {
			c.r.addf("process.args[0] %q is not found in the container's PATH %q", prog, EnvValue(p.Env, "PATH"))
			return
		}
		prog = found
	} else if !path.IsAbs(prog) {
		prog = path.Join(p.Cwd, prog)
	}
	c.program("process.args[0]", prog, 0)
}

// program checks that prog (a container path) is an executable file, and
// follows a #! line to its interpreter.
func (c *checker) program(what, prog string, depth int) {
	loc, err := c.resolve(prog, len(c.spec.Mounts))
	if err != nil {
		c.r.addf("%s %q: %v", what, prog, err)
		return
	}
	switch loc.kind {
	case unknown: // in a filesystem the runtime makes (/dev, proc, ...)
		if depth == 0 {
			c.r.Program = prog
		}
		return
	case absent:
		c.r.addf("%s %q does not exist in the container: it lies in the tmpfs mounted at %s", what, prog, loc.mount)
		return
	case tmpfsDir:
		c.r.addf("%s %q is not a regular file", what, prog)
		return
	}
	st, err := os.Stat(loc.host)
	switch {
	case err != nil:
		c.r.addf("%s %q does not exist in the container", what, prog)
		return
	case !st.Mode().IsRegular():
		c.r.addf("%s %q is not a regular file", what, prog)
		return
	case st.Mode().Perm()&0o111 == 0:
		c.r.addf("%s %q is not executable", what, prog)
		return
	case loc.noexec != "":
		c.r.addf("%s %q is not executable: the mount at %s has the noexec option", what, prog, loc.noexec)
		return
	}
	if depth == 0 {
		c.r.Program = prog
	}
	interp := Interpreter(loc.host)
	if interp != "" && depth < 4 {
		c.program(fmt.Sprintf("the interpreter of %s", prog), interp, depth+1)
	}
}

// Interpreter returns the absolute interpreter that the script at host (a
// path on this machine) names on its #! line, if any.
func Interpreter(host string) string {
	f, err := os.Open(host)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	line := string(buf[:n])
	if !strings.HasPrefix(line, "#!") {
		return ""
	}
	line, _, _ = strings.Cut(line[2:], "\n")
	fields := strings.Fields(line)
	if len(fields) == 0 || !path.IsAbs(fields[0]) {
		return ""
	}
	return fields[0]
}

// IsExecutable tells whether host is a regular file with an execute bit.
func IsExecutable(host string) bool {
	st, err := os.Stat(host)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// EnvValue is the value of name in env (NAME=VALUE entries, the first one
// given, as a process's getenv finds it).
func EnvValue(env []string, name string) string {
	for _, e := range env {
		if k, v, ok := strings.Cut(e, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// locKind is what is known of a container path.
type locKind int

const (
	// onHost: the path is that of a host file (which may not exist) in
	// the rootfs or a bind mount's source.
	onHost locKind = iota
	// unknown: the path lies in a filesystem the runtime fills or the
	// kernel provides (/dev, proc, sysfs, ...), which cannot be checked.
	unknown
	// tmpfsDir: the path is a directory of a tmpfs, its root or one the
	// runtime makes there for the mountpoint of a later mount.
	tmpfsDir
	// absent: the path lies in a tmpfs and is none of those: nothing can
	// be there when the process starts.
	absent
)

// location is where a container path is.
type location struct {
	kind  locKind
	host  string // for onHost
	mount string // the tmpfs's destination, for tmpfsDir and absent
	// noexec is the destination of the mount it is in when that mount
	// has the noexec option, where execve fails with EACCES.
	noexec string
}

// resolve maps the absolute container path p to where it is once the
// first n mounts are made: through the last mount covering it, else in the
// rootfs, following symlinks within the container.
func (c *checker) resolve(p string, n int) (location, error) {
	const maxLinks = 40
	links := 0
	cur := "/"
	rest := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		loc := c.hostPath(next, n)
		switch loc.kind {
		case absent:
			return loc, nil
		case unknown, tmpfsDir:
			// Taken as a directory: a mount further down may cover
			// the rest (/dev/shm in /dev).
			cur = next
			continue
		}
		st, err := os.Lstat(loc.host)
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return location{}, fmt.Errorf("too many levels of symlinks")
		}
		target, err := os.Readlink(loc.host)
		if err != nil {
			return location{}, err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
	}
	return c.hostPath(cur, n), nil
}

// hostPath tells where the symlink-free container path p is, through the
// last of the first n mounts that covers it. A bind mount maps it into its
// source. A fresh tmpfs (without tmpcopyup) holds only directories for the
// mountpoints of later mounts; a tmpfs with tmpcopyup starts as a copy of
// what it covers. The runtime fills the tmpfs at /dev with devices, and
// any other filesystem cannot be looked into.
func (c *checker) hostPath(p string, n int) location {
	mounts := c.spec.Mounts[:n]
	copyNoexec := "" // a noexec tmpfs with tmpcopyup over p
	for i := n - 1; i >= 0; i-- {
		m := mounts[i]
		dest := path.Clean(m.Destination)
		if !path.IsAbs(dest) || !container.Within(p, dest) {
			continue
		}
		switch {
		case isBindMount(m):
			src := c.bindSource(m)
			if c.atBuild {
				if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
					return location{kind: unknown}
				}
			}
			loc := location{kind: onHost, host: filepath.Join(src, strings.TrimPrefix(p, dest))}
			if p == dest {
				// The mount shows what a symlink source points to.
				if real, err := filepath.EvalSymlinks(src); err == nil {
					loc.host = real
				}
			}
			if hasOption(m, "noexec") {
				loc.noexec = dest
			}
			if copyNoexec != "" {
				loc.noexec = copyNoexec
			}
			return loc
		case m.Type == "tmpfs" && hasOption(m, "tmpcopyup"):
			if copyNoexec == "" && hasOption(m, "noexec") {
				copyNoexec = dest
			}
			continue
		case m.Type == "tmpfs" && dest != "/dev":
			if p == dest {
				return location{kind: tmpfsDir, mount: dest}
			}
			for _, later := range mounts[i+1:] {
				if d := path.Clean(later.Destination); path.IsAbs(d) && container.Within(d, p) {
					return location{kind: tmpfsDir, mount: dest}
				}
			}
			return location{kind: absent, mount: dest}
		default:
			return location{kind: unknown}
		}
	}
	return location{kind: onHost, host: filepath.Join(c.rootfs, p), noexec: copyNoexec}
}
