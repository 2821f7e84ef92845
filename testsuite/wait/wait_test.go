package wait

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestForReturnsOnceCheckPasses(t *testing.T) {
	n := 0
	For(t, 5*time.Second, "three calls", func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("%d calls", n)
	}
}

// recorder is a testing.TB whose Fatalf records the message and ends the goroutine, as t.Fatalf does.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

func TestForFailsWithTheLastError(t *testing.T) {
	r := &recorder{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != r {
				t.Fatalf("recovered %v", p)
			}
		}()
		For(r, 300*time.Millisecond, "the impossible", func() error { return errors.New("still no") })
	}()
	if r.msg != "the impossible: still no" || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("failed with %q after %s", r.msg, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	func() {
		defer func() { _ = recover() }()
		Until(ctx, r, "cancelled", func() error { return errors.New("no") })
	}()
	if r.msg != "cancelled: no" {
		t.Fatalf("failed with %q", r.msg)
	}
}
