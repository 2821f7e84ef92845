package notify

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// notifierFunc is a notifier of a type that cannot be compared.
type notifierFunc func(ctx context.Context, m Message) error

func (f notifierFunc) Name() string                                { return "func" }
func (f notifierFunc) Notify(ctx context.Context, m Message) error { return f(ctx, m) }

func failing(err error) func(context.Context, Message) error {
	return func(context.Context, Message) error { return err }
}

func newTestRouter(t *testing.T, routes map[string][]Notifier) *Router {
	t.Helper()
	r, err := NewRouter(routes)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func notifierNames(ds []Delivery) []string {
	var names []string
	for _, d := range ds {
		names = append(names, d.Route+"/"+d.Notifier)
	}
	return names
}

func TestRouterDelivers(t *testing.T) {
	down := errors.New("connection refused")
	tests := []struct {
		name        string
		routes      func(a, b, c *fakeNotifier) map[string][]Notifier
		send        []string
		want        []string // route/notifier of each delivery, in order
		wantCalls   [3]int32
		wantFailed  []string
		wantErr     string
		wantPermErr bool
	}{
		{
			name: "every notifier of every route",
			routes: func(a, b, c *fakeNotifier) map[string][]Notifier {
				return map[string][]Notifier{"ops": {a, b}, "dba": {c}}
			},
			send:      []string{"ops", "dba"},
			want:      []string{"ops/a", "ops/b", "dba/c"},
			wantCalls: [3]int32{1, 1, 1},
		},
		{
			name: "a notifier on two routes gets the message once",
			routes: func(a, b, c *fakeNotifier) map[string][]Notifier {
				return map[string][]Notifier{"ops": {a, b}, "dba": {b, c}, "default": {a}}
			},
			send:      []string{"dba", "ops", "dba"},
			want:      []string{"dba/b", "dba/c", "ops/a"},
			wantCalls: [3]int32{1, 1, 1},
		},
		{
			name: "no routes means the default route",
			routes: func(a, b, c *fakeNotifier) map[string][]Notifier {
				return map[string][]Notifier{"default": {a}, "ops": {b, c}}
			},
			send:      nil,
			want:      []string{"default/a"},
			wantCalls: [3]int32{1, 0, 0},
		},
		{
			name: "one channel down is reported, not an error",
			routes: func(a, b, c *fakeNotifier) map[string][]Notifier {
				b.notify = failing(down)
				return map[string][]Notifier{"ops": {a, b}}
			},
			send:       []string{"ops"},
			want:       []string{"ops/a", "ops/b"},
			wantCalls:  [3]int32{1, 1, 0},
			wantFailed: []string{"ops/b"},
		},
		{
			name: "every channel down is an error",
			routes: func(a, b, c *fakeNotifier) map[string][]Notifier {
				a.notify = failing(down)
				b.notify = failing(Permanent(errors.New("400 Bad Request")))
				return map[string][]Notifier{"ops": {a}, "dba": {b}}
			},
			send:       []string{"ops", "dba"},
			want:       []string{"ops/a", "dba/b"},
			wantCalls:  [3]int32{1, 1, 0},
			wantFailed: []string{"ops/a", "dba/b"},
			wantErr:    `notify: no notifier accepted backup.failed "Backup of orders-db failed": route "ops": connection refused` + "\n" + `route "dba": 400 Bad Request`,
		},
		{
			name: "every channel rejects: permanent",
			routes: func(a, b, c *fakeNotifier) map[string][]Notifier {
				a.notify = failing(Permanent(errors.New("401 Unauthorized")))
				b.notify = failing(Permanent(errors.New("400 Bad Request")))
				return map[string][]Notifier{"ops": {a, b}}
			},
			send:        []string{"ops"},
			want:        []string{"ops/a", "ops/b"},
			wantCalls:   [3]int32{1, 1, 0},
			wantFailed:  []string{"ops/a", "ops/b"},
			wantErr:     "401 Unauthorized",
			wantPermErr: true,
		},
		{
			name: "unknown route is an error after the known ones got it",
			routes: func(a, b, c *fakeNotifier) map[string][]Notifier {
				return map[string][]Notifier{"default": {a}, "ops": {b}}
			},
			send:        []string{"ops", "on-cal"},
			want:        []string{"ops/b"},
			wantCalls:   [3]int32{0, 1, 0},
			wantErr:     `notify: unknown route "on-cal" (routes: "default", "ops")`,
			wantPermErr: true,
		},
		{
			name: "only unknown routes: sent to the default route",
			routes: func(a, b, c *fakeNotifier) map[string][]Notifier {
				return map[string][]Notifier{"default": {a}, "ops": {b}}
			},
			send:        []string{"dba"},
			want:        []string{"default/a"},
			wantCalls:   [3]int32{1, 0, 0},
			wantErr:     `unknown route "dba" (routes: "default", "ops"); sent to the default route instead`,
			wantPermErr: true,
		},
		{
			name:        "only unknown routes and no default",
			routes:      func(a, b, c *fakeNotifier) map[string][]Notifier { return map[string][]Notifier{"ops": {b}} },
			send:        nil,
			wantErr:     `unknown route "default" (routes: "ops")`,
			wantPermErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, c := &fakeNotifier{name: "a"}, &fakeNotifier{name: "b"}, &fakeNotifier{name: "c"}
			r := newTestRouter(t, tt.routes(a, b, c))
			ds, err := r.Notify(context.Background(), tt.send, testMessage())
			if tt.wantErr == "" && err != nil {
				t.Fatalf("error: %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if IsPermanent(err) != tt.wantPermErr {
					t.Fatalf("IsPermanent = %v, want %v", IsPermanent(err), tt.wantPermErr)
				}
			}
			if got := notifierNames(ds); !slices.Equal(got, tt.want) {
				t.Errorf("deliveries = %v, want %v", got, tt.want)
			}
			if got := [3]int32{a.calls.Load(), b.calls.Load(), c.calls.Load()}; got != tt.wantCalls {
				t.Errorf("calls of a, b, c = %v, want %v", got, tt.wantCalls)
			}
			var failed []string
			for _, d := range ds {
				if !d.OK() {
					failed = append(failed, d.Route+"/"+d.Notifier)
				}
				if d.Attempts != 1 {
					t.Errorf("%s: %d attempts, want 1", d.Notifier, d.Attempts)
				}
			}
			if !slices.Equal(failed, tt.wantFailed) {
				t.Errorf("failed deliveries = %v, want %v", failed, tt.wantFailed)
			}
		})
	}
}

