package staging

import "golang.org/x/sys/unix"

// renameNoReplace renames from to to, failing with EEXIST if to exists
// (renamex_np with RENAME_EXCL, darwin's RENAME_NOREPLACE).
func renameNoReplace(from, to string) error {
	return unix.RenamexNp(from, to, unix.RENAME_EXCL)
}
