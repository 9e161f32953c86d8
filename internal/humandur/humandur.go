// Package humandur parses human-readable durations such as "7d", "1w" or
// "2h 30m", the syntax the S2 reference server's init file and the S2 CLI
// accept for retention ages and delete-on-empty ages.
package humandur

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Parse parses durations such as "7d", "1w", "2h 30m" or "90s" into whole
// seconds. Units: ns, us, ms, s, m, h, d, w, M (30.44 days) and y (365.25
// days), also spelled out ("2 hours", "1min").
func Parse(s string) (uint64, error) {
	str := strings.TrimSpace(s)
	if str == "" {
		return 0, errors.New("empty duration")
	}
	var nanos float64
	for str != "" {
		i := 0
		for i < len(str) && str[i] >= '0' && str[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: expected a number", s)
		}
		n, err := strconv.ParseUint(str[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", s, err)
		}
		str = strings.TrimLeft(str[i:], " ")
		j := 0
		for j < len(str) && unicode.IsLetter(rune(str[j])) {
			j++
		}
		unit, ok := unitNanos(str[:j])
		if !ok {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q", s, str[:j])
		}
		nanos += float64(n) * unit
		str = strings.TrimLeft(str[j:], " ")
	}
	secs := nanos / 1e9
	if secs >= 1<<63 {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	return uint64(secs), nil
}

// unitNanos returns a unit's length in nanoseconds.
func unitNanos(u string) (float64, bool) {
	const sec = 1e9
	switch u {
	case "ns", "nsec", "nanos":
		return 1, true
	case "us", "usec", "micros":
		return 1e3, true
	case "ms", "msec", "millis":
		return 1e6, true
	case "s", "sec", "secs", "second", "seconds":
		return sec, true
	case "m", "min", "mins", "minute", "minutes":
		return 60 * sec, true
	case "h", "hr", "hrs", "hour", "hours":
		return 3600 * sec, true
	case "d", "day", "days":
		return 86400 * sec, true
	case "w", "week", "weeks":
		return 7 * 86400 * sec, true
	case "M", "month", "months":
		return 2_630_016 * sec, true
	case "y", "year", "years":
		return 31_557_600 * sec, true
	}
	return 0, false
}

// Format writes whole seconds the way the S2 CLI prints durations (the
// Rust humantime crate's format): years (365.25 days), months (30.44
// days), days, hours, minutes and seconds that are not zero, e.g. 604800
// is "7days", 9000 is "2h 30m", 0 is "0s". Parse reads it back.
func Format(secs uint64) string {
	if secs == 0 {
		return "0s"
	}
	var parts []string
	for _, u := range []struct {
		name   string
		secs   uint64
		plural bool
	}{{"year", 31_557_600, true}, {"month", 2_630_016, true}, {"day", 86400, true}, {"h", 3600, false}, {"m", 60, false}, {"s", 1, false}} {
		n := secs / u.secs
		if n == 0 {
			continue
		}
		secs -= n * u.secs
		p := strconv.FormatUint(n, 10) + u.name
		if u.plural && n > 1 {
			p += "s"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}
