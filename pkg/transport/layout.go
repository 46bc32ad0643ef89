package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/staging"
)

// tmpPrefix and tmpSuffix name the files a copy writes before renaming
// them into place; a killed copy's are removed by the next copy into the
// same layout.
const (
	tmpPrefix = ".oci-builder-"
	tmpSuffix = ".tmp"
)

// layoutWriter writes an image into the image layout directory it holds
// open, locked against other copies, and never follows a symbolic link:
// each file is created under a name of its own (O_EXCL, O_NOFOLLOW),
// written, synced and renamed over its final name, so that a reader sees a
// blob or index.json whole or not at all, and a link at a blob's path is
// replaced, never written through. A blob already there is reused only
// once its bytes are checked. index.json is renamed into place last; until
// then a failure (no space left, a blob that is not what its digest says,
// an interruption) removes what the copy added, leaving the layout as it
// was.
type layoutWriter struct {
	ctx  context.Context
	path string // the layout's path, for messages
	fd   int
	// dirs holds blobs/ (key "") and blobs/ALG/ (key ALG), opened.
	dirs map[string]int
	// added lists the files and directories this copy added, for rollback.
	added []addedEntry
	log   io.Writer
}

type addedEntry struct {
	dirfd int
	name  string
	dir   bool
}

// openLayout opens and locks the layout directory path for writing,
// refusing it in the store, and removes the temporary files of killed
// copies from it.
func openLayout(ctx context.Context, path, storeDir string, log io.Writer) (*layoutWriter, error) {
	fd, err := staging.OpenDirOutsideStore(path, storeDir)
	if err != nil {
		return nil, err
	}
	w := &layoutWriter{ctx: ctx, path: path, fd: fd, dirs: map[string]int{}, log: log}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		w.close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another oci-builder copy is writing into %s: try again when it is done", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := checkLayoutMarker(fd, path); err != nil {
		w.close()
		return nil, err
	}
	if err := removeStaleTemps(fd, path); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// checkLayoutMarker refuses a directory with an index.json that is not
// an OCI image layout of version 1 (its oci-layout file says so): a web
// application's index.json is not rewritten as an image index. A
// directory without index.json is a new layout.
func checkLayoutMarker(fd int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "index.json", &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		return nil
	}
	name := path + "/oci-layout"
	lfd, err := unix.Openat(fd, "oci-layout", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s is not an OCI image layout: it has an index.json but no oci-layout file (copy to a new or an empty directory)", path)
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s is a symbolic link: copy never writes through links (make it a file, or copy to another layout)", name)
	case err != nil:
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(lfd), name)
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", name)
	}
	data, err := readlimit.Open(f, "an oci-layout file", readlimit.ImageJSON)
	if err != nil {
		return err
	}
	var marker struct {
		Version *string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(data, &marker); err != nil || marker.Version == nil {
		return fmt.Errorf("%s is not an oci-layout file (a JSON object with imageLayoutVersion)", name)
	}
	if !strings.HasPrefix(*marker.Version, "1.") {
		return fmt.Errorf("%s gives imageLayoutVersion %q: copy writes into layouts of version 1", name, *marker.Version)
	}
	return nil
}

// close closes the layout's directories, releasing the lock.
func (w *layoutWriter) close() {
	for _, fd := range w.dirs {
		unix.Close(fd)
	}
	w.dirs = nil
	unix.Close(w.fd)
}

// removeStaleTemps removes the temporary files of killed copies from the
// directory fd (path in messages).
func removeStaleTemps(fd int, path string) error {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	d := os.NewFile(uintptr(dfd), path)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, tmpPrefix) && strings.HasSuffix(n, tmpSuffix) {
			if err := unix.Unlinkat(fd, n, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove the leftover %s/%s of a killed copy: %w", path, n, err)
			}
		}
	}
	return nil
}

