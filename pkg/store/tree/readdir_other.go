//go:build !linux

package tree

// listDir lists the directory open at fd, in the directory's order,
// without "." and "..", through the os package (listDirPortable); buf is
// unused.
func listDir(fd int, _ []byte) ([]DirEntry, error) {
	return listDirPortable(fd)
}
