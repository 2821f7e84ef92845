package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testMessage returns a valid message with every field set.
func testMessage() Message {
	return Message{
		Event:    "backup.failed",
		Severity: Critical,
		Asset:    "orders-db",
		Title:    "Backup of orders-db failed",
		Text:     "pg_dump exited with status 1",
		Fields:   map[string]string{"repository": "/srv/backups", "attempt": "3"},
		Link:     "http://localhost:8233/namespaces/default/workflows/backup-orders-db",
		DedupKey: "backup.failed/orders-db",
		Level:    1,
		Time:     time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC),
	}
}

// fakeNotifier counts its calls and answers with notify (nil accepts every message).
type fakeNotifier struct {
	name   string
	notify func(ctx context.Context, m Message) error
	calls  atomic.Int32
}

func (f *fakeNotifier) Name() string { return f.name }

func (f *fakeNotifier) Notify(ctx context.Context, m Message) error {
	f.calls.Add(1)
	if f.notify == nil {
		return nil
	}
	return f.notify(ctx, m)
}

func TestSeverityValid(t *testing.T) {
	for s, want := range map[Severity]bool{Info: true, Warning: true, Critical: true, "": false, "error": false, "CRITICAL": false} {
		if got := s.Valid(); got != want {
			t.Errorf("Severity(%q).Valid() = %v, want %v", s, got, want)
		}
	}
}

func TestMessageValidate(t *testing.T) {
	if err := testMessage().Validate(); err != nil {
		t.Fatalf("valid message: %v", err)
	}
	err := Message{Severity: "loud", Level: -1}.Validate()
	for _, want := range []string{"event: required", `severity: "loud"`, "title: required", "level: -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestFieldKeysAreSorted(t *testing.T) {
	m := Message{Fields: map[string]string{"zeta": "", "alpha": "", "mu": ""}}
	if got := m.FieldKeys(); !slices.Equal(got, []string{"alpha", "mu", "zeta"}) {
		t.Fatalf("FieldKeys = %v", got)
	}
}

func TestIsPermanent(t *testing.T) {
	perm := Permanent(errors.New("rejected"))
	temp := errors.New("connection refused")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", temp, false},
		{"permanent", perm, true},
		{"wrapped permanent", fmt.Errorf("webhook: %w", perm), true},
		{"wrapped twice", fmt.Errorf("route: %w", fmt.Errorf("webhook: %w", perm)), true},
		{"joined, all permanent", errors.Join(perm, Permanent(errors.New("bad url"))), true},
		{"joined, one retryable", errors.Join(perm, temp), false},
		{"wrapped join, one retryable", fmt.Errorf("notify: %w", errors.Join(perm, temp)), false},
		{"two %w, one retryable", fmt.Errorf("%w (%w)", context.Canceled, perm), false},
		{"context canceled", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.want {
				t.Fatalf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) is not nil")
	}
	if !errors.Is(fmt.Errorf("x: %w", Permanent(io.EOF)), io.EOF) {
		t.Fatal("PermanentError does not unwrap")
	}
}

// TestNotifierContract runs every implementation through what Notifier promises to its callers.
func TestNotifierContract(t *testing.T) {
	var received atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
	}))
	defer srv.Close()
	impls := map[string]struct {
		n        Notifier
		accepted func() int
	}{
		"log": {&Log{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil},
		"webhook": {&Webhook{URL: srv.URL + "/hook?token=hidden", Secret: StaticSecret([]byte("k"))},
			func() int { return int(received.Swap(0)) }},
	}
	for name, impl := range impls {
		t.Run(name, func(t *testing.T) {
			n := impl.n
			if n.Name() == "" || strings.Contains(n.Name(), "hidden") {
				t.Fatalf("Name() = %q: want a name without credentials", n.Name())
			}
			if err := n.Notify(context.Background(), testMessage()); err != nil {
				t.Fatalf("Notify on a channel that is up: %v", err)
			}
			if impl.accepted != nil && impl.accepted() != 1 {
				t.Fatal("Notify returned nil but the channel did not receive the message")
			}

			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() { errs[i] = n.Notify(context.Background(), testMessage()) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("concurrent Notify: %v", err)
			}
			if impl.accepted != nil && impl.accepted() != len(errs) {
				t.Fatal("concurrent Notify: not every message was received")
			}

			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			done := make(chan struct{})
			go func() {
				_ = n.Notify(ctx, testMessage())
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Notify did not return with a cancelled context")
			}
		})
	}
}
