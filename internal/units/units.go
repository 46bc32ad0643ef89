// Package units formats byte counts for the progress and summary lines of
// the command and its packages.
package units

import "fmt"

// Bytes formats n with binary units: "512 B", "1.5 KiB", "2.0 GiB".
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
