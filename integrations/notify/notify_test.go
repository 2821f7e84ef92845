package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/internal/notifytest"
)

// fakeNotifier counts its calls and answers with notify (nil accepts every message).
type fakeNotifier struct {
	name   string
	notify func(ctx context.Context, m notify.Message) error
	calls  atomic.Int32
}

func (f *fakeNotifier) Name() string { return f.name }

func (f *fakeNotifier) Notify(ctx context.Context, m notify.Message) error {
	f.calls.Add(1)
	if f.notify == nil {
		return nil
	}
	return f.notify(ctx, m)
}

func TestSeverityValid(t *testing.T) {
	for s, want := range map[notify.Severity]bool{notify.Info: true, notify.Warning: true, notify.Critical: true, "": false, "error": false, "CRITICAL": false} {
		if got := s.Valid(); got != want {
			t.Errorf("Severity(%q).Valid() = %v, want %v", s, got, want)
		}
	}
}

func TestMessageValidate(t *testing.T) {
	if err := notifytest.Message().Validate(); err != nil {
		t.Fatalf("valid message: %v", err)
	}
	err := notify.Message{Severity: "loud", Level: -1}.Validate()
	for _, want := range []string{"event: required", `severity: "loud"`, "title: required", "level: -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestFieldKeysAreSorted(t *testing.T) {
	m := notify.Message{Fields: map[string]string{"zeta": "", "alpha": "", "mu": ""}}
	if got := m.FieldKeys(); !slices.Equal(got, []string{"alpha", "mu", "zeta"}) {
		t.Fatalf("FieldKeys = %v", got)
	}
}

func TestIsPermanent(t *testing.T) {
	perm := notify.Permanent(errors.New("rejected"))
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
		{"joined, all permanent", errors.Join(perm, notify.Permanent(errors.New("bad url"))), true},
		{"joined, one retryable", errors.Join(perm, temp), false},
		{"wrapped join, one retryable", fmt.Errorf("notify: %w", errors.Join(perm, temp)), false},
		{"two %w, one retryable", fmt.Errorf("%w (%w)", context.Canceled, perm), false},
		{"context canceled", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := notify.IsPermanent(tt.err); got != tt.want {
				t.Fatalf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if notify.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) is not nil")
	}
	if !errors.Is(fmt.Errorf("x: %w", notify.Permanent(io.EOF)), io.EOF) {
		t.Fatal("PermanentError does not unwrap")
	}
}
