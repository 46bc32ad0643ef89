package main

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsCoverCommands checks docs/cli.md against the commands' help:
// every command has a section (a "## " heading naming it) and every flag
// its help lists appears in that section, so that the reference cannot
// fall behind the code (it once lacked image's --verify).
func TestDocsCoverCommands(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if errors.Is(err, fs.ErrNotExist) && os.Getenv("CI") == "" {
		// The Nix package builds from the Go sources alone (its
		// fileset), and runs this package's tests there.
		t.Skip("no docs/cli.md in this source tree")
	}
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	var heading string
	for _, part := range strings.SplitAfter(string(doc), "\n") {
		if strings.HasPrefix(part, "## ") {
			heading = part
		}
		sections[heading] += part
	}
	if got := definedFlags(imageUsage); !slices.Contains(got, "--verify") || !slices.Contains(got, "--arch") || slices.Contains(got, "--recursive") {
		t.Fatalf("the flags image's help defines: %q", got)
	}
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			var section string
			for h, text := range sections {
				if strings.Contains(h, "`oci-builder "+c.name+" ") || strings.Contains(h, "`oci-builder "+c.name+"`") ||
					strings.Contains(h, "`"+c.name+" ") || strings.Contains(h, "`"+c.name+"`") {
					section += text
				}
			}
			if section == "" {
				t.Fatalf("docs/cli.md has no section for %s: add a heading \"## `oci-builder %s ...`\"", c.name, c.name)
			}
			for _, f := range definedFlags(c.usage) {
				if !regexp.MustCompile(regexp.QuoteMeta(f) + `\b`).MatchString(section) {
					t.Errorf("%s --help lists %s, which docs/cli.md's section for it does not mention", c.name, f)
				}
			}
		})
	}
}

// definedFlags are the flags a help text defines: those of the first
// column of its lines that begin with a flag ("  --os OS, --arch ARCH
// platform ..."), not flags its prose mentions.
func definedFlags(usage string) []string {
	flag := regexp.MustCompile(`--[a-z][a-z0-9-]*`)
	column := regexp.MustCompile(`\S\s{2,}`)
	var flags []string
	for _, line := range strings.Split(usage, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if !strings.HasPrefix(trimmed, "--") {
			continue
		}
		if loc := column.FindStringIndex(trimmed); loc != nil {
			trimmed = trimmed[:loc[0]+1]
		}
		flags = append(flags, flag.FindAllString(trimmed, -1)...)
	}
	return flags
}