// readIndex reads the layout's index.json, which must be a regular file.
func (w *layoutWriter) readIndex() (*index, error) {
	name := w.path + "/index.json"
	fd, err := unix.Openat(w.fd, "index.json", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link: copy never writes through links (make it a file, or copy to another layout)", name)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	data, err := readlimit.Open(f, "an image index", readlimit.ImageJSON)
	if err != nil {
		return nil, err
	}
	ix, err := parseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ix, nil
}

// write puts the blobs of s into the layout, then ix as its index.json.
// Until index.json is in place a failure removes what was added.
func (w *layoutWriter) write(s *source, ix *index) (err error) {
	committed := false
	defer func() {
		if err != nil && !committed {
			w.rollback()
		}
	}()
	for _, b := range s.blobs() {
		if err := w.putBlob(s, b); err != nil {
			return err
		}
	}
	data, err := ix.marshal()
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(w.fd, "oci-layout", &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		if err := w.writeFile(w.fd, "oci-layout", "oci-layout", strings.NewReader(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
			return err
		}
		w.added = append(w.added, addedEntry{dirfd: w.fd, name: "oci-layout"})
	}
	for alg, fd := range w.dirs {
		if err := unix.Fsync(fd); err != nil {
			return fmt.Errorf("sync %s/blobs/%s: %w", w.path, alg, err)
		}
	}
	if err := w.writeFile(w.fd, "index.json", "index.json", bytes.NewReader(data)); err != nil {
		return err
	}
	committed = true
	if err := unix.Fsync(w.fd); err != nil {
		return fmt.Errorf("sync %s: %w", w.path, err)
	}
	return nil
}

// rollback removes what the copy added, last first.
func (w *layoutWriter) rollback() {
	for i := len(w.added) - 1; i >= 0; i-- {
		a := w.added[i]
		flags := 0
		if a.dir {
			flags = unix.AT_REMOVEDIR
		}
		unix.Unlinkat(a.dirfd, a.name, flags)
	}
	w.added = nil
}

// blobDir opens blobs/alg, creating it (and blobs) if need be.
func (w *layoutWriter) blobDir(alg string) (int, error) {
	if fd, ok := w.dirs[alg]; ok {
		return fd, nil
	}
	blobs, ok := w.dirs[""]
	if !ok {
		var err error
		if blobs, err = w.subdir(w.fd, "blobs", "blobs"); err != nil {
			return -1, err
		}
		w.dirs[""] = blobs
	}
	fd, err := w.subdir(blobs, alg, "blobs/"+alg)
	if err != nil {
		return -1, err
	}
	w.dirs[alg] = fd
	if err := removeStaleTemps(fd, w.path+"/blobs/"+alg); err != nil {
		return -1, err
	}
	return fd, nil
}

// subdir opens the directory name in parent (rel in messages), creating it
// if it does not exist; a link there is refused.
func (w *layoutWriter) subdir(parent int, name, rel string) (int, error) {
	open := func() (int, error) {
		return unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	fd, err := open()
	if errors.Is(err, unix.ENOENT) {
		if err := unix.Mkdirat(parent, name, 0o755); err == nil {
			w.added = append(w.added, addedEntry{dirfd: parent, name: name, dir: true})
		} else if !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("create %s/%s: %w", w.path, rel, err)
		}
		fd, err = open()
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return -1, fmt.Errorf("%s/%s is a symbolic link: copy never writes through links", w.path, rel)
		}
		return -1, fmt.Errorf("%s/%s is not a directory", w.path, rel)
	}
	if err != nil {
		return -1, fmt.Errorf("open %s/%s: %w", w.path, rel, err)
	}
	return fd, nil
}

// putBlob puts the blob b of s into the layout, unless a file holding its
// bytes is there already. A file there with other bytes, or a symbolic
// link, is replaced (with a warning).
func (w *layoutWriter) putBlob(s *source, b blob) error {
	alg, name := b.desc.Digest.Algorithm, b.desc.Digest.Hex
	rel := "blobs/" + alg + "/" + name
	dfd, err := w.blobDir(alg)
	if err != nil {
		return err
	}
	replace := false
	var st unix.Stat_t
	err = unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return fmt.Errorf("%s/%s: %w", w.path, rel, err)
	case st.Mode&unix.S_IFMT == unix.S_IFREG:
		bad, err := w.check(dfd, name, rel, b)
		if err != nil {
			return err
		}
		if bad == nil {
			return nil
		}
		w.warnf("replacing a damaged blob of the destination: %v", bad)
		replace = true
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		w.warnf("%s/%s is a symbolic link: replacing it by the blob (copy never writes through links)", w.path, rel)
		replace = true
	default:
		return fmt.Errorf("%s/%s is not a regular file", w.path, rel)
	}
	rc, err := s.open(b)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := w.writeFile(dfd, name, rel, rc); err != nil {
		return err
	}
	if !replace {
		w.added = append(w.added, addedEntry{dirfd: dfd, name: name})
	}
	return nil
}

// check reads the blob file name in dfd (rel in messages) as b: bad says
// why it is not b, err is an interruption or a file that cannot be opened.
func (w *layoutWriter) check(dfd int, name, rel string, b blob) (bad, err error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: w.path + "/" + rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), w.path+"/"+rel)
	br, err := newBlobReader(w.ctx, f, layoutFile(f.Name()), b.desc, b.what)
	if err != nil {
		f.Close()
		return err, nil
	}
	defer br.Close()
	if _, err := io.Copy(io.Discard, br); err != nil {
		if w.ctx.Err() != nil {
			return nil, errInterrupted
		}
		return err, nil
	}
	return nil, nil
}

