package decision

import (
	"strconv"
	"time"
)

// FormatDuration renders a token-time distance for people, at the precision that matters
// for each size: "42s", "4m12s", "3h4m", "2d3h". Components that are zero are left out
// ("12m", "3h", "2d"); negative durations are rendered by magnitude. It is used by the
// messages that say "expired 4m12s ago" or "valid for another 12m".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	s := int64((d + time.Second/2) / time.Second)
	if s < 60 {
		return strconv.FormatInt(s, 10) + "s"
	}
	var b []byte
	part := func(n int64, unit byte) {
		if n > 0 {
			b = strconv.AppendInt(b, n, 10)
			b = append(b, unit)
		}
	}
	switch {
	case s < 3600:
		part(s/60, 'm')
		part(s%60, 's')
	case s < 86400:
		m := (s + 30) / 60 // round to the minute
		if m >= 24*60 {
			return "1d"
		}
		part(m/60, 'h')
		part(m%60, 'm')
	default:
		h := (s + 1800) / 3600 // round to the hour
		part(h/24, 'd')
		part(h%24, 'h')
	}
	return string(b)
}
