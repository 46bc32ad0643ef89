package daemon

import (
	"path"
	"strings"
)

// DefaultSocket is where nix-daemon listens unless told otherwise.
const DefaultSocket = "/nix/var/nix/daemon-socket/socket"

// SocketPath returns the daemon's socket that Nix's client would use, and
// whether the daemon may be asked about the store Nix would open. That
// store is Nix's `store` setting: from NIX_CONFIG, else the user's and the
// system's nix.conf (read with readFile; `include` lines are not
// followed), else NIX_REMOTE, else "auto". With "daemon" or
// "unix://[PATH]" Nix asks the daemon (PATH, when given, is the socket);
// with "auto" it opens the database itself when it may write to it (root,
// the owner of a single-user store) and asks the daemon otherwise, and the
// daemon serves that same database, so it may be asked. Any other store
// (local with another root, ssh-ng://...) is not the daemon's. The socket
// is $NIX_DAEMON_SOCKET_PATH, else daemon-socket/socket in $NIX_STATE_DIR,
// else DefaultSocket.
func SocketPath(getenv func(string) string, readFile func(string) ([]byte, error)) (string, bool) {
	socket := DefaultSocket
	if s := getenv("NIX_DAEMON_SOCKET_PATH"); s != "" {
		socket = s
	} else if d := getenv("NIX_STATE_DIR"); d != "" {
		socket = path.Join(d, "daemon-socket/socket")
	}
	switch st := storeSetting(getenv, readFile); {
	case st == "" || st == "auto" || st == "daemon" || st == "unix://":
		return socket, true
	case strings.HasPrefix(st, "unix://") && !strings.Contains(st, "?"):
		return strings.TrimPrefix(st, "unix://"), true
	default:
		return "", false
	}
}

// storeSetting returns the value of Nix's `store` setting as Nix would
// find it: NIX_REMOTE is its default, the configuration files (the
// system's, then the user's) and NIX_CONFIG set it, the last one winning.
func storeSetting(getenv func(string) string, readFile func(string) ([]byte, error)) string {
	value := getenv("NIX_REMOTE")
	for _, f := range confFiles(getenv) {
		if data, err := readFile(f); err == nil {
			if v, ok := confStore(string(data)); ok {
				value = v
			}
		}
	}
	if v, ok := confStore(getenv("NIX_CONFIG")); ok {
		value = v
	}
	return value
}

// confFiles lists the nix.conf files in the order Nix applies them (a
// later one's setting wins): the system's ($NIX_CONF_DIR/nix.conf, else
// /etc/nix/nix.conf), then the user's, the first listed applied last
// ($NIX_USER_CONF_FILES, else $XDG_CONFIG_HOME or ~/.config, then each of
// $XDG_CONFIG_DIRS, with nix/nix.conf in each directory).
func confFiles(getenv func(string) string) []string {
	dir := getenv("NIX_CONF_DIR")
	if dir == "" {
		dir = "/etc/nix"
	}
	files := []string{path.Join(dir, "nix.conf")}
	if u := getenv("NIX_USER_CONF_FILES"); u != "" {
		user := strings.Split(u, ":")
		for i := len(user) - 1; i >= 0; i-- {
			if user[i] != "" {
				files = append(files, user[i])
			}
		}
		return files
	}
	dirs := strings.Split(getenv("XDG_CONFIG_DIRS"), ":")
	if getenv("XDG_CONFIG_DIRS") == "" {
		dirs = []string{"/etc/xdg"}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if dirs[i] != "" {
			files = append(files, path.Join(dirs[i], "nix/nix.conf"))
		}
	}
	home := getenv("XDG_CONFIG_HOME")
	if home == "" && getenv("HOME") != "" {
		home = path.Join(getenv("HOME"), ".config")
	}
	if home != "" {
		files = append(files, path.Join(home, "nix/nix.conf"))
	}
	return files
}

// confStore returns the last value that the configuration text conf (nix.conf
// lines: "name = value", "#" starting a comment) gives `store`.
func confStore(conf string) (string, bool) {
	value, found := "", false
	for _, line := range strings.Split(conf, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		name, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(name) == "store" {
			value, found = strings.TrimSpace(v), true
		}
	}
	return value, found
}
