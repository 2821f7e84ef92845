package notify

import (
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"time"
)

// Defaults and limits of the notifiers that try more than once within one Notify call (webhook,
// Slack, SMS, voice, email, PagerDuty), when their configuration does not say.
const (
	// DefaultAttempts is the most tries per message.
	DefaultAttempts = 3
	// MaxAttempts is the most tries per message a channel may be set to.
	MaxAttempts = 10
	// DefaultBackoff is the wait after the first failed try, doubled after each further one.
	DefaultBackoff = 500 * time.Millisecond
	// DefaultMaxWait caps each wait between tries, including one the channel asked for.
	DefaultMaxWait = 30 * time.Second
)

// RetryPolicy is how a notifier tries within one Notify call: up to Attempts times, waiting Backoff
// after the first failed try and twice as long after each further one, or as long as the channel
// asked (a Retry-After header), never more than MaxWait. Zero fields mean DefaultAttempts,
// DefaultBackoff and DefaultMaxWait.
type RetryPolicy struct {
	Attempts int
	Backoff  time.Duration
	MaxWait  time.Duration
}

// Do calls try, counting each call with CountAttempt, until it returns nil or a permanent error, the
// tries are used up, the next wait would pass ctx's deadline, or ctx is done. try returns how long
// the channel asked to wait before the next try, or a negative duration when it did not ask. The
// error names the notifier and the try that failed.
func (p RetryPolicy) Do(ctx context.Context, name string, try func(ctx context.Context) (time.Duration, error)) error {
	attempts := min(p.Attempts, MaxAttempts)
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	for attempt := 1; ; attempt++ {
		CountAttempt(ctx)
		retryAfter, err := try(ctx)
		if err == nil {
			return nil
		}
		if IsPermanent(err) || attempt == attempts {
			return fmt.Errorf("%s: attempt %d of %d: %w", name, attempt, attempts, err)
		}
		if ctx.Err() != nil {
			return stopped(name, attempt, attempts, ctx.Err(), err)
		}
		wait := p.backoff(attempt)
		if retryAfter >= 0 {
			wait = min(retryAfter, p.maxWait())
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return fmt.Errorf("%s: stopped after attempt %d of %d, the next in %s would pass the deadline: %w",
				name, attempt, attempts, wait.Round(time.Millisecond), err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return stopped(name, attempt, attempts, ctx.Err(), err)
		case <-timer.C:
		}
	}
}

// stopped reports that ctx ended the tries, with the last try's error when it is not ctx's own.
func stopped(name string, attempt, attempts int, ctxErr, last error) error {
	if errors.Is(last, ctxErr) {
		return fmt.Errorf("%s: stopped at attempt %d of %d: %w", name, attempt, attempts, ctxErr)
	}
	return fmt.Errorf("%s: stopped after attempt %d of %d: %w (last try: %w)", name, attempt, attempts, ctxErr, last)
}

// backoff is the wait after failed tries, with up to a fifth more at random so that notifiers
// failing together do not retry together.
func (p RetryPolicy) backoff(failed int) time.Duration {
	base := p.Backoff
	if base <= 0 {
		base = DefaultBackoff
	}
	d := base << min(failed-1, 20)
	if d <= 0 || d > p.maxWait() {
		d = p.maxWait()
	}
	return min(d+mathrand.N(d/5+1), p.maxWait())
}

func (p RetryPolicy) maxWait() time.Duration {
	if p.MaxWait <= 0 {
		return DefaultMaxWait
	}
	return p.MaxWait
}

// ValidateAttempts reports an attempts setting outside 0 (the default) to MaxAttempts, prefixed with
// path.
func ValidateAttempts(path string, attempts int) error {
	if attempts < 0 || attempts > MaxAttempts {
		return fmt.Errorf("%s.attempts: %d is not between 1 and %d (0 means %d)", path, attempts, MaxAttempts, DefaultAttempts)
	}
	return nil
}
