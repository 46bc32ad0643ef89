package container

import (
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// KnownCapabilities are Linux's capabilities, up to CAP_CHECKPOINT_RESTORE
// (Linux 5.9).
func KnownCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
		"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
		"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
		"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
		"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
		"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
		"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
		"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
		"CAP_CHECKPOINT_RESTORE",
	}
}

// normalizeCapabilities uppercases names, adds the CAP_ prefix, checks each
// against the known list, and sorts and dedupes every set.
func normalizeCapabilities(c *Capabilities) (*specs.LinuxCapabilities, error) {
	known := map[string]bool{}
	for _, k := range KnownCapabilities() {
		known[k] = true
	}
	norm := func(set string, names []string) ([]string, error) {
		seen := map[string]bool{}
		out := []string{}
		for _, n := range names {
			u := strings.ToUpper(strings.TrimSpace(n))
			if !strings.HasPrefix(u, "CAP_") {
				u = "CAP_" + u
			}
			if !known[u] {
				return nil, fmt.Errorf("capabilities.%s: unknown capability %q", set, n)
			}
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
		sort.Strings(out)
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	var out specs.LinuxCapabilities
	var err error
	for _, s := range []struct {
		name string
		in   []string
		out  *[]string
	}{
		{"bounding", c.Bounding, &out.Bounding},
		{"effective", c.Effective, &out.Effective},
		{"inheritable", c.Inheritable, &out.Inheritable},
		{"permitted", c.Permitted, &out.Permitted},
		{"ambient", c.Ambient, &out.Ambient},
	} {
		if *s.out, err = norm(s.name, s.in); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// KnownRlimits are the resource limits runtimes accept.
func KnownRlimits() []string {
	return []string{
		"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
		"RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
		"RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
	}
}

// rlimits checks the user's limits and names them by type
// ("nofile" is RLIMIT_NOFILE), sorted by type. When two names mean the same
// type, the later one in sorted order wins.
func rlimits(user map[string]Rlimit) ([]specs.POSIXRlimit, error) {
	known := map[string]bool{}
	for _, k := range KnownRlimits() {
		known[k] = true
	}
	merged := map[string]Rlimit{}
	for _, name := range sortedKeys(user) {
		u := strings.ToUpper(name)
		if !strings.HasPrefix(u, "RLIMIT_") {
			u = "RLIMIT_" + u
		}
		if !known[u] {
			return nil, fmt.Errorf("rlimits: unknown limit %q", name)
		}
		l := user[name]
		if l.Soft > l.Hard {
			return nil, fmt.Errorf("rlimits.%s: soft limit %d is above the hard limit %d", name, l.Soft, l.Hard)
		}
		merged[u] = l
	}
	var out []specs.POSIXRlimit
	for _, t := range sortedKeys(merged) {
		out = append(out, specs.POSIXRlimit{Type: t, Soft: merged[t].Soft, Hard: merged[t].Hard})
	}
	return out, nil
}
