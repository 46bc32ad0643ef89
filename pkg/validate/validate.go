// Package validate checks an OCI runtime bundle as a runtime would before
// starting it, offline, and reports every problem at once: the config
// against the runtime-spec schema of the version it declares, the root
// filesystem, the program to run, mountpoints and bind sources, the
// working directory and the user namespace's id mappings.
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

	"github.com/oci-builder/oci-builder/pkg/schema"
)

// Report is the outcome of validating a bundle.
type Report struct {
	// Bundle is the directory validated.
	Bundle string
	// SchemaVersion is the runtime-spec schema the config was checked
	// against, if one was found.
	SchemaVersion string
	// Program is the container path args[0] resolved to, if it did.
	Program string
	// Problems lists what would stop a runtime, one line each.
	Problems []string
}

// Valid reports whether no problem was found.
func (r *Report) Valid() bool { return len(r.Problems) == 0 }

func (r *Report) addf(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Bundle validates the bundle in dir.
func Bundle(dir string) *Report {
	r := &Report{Bundle: dir}
	configPath := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(configPath)
	if err != nil {
		r.addf("config.json: %v", unwrapPathError(err))
		return r
	}
	var version struct {
		OCIVersion string `json:"ociVersion"`
	}
	if err := json.Unmarshal(data, &version); err != nil {
		r.addf("config.json: not valid JSON: %v", err)
		return r
	}
	if v, err := schema.ForVersion(version.OCIVersion); err != nil {
		r.addf("config.json: %v", err)
	} else {
		r.SchemaVersion = v.Version()
		for _, p := range v.Problems(data) {
			r.addf("config.json does not match the runtime-spec %s schema: %s", v.Version(), p)
		}
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		r.addf("config.json: cannot be read as a runtime configuration: %v", err)
		return r
	}
	c := &checker{r: r, bundle: dir, spec: &spec}
	c.root()
	c.mounts()
	c.process()
	c.namespaces()
	return r
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
}

func (c *checker) root() {
	if c.spec.Root == nil || c.spec.Root.Path == "" {
		c.r.addf("root.path is missing")
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

func isBindMount(m specs.Mount) bool {
	if m.Type == "bind" || m.Type == "rbind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// mounts checks destinations, mountpoints and bind sources. A mountpoint
// inside an earlier mount lives in that mount's filesystem and cannot be
// checked; every other one must exist in the rootfs, since where the rootfs
// is read-only the runtime cannot create it.
func (c *checker) mounts() {
	for i, m := range c.spec.Mounts {
		where := fmt.Sprintf("mounts[%d] (%s)", i, m.Destination)
		if !path.IsAbs(m.Destination) {
			c.r.addf("%s: destination is not an absolute path", where)
			continue
		}
		if strings.Contains(m.Destination+"/", "/../") {
			c.r.addf("%s: destination contains \"..\"", where)
		}
		var srcInfo os.FileInfo
		if isBindMount(m) {
			st, err := os.Stat(m.Source)
			if err != nil {
				c.r.addf("%s: bind source %q: %v", where, m.Source, unwrapPathError(err))
			}
			srcInfo = st
		}
		nested := false
		for _, e := range c.spec.Mounts[:i] {
			nested = nested || within(path.Clean(m.Destination), path.Clean(e.Destination))
		}
		if nested || c.rootfs == "" {
			continue
		}
		host, err := c.resolve(m.Destination, i)
		if err != nil {
			c.r.addf("%s: mountpoint: %v", where, err)
			continue
		}
		st, err := os.Stat(host)
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

// process checks cwd and the program.
func (c *checker) process() {
	p := c.spec.Process
	if p == nil {
		c.r.addf("process is missing")
		return
	}
	if !path.IsAbs(p.Cwd) {
		c.r.addf("process.cwd %q is not an absolute path", p.Cwd)
	} else if c.rootfs != "" {
		if host, err := c.resolve(p.Cwd, len(c.spec.Mounts)); err == nil && host != "" {
			if st, err := os.Stat(host); err != nil || !st.IsDir() {
				c.r.addf("process.cwd %q is not a directory in the container", p.Cwd)
			}
		}
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		c.r.addf("process.args is empty: there is no program to run")
		return
	}
	if c.rootfs == "" {
		return
	}
	prog := p.Args[0]
	if !strings.Contains(prog, "/") {
		found := ""
		for _, dir := range strings.Split(envValue(p.Env, "PATH"), ":") {
			if !path.IsAbs(dir) {
				continue
			}
			cand := path.Join(dir, prog)
			if host, err := c.resolve(cand, len(c.spec.Mounts)); err == nil && host != "" && isExecutable(host) {
				found = cand
				break
			}
		}
		if found == "" {
			c.r.addf("process.args[0] %q is not found in the container's PATH %q", prog, envValue(p.Env, "PATH"))
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
	host, err := c.resolve(prog, len(c.spec.Mounts))
	if err != nil {
		c.r.addf("%s %q: %v", what, prog, err)
		return
	}
	if host == "" {
		return // provided by a mount the runtime makes (tmpfs, proc, ...)
	}
	st, err := os.Stat(host)
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
	}
	if depth == 0 {
		c.r.Program = prog
	}
	interp := shebang(host)
	if interp != "" && depth < 4 {
		c.program(fmt.Sprintf("the interpreter of %s", prog), interp, depth+1)
	}
}

// shebang returns the interpreter a script names, if any.
func shebang(host string) string {
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

func isExecutable(host string) bool {
	st, err := os.Stat(host)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

func envValue(env []string, name string) string {
	for _, e := range env {
		if k, v, ok := strings.Cut(e, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// resolve maps the absolute container path p to a host path, as the
// container would see it once the first n mounts are made: through the
// last bind mount covering it, else in the rootfs, following symlinks
// within the container. It returns "" for a path inside a mount the runtime
// creates (tmpfs, proc, ...), whose contents cannot be checked.
func (c *checker) resolve(p string, n int) (string, error) {
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
		host, ok := c.hostPath(next, n)
		if !ok {
			return "", nil
		}
		st, err := os.Lstat(host)
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("too many levels of symlinks")
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
	}
	host, ok := c.hostPath(cur, n)
	if !ok {
		return "", nil
	}
	return host, nil
}

// hostPath maps a symlink-free container path to the host, through the last
// of the first n mounts that covers it.
func (c *checker) hostPath(p string, n int) (string, bool) {
	for i := n - 1; i >= 0; i-- {
		m := c.spec.Mounts[i]
		dest := path.Clean(m.Destination)
		if !path.IsAbs(dest) || !within(p, dest) {
			continue
		}
		if !isBindMount(m) {
			return "", false
		}
		return filepath.Join(m.Source, strings.TrimPrefix(p, dest)), true
	}
	return filepath.Join(c.rootfs, p), true
}

// namespaces checks the namespaces and the user namespace's id mappings.
func (c *checker) namespaces() {
	l := c.spec.Linux
	if l == nil {
		return
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	userNS, utsNS := false, false
	for _, ns := range l.Namespaces {
		if seen[ns.Type] {
			c.r.addf("linux.namespaces: %s is listed twice", ns.Type)
		}
		seen[ns.Type] = true
		userNS = userNS || ns.Type == specs.UserNamespace
		utsNS = utsNS || ns.Type == specs.UTSNamespace
	}
	if c.spec.Hostname != "" && !utsNS {
		c.r.addf("hostname is set but there is no uts namespace to set it in")
	}
	if !userNS {
		if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
			c.r.addf("linux.uidMappings/gidMappings are set but there is no user namespace")
		}
		return
	}
	var user specs.User
	if c.spec.Process != nil {
		user = c.spec.Process.User
	}
	c.mappings("uid", l.UIDMappings, []uint32{0, user.UID})
	c.mappings("gid", l.GIDMappings, append([]uint32{0, user.GID}, user.AdditionalGids...))
}

func (c *checker) mappings(kind string, m []specs.LinuxIDMapping, need []uint32) {
	name := "linux." + kind + "Mappings"
	if len(m) == 0 {
		c.r.addf("%s: a user namespace is used but no %s is mapped", name, kind)
		return
	}
	for i, a := range m {
		if a.Size == 0 {
			c.r.addf("%s[%d] has size 0", name, i)
		}
		for j := i + 1; j < len(m); j++ {
			b := m[j]
			if overlap(a.ContainerID, a.Size, b.ContainerID, b.Size) {
				c.r.addf("%s[%d] and [%d] overlap inside the container", name, i, j)
			}
			if overlap(a.HostID, a.Size, b.HostID, b.Size) {
				c.r.addf("%s[%d] and [%d] overlap on the host", name, i, j)
			}
		}
	}
	reported := map[uint32]bool{}
	for _, id := range need {
		mapped := false
		for _, r := range m {
			mapped = mapped || (id >= r.ContainerID && uint64(id) < uint64(r.ContainerID)+uint64(r.Size))
		}
		if !mapped && !reported[id] {
			reported[id] = true
			if id == 0 {
				c.r.addf("%s: container %s 0 is not mapped (the runtime needs container root)", name, kind)
			} else {
				c.r.addf("%s: the process's %s %d is not mapped", name, kind, id)
			}
		}
	}
}

func overlap(a, an, b, bn uint32) bool {
	return uint64(a) < uint64(b)+uint64(bn) && uint64(b) < uint64(a)+uint64(an)
}
