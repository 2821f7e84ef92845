package notify

import (
	"errors"
	"fmt"
	"path"
	"slices"
)

// Filter selects the messages a channel of a route wants, so that each group of people gets only
// what it should: the on-call phone only critical escalations, the DBA mailing list only backup
// events. The zero Filter wants every message.
type Filter struct {
	// MinSeverity is the least severity the channel wants: info (the default, everything), warning
	// or critical.
	MinSeverity Severity `yaml:"min_severity" json:"min_severity,omitempty"`
	// MinLevel is the least escalation level (Message.Level) the channel wants; nil means 0, every
	// level, except for voice calls, where it means 1: a call only once the first notice went
	// unanswered.
	MinLevel *int `yaml:"min_level" json:"min_level,omitempty"`
	// Events, when set, are the events the channel wants, as exact names ("rpo.stale") or patterns
	// where * stands for any run of characters and ? for one ("approval.*", "*.failed").
	Events []string `yaml:"events" json:"events,omitempty"`
}

// severityRank orders the severities; an unknown one ranks as critical, so that no filter drops it.
func severityRank(s Severity) int {
	switch s {
	case Info:
		return 0
	case Warning:
		return 1
	default:
		return 2
	}
}

// Validate returns every problem with the filter, prefixed with path, joined, or nil.
func (f Filter) Validate(path string) error {
	var errs []error
	if f.MinSeverity != "" && !f.MinSeverity.Valid() {
		errs = append(errs, fmt.Errorf("%s.min_severity: %q is not one of %s, %s, %s", path, f.MinSeverity, Info, Warning, Critical))
	}
	if f.MinLevel != nil && *f.MinLevel < 0 {
		errs = append(errs, fmt.Errorf("%s.min_level: %d is negative", path, *f.MinLevel))
	}
	for i, e := range f.Events {
		if e == "" {
			errs = append(errs, fmt.Errorf("%s.events[%d]: empty; name an event such as rpo.stale or a pattern such as approval.*", path, i))
		} else if _, err := matchEvent(e, ""); err != nil {
			errs = append(errs, fmt.Errorf("%s.events[%d]: %q is not a valid pattern: %w", path, i, e, err))
		}
	}
	return errors.Join(errs...)
}

// Wants reports whether a channel with this filter wants m: m is at least MinSeverity and MinLevel,
// and its event matches one of Events, if any.
func (f Filter) Wants(m Message) bool {
	if f.MinSeverity != "" && severityRank(m.Severity) < severityRank(f.MinSeverity) {
		return false
	}
	if f.MinLevel != nil && m.Level < *f.MinLevel {
		return false
	}
	return len(f.Events) == 0 || slices.ContainsFunc(f.Events, func(pattern string) bool {
		ok, _ := matchEvent(pattern, m.Event)
		return ok
	})
}

// WithDefaults returns f with minSeverity and minLevel where f leaves them unset: a channel's own
// defaults, such as a voice call's for critical messages of escalation level 1 or more.
func (f Filter) WithDefaults(minSeverity Severity, minLevel int) Filter {
	if f.MinSeverity == "" {
		f.MinSeverity = minSeverity
	}
	if f.MinLevel == nil {
		f.MinLevel = &minLevel
	}
	return f
}

// matchEvent matches an event against a pattern of Filter.Events. Events have no '/', so path.Match's
// * matches any run of characters in them.
func matchEvent(pattern, event string) (bool, error) {
	return path.Match(pattern, event)
}
