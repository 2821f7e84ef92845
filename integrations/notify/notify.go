package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"time"
)

// Severity says how urgently a message needs a person.
type Severity string

// The severities, from least to most urgent.
const (
	// Info needs no action: an RPO watchdog cleared, a recovery finished.
	Info Severity = "info"
	// Warning needs attention soon: a verification found a problem, an approval is waiting.
	Warning Severity = "warning"
	// Critical needs a person now: backups are failing or the RPO is already breached.
	Critical Severity = "critical"
)

// Valid reports whether s is one of Info, Warning and Critical.
func (s Severity) Valid() bool {
	return s == Info || s == Warning || s == Critical
}

// Message is one alert. Channels render it in their own way, but each shows the title, the severity,
// the text, the fields and the link.
type Message struct {
	// Event names what happened, dotted: "backup.failed", "verify.failed", "rpo.stale", "rpo.cleared",
	// "approval.requested".
	Event    string   `json:"event"`
	Severity Severity `json:"severity"`
	// Asset is the name of the asset concerned, if any.
	Asset string `json:"asset,omitempty"`
	// Title is one line that stands on its own, as in an SMS or a notification banner.
	Title string `json:"title"`
	// Text is the body, plain text.
	Text string `json:"text,omitempty"`
	// Fields are extra facts shown as a table, in the order of FieldKeys.
	Fields map[string]string `json:"fields,omitempty"`
	// Link points to more detail, such as the workflow in the Temporal Web UI.
	Link string `json:"link,omitempty"`
	// DedupKey identifies the incident: messages with the same key are about the same incident, and
	// receivers that deduplicate (webhook receivers, PagerDuty) use it to group or resolve them.
	DedupKey string `json:"dedup_key,omitempty"`
	// Level is the escalation level: 0 for the first notice, 1 for the first reminder, and so on.
	Level int `json:"level,omitempty"`
	// Time is when it happened. Router.Notify sets it to the current time when it is zero.
	Time time.Time `json:"time"`
	// Plan is the recovery plan concerned, if any; routes can select messages by plan.
	Plan string `json:"plan,omitempty"`
	// Approval is set on "approval.requested" messages: channels that can take a decision (Slack
	// buttons) offer one for this gate.
	Approval *ApprovalRef `json:"approval,omitempty"`
	// Refs are the references earlier deliveries of the same incident returned (Delivery.Ref), by
	// notifier name: a channel that can update a message in place or reply in its thread uses its own.
	Refs map[string]string `json:"refs,omitempty"`
	// ID identifies this notification across retries: the Notify activity sets it from its own
	// identity, so a delivery repeated after a worker died carries the same ID and a receiver can
	// drop it (webhooks send it as the delivery ID). Empty: each delivery gets a random one.
	ID string `json:"id,omitempty"`
}

// ApprovalRef names the approval gate a message asks people to decide.
type ApprovalRef struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	Gate       string `json:"gate"`
	// Options are the choices of a decision gate; empty for an approve/reject gate.
	Options []string `json:"options,omitempty"`
	// Approvers are the identities allowed to decide; empty means anyone but the requester.
	Approvers []string `json:"approvers,omitempty"`
}

// Validate returns every problem with the message, joined, or nil.
func (m Message) Validate() error {
	var errs []error
	if m.Event == "" {
		errs = append(errs, errors.New("event: required"))
	}
	if !m.Severity.Valid() {
		errs = append(errs, fmt.Errorf("severity: %q is not one of %s, %s, %s", m.Severity, Info, Warning, Critical))
	}
	if m.Title == "" {
		errs = append(errs, errors.New("title: required"))
	}
	if m.Level < 0 {
		errs = append(errs, fmt.Errorf("level: %d is negative", m.Level))
	}
	return errors.Join(errs...)
}

// FieldKeys returns the keys of m.Fields, sorted: the order in which channels show the fields.
func (m Message) FieldKeys() []string {
	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Notifier delivers messages to one channel. Implementations are safe for concurrent use.
type Notifier interface {
	// Notify delivers m and returns nil only once the channel has accepted it. An error for which
	// IsPermanent reports true will recur if the call is repeated (a rejected message, a missing
	// secret, a wrong URL); any other error may go away on a later call. Notify returns when ctx is
	// done. Implementations that try more than once within a call report each try with CountAttempt.
	Notify(ctx context.Context, m Message) error

	// Name identifies the channel in deliveries and errors, without credentials: "log",
	// "webhook https://hooks.example.com/lifeboat".
	Name() string
}

// PermanentError marks a failure that repeating the same call cannot fix.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err in a PermanentError; it returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether retrying cannot help: err is or wraps a PermanentError. An error that
// joins several (errors.Join) is permanent only when every one of them is, since retrying helps as
// long as one failure can go away.
func IsPermanent(err error) bool {
	for err != nil {
		if _, ok := err.(*PermanentError); ok {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			errs := slices.DeleteFunc(u.Unwrap(), func(e error) bool { return e == nil })
			if len(errs) == 0 {
				return false
			}
			for _, e := range errs {
				if !IsPermanent(e) {
					return false
				}
			}
			return true
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

type attemptsKey struct{}

type attemptCounter struct{ n atomic.Int64 }

// CountAttempt records one try to deliver a message, for the Delivery that Router.Notify reports.
// Notifiers that retry within one Notify call call it before each try; outside a context of
// WithAttemptCount it does nothing.
func CountAttempt(ctx context.Context) {
	if c, ok := ctx.Value(attemptsKey{}).(*attemptCounter); ok {
		c.n.Add(1)
	}
}

// WithAttemptCount returns a context in which CountAttempt counts, and a function that returns how
// many tries it has counted so far. Router.Notify reports the count as Delivery.Attempts; a caller
// of a Notifier's Notify can use it the same way.
func WithAttemptCount(ctx context.Context) (context.Context, func() int) {
	c := &attemptCounter{}
	return context.WithValue(ctx, attemptsKey{}, c), func() int { return int(c.n.Load()) }
}
