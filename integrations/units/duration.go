package units

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes as a Go duration string ("1m30s") in JSON and YAML,
// so that workflow inputs typed by hand on the temporal CLI stay readable. A bare JSON number is read as
// seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string ("5s") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	parsed, err := parse(v)
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// MarshalText writes d as a duration string; YAML encoders use it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a duration string; YAML decoders use it.
func (d *Duration) UnmarshalText(b []byte) error {
	parsed, err := parse(string(b))
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

func parse(v any) (Duration, error) {
	switch v := v.(type) {
	case string:
		if v == "" {
			return 0, nil
		}
		td, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use a number with a unit, such as 30s, 5m or 1h30m", v)
		}
		if td < 0 {
			return 0, fmt.Errorf("invalid duration %q: must not be negative", v)
		}
		return Duration(td), nil
	case float64:
		if v < 0 {
			return 0, fmt.Errorf("invalid duration %v: must not be negative", v)
		}
		return Duration(v * float64(time.Second)), nil
	case nil:
		return 0, nil
	default:
		return 0, fmt.Errorf("invalid duration %v: want a string such as \"30s\"", v)
	}
}

// Human rounds d for people to read: to the microsecond below a millisecond, to the millisecond below
// a minute, and to the second above, leaving out zero minutes and seconds ("2h", "1h30m").
func (d Duration) Human() string {
	td := time.Duration(d)
	switch {
	case td < time.Millisecond:
		return td.Round(time.Microsecond).String()
	case td < time.Minute:
		return td.Round(time.Millisecond).String()
	default:
		s := td.Round(time.Second).String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	}
}
