package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/oci-builder/oci-builder/pkg/image"
	"github.com/oci-builder/oci-builder/pkg/layer"
	"github.com/oci-builder/oci-builder/pkg/validate"
)

// imageFiles answers what `oci-builder image` puts in an image, for
// checkImageStarts: the closure's store paths, which are on this machine as
// the layers hold them (the layers are checked against their NAR hashes),
// a layer of its own (/etc, home and working directories, /tmp), and,
// with --from-image, a base image's files, which are not looked at.
type imageFiles struct {
	storeDir string
	closure  map[string]bool
	base     bool
	// perms are the image's perms, which set the modes its layers give
	// the closure's files.
	perms []layer.Perm
}

// checkImageStarts refuses an image that could not start, as bundle
// refuses such a bundle: the program of its Entrypoint (or, with none, of
// its Cmd) must be an executable regular file of the image, found through
// the image's PATH when it names no directory, and so must the
// interpreter a script names; a WorkingDir in the store must be a
// directory there. What lies outside the store is only judged without a
// base image: the image's own layer holds no program.
func checkImageStarts(plan *image.Plan) error {
	files := imageFiles{storeDir: plan.StoreDir, closure: map[string]bool{}, base: plan.Base != nil, perms: plan.Perms}
	for _, info := range plan.Closure {
		files.closure[info.Path] = true
	}
	cfg := plan.Config.Config
	if wd := cfg.WorkingDir; wd != "" && files.inStore(wd) && !files.missing(wd) {
		host, err := files.resolve(wd)
		if err != nil {
			return fmt.Errorf("the image would not start: WorkingDir %q %v", wd, err)
		}
		if st, err := os.Stat(host); err != nil || !st.IsDir() {
			return fmt.Errorf("the image would not start: WorkingDir %q is not a directory", wd)
		}
	}
	argv := cfg.Entrypoint
	what := "Entrypoint[0]"
	if len(argv) == 0 {
		argv, what = cfg.Cmd, "Cmd[0]"
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil
	}
	prog := argv[0]
	switch {
	case !strings.Contains(prog, "/"):
		found := ""
		for _, dir := range strings.Split(validate.EnvValue(cfg.Env, "PATH"), ":") {
			if !path.IsAbs(dir) {
				continue
			}
			cand := path.Join(dir, prog)
			if !files.inStore(cand) {
				if files.base {
					return nil // the base image may hold it
				}
				continue
			}
			if host, err := files.resolve(cand); err == nil && validate.IsExecutable(host) {
				found = cand
				break
			}
		}
		if found == "" {
			if files.base {
				return nil
			}
			return fmt.Errorf("the image would not start: %s %q is not found in the image's PATH %q", what, prog, validate.EnvValue(cfg.Env, "PATH"))
		}
		prog = found
	case !path.IsAbs(prog):
		wd := cfg.WorkingDir
		if wd == "" {
			wd = "/"
		}
		prog = path.Join(wd, prog)
	}
	return files.checkProgram(what, prog, 0)
}

// checkProgram checks that prog, a path in the image, is an executable
// regular file there, and follows a script's #! line to its interpreter.
func (f imageFiles) checkProgram(what, prog string, depth int) error {
	if !f.inStore(prog) {
		if f.base {
			return nil
		}
		return fmt.Errorf("the image would not start: %s %q is not in the image, which holds the closure's store paths and /etc, and has no base image", what, prog)
	}
	if f.missing(prog) {
		return nil
	}
	host, err := f.resolve(prog)
	if err != nil {
		return fmt.Errorf("the image would not start: %s %q %v", what, prog, err)
	}
	st, err := os.Stat(host)
	switch {
	case err != nil:
		return fmt.Errorf("the image would not start: %s %q does not exist in the image", what, prog)
	case !st.Mode().IsRegular():
		return fmt.Errorf("the image would not start: %s %q is not a regular file", what, prog)
	}
	// The mode the image gives it: the store's, or its perms'.
	e, err := layer.ApplyPerms(f.perms, host, layer.Entry{Mode: int64(st.Mode().Perm())})
	if err != nil {
		return err
	}
	if e.Mode&0o111 == 0 {
		return fmt.Errorf("the image would not start: %s %q is not executable in the image (mode %04o)", what, prog, e.Mode)
	}
	if interp := validate.Interpreter(host); interp != "" && depth < 4 {
		return f.checkProgram(fmt.Sprintf("the interpreter of %s", prog), interp, depth+1)
	}
	return nil
}

// inStore tells whether p, a path in the image, is in the store directory.
func (f imageFiles) inStore(p string) bool {
	return strings.HasPrefix(path.Clean(p), f.storeDir+"/")
}

// missing tells whether the store path p lies in is not on this machine:
// then writing the image fails, naming it, and nothing is judged here.
func (f imageFiles) missing(p string) bool {
	rest := strings.TrimPrefix(path.Clean(p), f.storeDir+"/")
	name, _, _ := strings.Cut(rest, "/")
	_, err := os.Lstat(f.storeDir + "/" + name)
	return errors.Is(err, fs.ErrNotExist)
}

// resolve follows p's symbolic links on this machine, and fails when the
// file they lead to is not in one of the closure's store paths (or does not
// exist): that is not in the image.
func (f imageFiles) resolve(p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("does not exist in the image")
	}
	rest, ok := strings.CutPrefix(real, f.storeDir+"/")
	name, _, _ := strings.Cut(rest, "/")
	if !ok || !f.closure[f.storeDir+"/"+name] {
		return "", fmt.Errorf("leads to %s, which is not in the image's closure", real)
	}
	return real, nil
}
