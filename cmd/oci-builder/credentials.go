package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/oci-builder/oci-builder/internal/readlimit"
	"github.com/oci-builder/oci-builder/pkg/transport"
)

// credentialFlags are the ways to give a registry's credentials on a
// command line, by skopeo's names with a prefix ("dest-" for copy's
// --dest-authfile, "" for sbom's --authfile): a file, a password read from
// stdin, or USER:PASS on the command line itself (warned: ps shows it).
type credentialFlags struct {
	prefix        string
	creds         string
	authFile      string
	user          string
	passwordStdin bool
}

// addCredentialFlags defines the flags on fs.
func addCredentialFlags(fs *flag.FlagSet, prefix string) *credentialFlags {
	c := &credentialFlags{prefix: prefix}
	fs.StringVar(&c.creds, prefix+"creds", "", "")
	fs.StringVar(&c.authFile, prefix+"authfile", "", "")
	fs.StringVar(&c.user, prefix+"username", "", "")
	fs.BoolVar(&c.passwordStdin, prefix+"password-stdin", false, "")
	return c
}

// flag is the flag name as given on the command line.
func (c *credentialFlags) flag(name string) string { return "--" + c.prefix + name }

// check refuses combinations of the flags, for the command cmd.
func (c *credentialFlags) check(cmd string) error {
	given := 0
	for _, set := range []bool{c.creds != "", c.authFile != "", c.user != "" || c.passwordStdin} {
		if set {
			given++
		}
	}
	switch {
	case given > 1:
		return &usageError{fmt.Sprintf("%s: give one of %s, %s and %s with %s", cmd, c.flag("creds"), c.flag("authfile"), c.flag("username"), c.flag("password-stdin"))}
	case c.user != "" && !c.passwordStdin:
		return &usageError{fmt.Sprintf("%s: %s goes with %s (the password is read from stdin, never from the command line)", cmd, c.flag("username"), c.flag("password-stdin"))}
	case c.passwordStdin && c.user == "":
		return &usageError{fmt.Sprintf("%s: %s goes with %s USER", cmd, c.flag("password-stdin"), c.flag("username"))}
	case c.creds != "" && (!strings.Contains(c.creds, ":") || strings.HasPrefix(c.creds, ":")):
		return &usageError{fmt.Sprintf("%s: %s: want USER:PASSWORD", cmd, c.flag("creds"))}
	}
	return nil
}

// apply puts the credentials into opts: it reads the password from stdin
// for --password-stdin, and warns on stderr of --creds.
func (c *credentialFlags) apply(opts *transport.Options, e env) error {
	opts.FlagPrefix = c.prefix
	switch {
	case c.creds != "":
		opts.Username, opts.Password, _ = strings.Cut(c.creds, ":")
		opts.CredentialsFlag = c.flag("creds")
		fmt.Fprintf(e.stderr, "oci-builder: warning: %s puts the password on the command line, where ps and the shell's history show it: use %s FILE, or %s USER %s\n",
			c.flag("creds"), c.flag("authfile"), c.flag("username"), c.flag("password-stdin"))
	case c.passwordStdin:
		p, err := readPassword(e.stdin, c.flag("password-stdin"))
		if err != nil {
			return err
		}
		opts.Username, opts.Password = c.user, p
		opts.CredentialsFlag = c.flag("username") + " and " + c.flag("password-stdin")
	case c.authFile != "":
		opts.AuthFile, opts.CredentialsFlag = c.authFile, c.flag("authfile")
	}
	return nil
}

// readPassword reads a password from the first line of r (stdin), as
// docker login --password-stdin does: the line's end is not part of it.
// flag names the option in errors.
func readPassword(r io.Reader, flag string) (string, error) {
	if r == nil {
		r = strings.NewReader("")
	}
	line, err := bufio.NewReader(io.LimitReader(r, readlimit.Credentials+1)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("%s: read stdin: %w", flag, err)
	}
	if len(line) > readlimit.Credentials {
		return "", fmt.Errorf("%s: the first line of stdin is more than %s long", flag, humanBytes(readlimit.Credentials))
	}
	p := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if p == "" {
		return "", errors.New(flag + ": stdin holds no password (an empty first line, or nothing)")
	}
	return p, nil
}
