package nixdb

import (
	"fmt"
	"strings"
)

// DerivationOutputs reads the outputs of a derivation from its .drv file
// (Nix's ATerm: Derive([("out","/nix/store/...","",""),...],...)): those
// whose path is known, as Nix records them when it registers the
// derivation. Content-addressed outputs whose path is not fixed yet
// (empty) are left out, as Nix leaves them.
func DerivationOutputs(drv []byte) ([]Output, error) {
	s := string(drv)
	rest, ok := strings.CutPrefix(s, "Derive([")
	if !ok {
		return nil, fmt.Errorf("not a derivation: it does not start with Derive([")
	}
	var outputs []Output
	for first := true; ; first = false {
		if r, ok := strings.CutPrefix(rest, "]"); ok {
			// The list ends; the rest of the derivation follows.
			if !strings.HasPrefix(r, ",") {
				return nil, fmt.Errorf("derivation outputs: the derivation ends after them")
			}
			return outputs, nil
		}
		var ok bool
		if !first {
			if rest, ok = strings.CutPrefix(rest, ","); !ok {
				return nil, fmt.Errorf("derivation outputs: expected ',' or ']'")
			}
		}
		if rest, ok = strings.CutPrefix(rest, "("); !ok {
			return nil, fmt.Errorf("derivation outputs: expected '('")
		}
		var fields [4]string
		for i := range fields {
			if i > 0 {
				if rest, ok = strings.CutPrefix(rest, ","); !ok {
					return nil, fmt.Errorf("derivation outputs: expected ','")
				}
			}
			var err error
			if fields[i], rest, err = atermString(rest); err != nil {
				return nil, fmt.Errorf("derivation outputs: %w", err)
			}
		}
		if rest, ok = strings.CutPrefix(rest, ")"); !ok {
			return nil, fmt.Errorf("derivation outputs: expected ')'")
		}
		if fields[0] == "" {
			return nil, fmt.Errorf("derivation outputs: an output has no name")
		}
		if fields[1] != "" {
			outputs = append(outputs, Output{Name: fields[0], Path: fields[1]})
		}
	}
}

// atermString reads a quoted ATerm string at the start of s, with Nix's
// escapes (\" \\ \n \r \t), and returns it and what follows.
func atermString(s string) (string, string, error) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, fmt.Errorf("expected a string")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			i++
			if i == len(s) {
				return "", s, fmt.Errorf("unterminated string")
			}
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", s, fmt.Errorf("unterminated string")
}