func TestRouterDeliversToAllAtOnce(t *testing.T) {
	var started sync.WaitGroup
	started.Add(2)
	waitForOther := func(context.Context, Message) error {
		started.Done()
		done := make(chan struct{})
		go func() { started.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("the other notifier never started")
		}
	}
	r := newTestRouter(t, map[string][]Notifier{"default": {&fakeNotifier{name: "a", notify: waitForOther}, &fakeNotifier{name: "b", notify: waitForOther}}})
	ds, err := r.Notify(context.Background(), nil, testMessage())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if !d.OK() {
			t.Errorf("%s: %s", d.Notifier, d.Err)
		}
	}
}

func TestRouterDelivery(t *testing.T) {
	var got Message
	retrying := &fakeNotifier{name: "retrying", notify: func(ctx context.Context, m Message) error {
		for range 3 {
			CountAttempt(ctx)
		}
		got = m
		time.Sleep(10 * time.Millisecond)
		return nil
	}}
	broken := notifierFunc(func(context.Context, Message) error { panic("nil map") })
	r := newTestRouter(t, map[string][]Notifier{"default": {retrying, broken, broken}})
	m := testMessage()
	m.Time = time.Time{}
	before := time.Now()
	ds, err := r.Notify(context.Background(), nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 {
		t.Fatalf("deliveries = %+v, want three (values that cannot be compared are not deduplicated)", ds)
	}
	if ds[0].Attempts != 3 || ds[0].Duration.D() < 10*time.Millisecond || !ds[0].OK() {
		t.Errorf("delivery = %+v, want 3 attempts taking at least 10ms", ds[0])
	}
	if ds[1].OK() || !strings.Contains(ds[1].Err, "func: panic: nil map") {
		t.Errorf("panicking notifier's delivery = %+v", ds[1])
	}
	if got.Time.Before(before) {
		t.Errorf("message time = %v, want the time of sending", got.Time)
	}
}

func TestRouterRejectsInvalidMessage(t *testing.T) {
	a := &fakeNotifier{name: "a"}
	r := newTestRouter(t, map[string][]Notifier{"default": {a}})
	ds, err := r.Notify(context.Background(), nil, Message{Event: "backup.failed", Severity: "bad", Title: "x"})
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), `severity: "bad"`) || ds != nil || a.calls.Load() != 0 {
		t.Fatalf("deliveries %v, error %v: want a permanent error and no delivery", ds, err)
	}
}

func TestNewRouter(t *testing.T) {
	a := &fakeNotifier{name: "a"}
	_, err := NewRouter(map[string][]Notifier{"": {a}, "empty": nil, "holey": {a, nil}, "ok": {a}})
	for _, want := range []string{"a route has an empty name", `route "empty" has no notifiers`, `route "holey" has a nil notifier`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	r := newTestRouter(t, map[string][]Notifier{"ops": {a}, "default": {a}})
	if got := r.Routes(); !slices.Equal(got, []string{"default", "ops"}) || !r.Has("ops") || r.Has("dba") {
		t.Fatalf("Routes() = %v", got)
	}
}
