package staging

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// inStoreMount tells whether the directory fd is in the store storeDir
// through a bind mount of a part of it (mount --bind /nix/store/HASH-x
// dir), which ".." cannot see: the root of such a mount leads to the
// directory above its mount point, not above its source. It compares
// the filesystems and the paths within them that /proc/self/mountinfo
// gives for fd's mount and the store's. Without /proc, it says no.
func inStoreMount(fd int, storeDir string) (bool, error) {
	mounts, err := readMountInfo()
	if err != nil {
		return false, nil
	}
	store, err := os.Open(storeDir)
	if err != nil {
		return false, nil
	}
	defer store.Close()
	storeDev, storePath, ok := fsPath(int(store.Fd()), mounts)
	if !ok {
		return false, nil
	}
	dev, path, ok := fsPath(fd, mounts)
	if !ok || dev != storeDev {
		return false, nil
	}
	return path == storePath || strings.HasPrefix(path, strings.TrimSuffix(storePath, "/")+"/"), nil
}

// mountEntry is a line of /proc/self/mountinfo: the filesystem (its
// device), the path within it mounted (root) and where (point).
type mountEntry struct {
	dev, root, point string
}

// readMountInfo reads /proc/self/mountinfo, by mount ID.
func readMountInfo() (map[string]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mounts := map[string]mountEntry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// ID PARENT MAJOR:MINOR ROOT POINT OPTIONS ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mounts[fields[0]] = mountEntry{dev: fields[2], root: unescapeMount(fields[3]), point: unescapeMount(fields[4])}
	}
	return mounts, sc.Err()
}

// fsPath is the device of fd's filesystem and fd's path within it: the
// mount's root and fd's path below the mount point.
func fsPath(fd int, mounts map[string]mountEntry) (dev, path string, ok bool) {
	id, err := mountID(fd)
	if err != nil {
		return "", "", false
	}
	m, found := mounts[id]
	if !found {
		return "", "", false
	}
	abs, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil || !strings.HasPrefix(abs, "/") {
		return "", "", false
	}
	rel, err := filepath.Rel(m.point, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", "", false
	}
	return m.dev, filepath.Join(m.root, rel), true
}

// mountID reads the mount ID of fd from /proc/self/fdinfo.
func mountID(fd int) (string, error) {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "mnt_id:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no mnt_id in /proc/self/fdinfo/%d", fd)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
