package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Rate is a count per time window, written "N/unit" ("30/min").
type Rate struct {
	Count int
	Per   time.Duration
}

// String formats the rate as ParseRate reads it ("30/min"); windows that are not a whole
// second, minute or hour fall back to a Go duration ("30/1m30s").
func (r Rate) String() string {
	n := strconv.Itoa(r.Count) + "/"
	switch r.Per {
	case time.Second:
		return n + "s"
	case time.Minute:
		return n + "min"
	case time.Hour:
		return n + "h"
	}
	return n + r.Per.String()
}

// rateUnits maps the units ParseRate accepts to their durations.
var rateUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
}

// maxRateCount bounds N so arithmetic on rates cannot overflow.
const maxRateCount = 1_000_000

// ParseRate parses "N/unit", where N is a positive integer and unit is s, sec, second,
// min, minute, h or hour (plurals accepted).
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, errors.New(`write a rate as N/unit, such as "30/min" (units: s, min, h)`)
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 1 || n > maxRateCount {
		return Rate{}, errors.New("the count in N/unit must be a whole number from 1 to 1000000")
	}
	per, ok := rateUnits[strings.TrimSpace(unit)]
	if !ok {
		return Rate{}, errors.New("the unit in N/unit must be s, sec, second, min, minute, h or hour")
	}
	return Rate{Count: n, Per: per}, nil
}
