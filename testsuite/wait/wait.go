// Package wait holds the helpers tests use to wait for something that happens in the background:
// a workflow to show in visibility, a server to answer, a replica to catch up.
package wait

import (
	"context"
	"testing"
	"time"
)

// For calls check until it returns nil, failing t with what and check's last error once within
// has passed. It looks every 100 ms, or more often for a short within.
func For(t testing.TB, within time.Duration, what string, check func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	Until(ctx, t, what, check)
}

// Until calls check until it returns nil, failing t with what and check's last error once ctx
// ends.
func Until(ctx context.Context, t testing.TB, what string, check func() error) {
	t.Helper()
	every := 100 * time.Millisecond
	if d, ok := ctx.Deadline(); ok {
		every = min(every, max(time.Until(d)/20, 10*time.Millisecond))
	}
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(every):
		}
	}
}
