package statuspage

import (
	"fmt"
	"time"
)

// moment is t as the page shows it, relative to now.
func moment(t, now time.Time) Moment {
	if t.IsZero() {
		return Moment{}
	}
	return Moment{Time: t.UTC(), UTC: t.UTC().Format("2006-01-02 15:04 UTC"), Relative: relative(t, now)}
}

// relative is "just now", "5 minutes ago" or "in 2 hours".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + humanDuration(-d)
	}
	if d < time.Minute {
		return "just now"
	}
	return humanDuration(d) + " ago"
}

// humanDuration says d in words, to one or two units: "45 seconds", "12 minutes",
// "1 hour 5 minutes", "3 days".
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return plural(int(d/time.Second), "second")
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return plural(h, "hour")
		}
		return plural(h, "hour") + " " + plural(m, "minute")
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 || days >= 3 {
		return plural(days, "day")
	}
	return plural(days, "day") + " " + plural(h, "hour")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