// writeFile writes r to a new file in dfd, then renames it to name (rel
// in messages).
func (w *layoutWriter) writeFile(dfd int, name, rel string, r io.Reader) error {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := tmpPrefix + hex.EncodeToString(rnd[:]) + tmpSuffix
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s/%s: %w", w.path, rel, err)
	}
	f := os.NewFile(uintptr(fd), w.path+"/"+rel)
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if err = unix.Renameat(dfd, tmp, dfd, name); err != nil {
			err = fmt.Errorf("rename a new %s/%s into place: %w", w.path, rel, err)
		}
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		if w.ctx.Err() != nil {
			return errInterrupted
		}
		return err // "write DIR/blobs/sha256/HEX: no space left on device"
	}
	return nil
}

func (w *layoutWriter) warnf(format string, args ...any) {
	if w.log != nil {
		fmt.Fprintf(w.log, "oci-builder: warning: "+format+"\n", args...)
	}
}

// index is an image layout's index.json, its members other than
// "manifests" and the entries of "manifests" kept as they were.
type index struct {
	fields    map[string]json.RawMessage
	manifests []json.RawMessage
}

// newIndex is the index of an empty layout.
func newIndex() *index {
	return &index{fields: map[string]json.RawMessage{
		"schemaVersion": json.RawMessage(`2`),
		"mediaType":     json.RawMessage(`"` + types.OCIImageIndex + `"`),
	}}
}

func parseIndex(data []byte) (*index, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return nil, errors.New("not an image index (a JSON object)")
	}
	ix := &index{fields: fields}
	if raw, ok := fields["schemaVersion"]; ok && string(raw) != "2" {
		return nil, fmt.Errorf("not an image index of schema version 2 (schemaVersion %s)", raw)
	}
	if raw, ok := fields["mediaType"]; ok {
		var mt string
		if json.Unmarshal(raw, &mt) != nil || types.MediaType(mt) != types.OCIImageIndex {
			return nil, fmt.Errorf("not an OCI image index (mediaType %s)", raw)
		}
	}
	if raw, ok := fields["manifests"]; ok {
		if err := json.Unmarshal(raw, &ix.manifests); err != nil {
			return nil, fmt.Errorf("manifests: %w", err)
		}
	}
	delete(fields, "manifests")
	return ix, nil
}

// putImage adds the image of s, named tag when tag is not empty (replacing
// the entries named tag), and its artifacts, untagged, those the index
// lists already once.
func (ix *index) putImage(s *source, tag string) error {
	if err := ix.put(s.descriptor(tag), tag); err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, raw := range ix.manifests {
		var e struct {
			Digest string `json:"digest"`
		}
		if json.Unmarshal(raw, &e) == nil {
			listed[e.Digest] = true
		}
	}
	for _, r := range s.referrers {
		if listed[r.desc.Digest.String()] {
			continue
		}
		if err := ix.put(r.desc, ""); err != nil {
			return err
		}
	}
	return nil
}

// put adds the manifest d, named tag when tag is not empty, replacing the
// entries named tag.
func (ix *index) put(d v1.Descriptor, tag string) error {
	if tag != "" {
		kept := ix.manifests[:0]
		for _, raw := range ix.manifests {
			var e struct {
				Annotations map[string]string `json:"annotations"`
			}
			if json.Unmarshal(raw, &e) == nil && e.Annotations[refNameAnnotation] == tag {
				continue
			}
			kept = append(kept, raw)
		}
		ix.manifests = kept
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	ix.manifests = append(ix.manifests, raw)
	return nil
}

func (ix *index) marshal() ([]byte, error) {
	manifests, err := json.Marshal(ix.manifests)
	if err != nil {
		return nil, err
	}
	all := map[string]json.RawMessage{"manifests": manifests}
	for k, v := range ix.fields {
		all[k] = v
	}
	return json.Marshal(all)
}

// descriptor is the manifest's descriptor for a destination's index,
// named tag (none when empty).
func (s *source) descriptor(tag string) v1.Descriptor {
	d := s.desc
	d.Annotations = nil
	for k, v := range s.desc.Annotations {
		if k == refNameAnnotation {
			continue
		}
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[k] = v
	}
	if tag != "" {
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[refNameAnnotation] = tag
	}
	return d
}
