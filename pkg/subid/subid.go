// Package subid reads subordinate id ranges, as /etc/subuid and
// /etc/subgid give them (NAME_OR_ID:START:COUNT, one per line), for the
// user namespaces of rootless containers.
package subid

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"

	"github.com/oci-builder/oci-builder/internal/readlimit"
)

// Range is a range of subordinate ids.
type Range struct {
	Start, Count uint32
}

// MaxID is the last id a range may hold: 2^32-1 is (uid_t)-1, which the
// kernel refuses in an id map (container.MaxID, which this package does
// not import).
const MaxID = 1<<32 - 2

// Parse reads START:COUNT, with a count above zero and the range's last
// id at most MaxID.
func Parse(s string) (Range, error) {
	a, b, ok := strings.Cut(s, ":")
	start, err1 := strconv.ParseUint(a, 10, 32)
	count, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil || count == 0 {
		return Range{}, fmt.Errorf("subordinate id range %q is not START:COUNT", s)
	}
	if start+count-1 > MaxID {
		return Range{}, fmt.Errorf("subordinate id range %q ends at %d, past the last id, %d", s, start+count-1, uint64(MaxID))
	}
	return Range{Start: uint32(start), Count: uint32(count)}, nil
}

// Find returns the first range of text, in /etc/subuid's format, for one
// of names (user names or ids); malformed lines are skipped.
func Find(text string, names []string) (Range, bool) {
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Split(strings.TrimSpace(line), ":")
		if len(fields) != 3 {
			continue
		}
		for _, n := range names {
			if fields[0] != n {
				continue
			}
			if r, err := Parse(fields[1] + ":" + fields[2]); err == nil {
				return r, true
			}
		}
	}
	return Range{}, false
}

// ForRunc returns the range that file (/etc/subuid or /etc/subgid) gives
// the user uid (by id or name), when runc can use it: only when helper
// (newuidmap or newgidmap, which runc needs to map more than one id) is
// installed. It returns nil, without error, when there is no usable range.
func ForRunc(file, helper string, uid uint32) (*Range, error) {
	if _, err := exec.LookPath(helper); err != nil {
		return nil, nil
	}
	data, err := readlimit.File(file, "a subordinate id file", readlimit.Credentials)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read subordinate ids: %w", err)
	}
	names := []string{strconv.FormatUint(uint64(uid), 10)}
	if u, err := user.LookupId(names[0]); err == nil {
		names = append(names, u.Username)
	}
	r, ok := Find(string(data), names)
	if !ok {
		return nil, nil
	}
	return &r, nil
}
