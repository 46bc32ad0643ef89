package image_test

import (
	"strings"
	"testing"
	"time"

	"github.com/oci-builder/oci-builder/pkg/image"
)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "2024-05-01T12:00:00Z", want: "2024-05-01T12:00:00Z"},
		{in: "2024-05-01T12:00:00.25+02:00", want: "2024-05-01T10:00:00.25Z"},
		{in: "2024-05-01T12:00:00,5Z", want: "2024-05-01T12:00:00.5Z"},
		// The forms dockerTools reads with Python's datetime.fromisoformat
		// (created = substring 0 8 self.lastModifiedDate among them);
		// without an offset, UTC.
		{in: "20240501", want: "2024-05-01T00:00:00Z"},
		{in: "2024-05-01", want: "2024-05-01T00:00:00Z"},
		{in: "2024-05-01T12", want: "2024-05-01T12:00:00Z"},
		{in: "2024-05-01 12:30", want: "2024-05-01T12:30:00Z"},
		{in: "2024-05-01T12:30:15", want: "2024-05-01T12:30:15Z"},
		{in: "20240501T123015", want: "2024-05-01T12:30:15Z"},
		{in: "20240501T1230+0100", want: "2024-05-01T11:30:00Z"},
		{in: "2024-05-01T12:00-05", want: "2024-05-01T17:00:00Z"},
		{in: "2024-05-01t12:00:00z", want: "2024-05-01T12:00:00Z"},
		{in: "yesterday", err: `"yesterday" is not an ISO 8601 date and time`},
		{in: "2024-5-1", err: "is not an ISO 8601 date and time"},
		{in: "2024-05-01+02:00", err: "is not an ISO 8601 date and time"},
		{in: "2024-05-01T12:00:00 UTC", err: "is not an ISO 8601 date and time"},
		{in: "", err: "is not an ISO 8601 date and time"},
		{in: "2024-13-01", err: `"2024-13-01" is not a valid date and time: month out of range`},
		{in: "2024-02-30T00:00:00Z", err: "day out of range"},
		{in: "2024-05-01T24:00:00Z", err: "hour out of range"},
	} {
		got, err := image.ParseTime(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTime(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
		case err != nil:
			t.Errorf("ParseTime(%q): %v", tc.in, err)
		case got.UTC().Format(time.RFC3339Nano) != tc.want:
			t.Errorf("ParseTime(%q) = %s, want %s", tc.in, got.UTC().Format(time.RFC3339Nano), tc.want)
		}
	}
}
