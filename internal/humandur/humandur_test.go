package humandur

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]uint64{
		"7d": 604800, "1w": 604800, "2h 30m": 9000, "2h30m": 9000, "90s": 90, "1h": 3600,
		"3 days": 259200, "1500ms": 1, "1y": 31557600, "1M": 2630016, "10min": 600,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "7", "7 fortnights", "1h x", "-1h"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for secs, want := range map[uint64]string{
		0: "0s", 604800: "7days", 86400: "1day", 3600: "1h", 9000: "2h 30m", 90061: "1day 1h 1m 1s", 59: "59s",
		5184000: "1month 29days 13h 26m 24s", 31_557_600: "1year",
	} {
		if got := Format(secs); got != want {
			t.Errorf("Format(%d) = %q, want %q", secs, got, want)
		}
		if back, err := Parse(Format(secs)); err != nil || back != secs {
			t.Errorf("Parse(Format(%d)) = %d, %v", secs, back, err)
		}
	}
}
