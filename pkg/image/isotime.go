package image

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// isoTime matches the ISO 8601 dates and times dockerTools reads (nixpkgs'
// stream_layered_image.py reads created and mtime with Python's
// datetime.fromisoformat): a date, extended (2024-05-01) or basic
// (20240501), then optionally T (or a space) and a time, extended
// (12:00, 12:00:00.5) or basic (1200, 120000), then optionally an offset
// (Z, +02, +02:00, +0200). Week and ordinal dates are not read.
var isoTime = regexp.MustCompile(`^(?:(\d{4})-(\d{2})-(\d{2})|(\d{4})(\d{2})(\d{2}))` +
	`(?:[Tt ](?:(\d{2})(?::(\d{2})(?::(\d{2})([.,]\d+)?)?)?|(\d{2})(?:(\d{2})(?:(\d{2})([.,]\d+)?)?)?)` +
	`([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$`)

// ParseTime reads s, an RFC 3339 date and time or one of the other ISO 8601
// forms dockerTools reads (see isoTime); without an offset it is UTC, the
// time zone of Nix's builds. The ranges are checked (month 13, hour 24
// are errors).
func ParseTime(s string) (time.Time, error) {
	m := isoTime.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date and time (like 2024-05-01T12:00:00Z, 2024-05-01 or 20240501)", s)
	}
	or := func(a, b, dflt string) string {
		switch {
		case a != "":
			return a
		case b != "":
			return b
		}
		return dflt
	}
	year, month, day := or(m[1], m[4], ""), or(m[2], m[5], ""), or(m[3], m[6], "")
	hour, minute, second := or(m[7], m[11], "00"), or(m[8], m[12], "00"), or(m[9], m[13], "00")
	frac := or(m[10], m[14], "")
	if frac != "" {
		frac = "." + frac[1:]
	}
	offset := m[15]
	switch {
	case offset == "" || offset == "z":
		offset = "Z"
	case len(offset) == 3: // +02
		offset += ":00"
	case len(offset) == 5: // +0200
		offset = offset[:3] + ":" + offset[3:]
	}
	t, err := time.Parse(time.RFC3339Nano, year+"-"+month+"-"+day+"T"+hour+":"+minute+":"+second+frac+offset)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a valid date and time: %s", s, rangeError(err))
	}
	return t, nil
}

// rangeError is the part of time.Parse's error that says what is out of
// range ("month out of range"), without its restatement of the layout.
func rangeError(err error) string {
	var pe *time.ParseError
	if errors.As(err, &pe) && pe.Message != "" {
		return strings.TrimPrefix(pe.Message, ": ") // ": month out of range"
	}
	return err.Error()
}
