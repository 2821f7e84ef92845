package notify_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/internal/notifytest"
)

// notifierFunc is a notifier of a type that cannot be compared.
type notifierFunc func(ctx context.Context, m notify.Message) error

func (f notifierFunc) Name() string                                       { return "func" }
func (f notifierFunc) Notify(ctx context.Context, m notify.Message) error { return f(ctx, m) }

func failing(err error) func(context.Context, notify.Message) error {
	return func(context.Context, notify.Message) error { return err }
}

func newTestRouter(t *testing.T, routes map[string][]notify.Notifier) *notify.Router {
	t.Helper()
	r, err := notify.NewRouter(routes)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRouterDelivers(t *testing.T) {
	down := errors.New("connection refused")
	tests := []struct {
		name        string
		routes      func(a, b, c *fakeNotifier) map[string][]notify.Notifier
		send        []string
		want        []string // route/notifier of each delivery, in order
		wantCalls   [3]int32
		wantFailed  []string
		wantErr     string
		wantPermErr bool
	}{
		{
			name: "every notifier of every route",
			routes: func(a, b, c *fakeNotifier) map[string][]notify.Notifier {
				return map[string][]notify.Notifier{"ops": {a, b}, "dba": {c}}
			},
			send:      []string{"ops", "dba"},
			want:      []string{"ops/a", "ops/b", "dba/c"},
			wantCalls: [3]int32{1, 1, 1},
		},
		{
			name: "a notifier on two routes gets the message once",
			routes: func(a, b, c *fakeNotifier) map[string][]notify.Notifier {
				return map[string][]notify.Notifier{"ops": {a, b}, "dba": {b, c}, "default": {a}}
			},
			send:      []string{"dba", "ops", "dba"},
			want:      []string{"dba/b", "dba/c", "ops/a"},
			wantCalls: [3]int32{1, 1, 1},
		},
		{
			name: "no routes means the default route",
			routes: func(a, b, c *fakeNotifier) map[string][]notify.Notifier {
				return map[string][]notify.Notifier{"default": {a}, "ops": {b, c}}
			},
			send:      nil,
			want:      []string{"default/a"},
			wantCalls: [3]int32{1, 0, 0},
		},
		{
			name: "one channel down is reported, not an error",
			routes: func(a, b, c *fakeNotifier) map[string][]notify.Notifier {
				b.notify = failing(down)
				return map[string][]notify.Notifier{"ops": {a, b}}
			},
			send:       []string{"ops"},
			want:       []string{"ops/a", "ops/b"},
			wantCalls:  [3]int32{1, 1, 0},
			wantFailed: []string{"ops/b"},
		},
		{
			name: "every channel down is an error",
			routes: func(a, b, c *fakeNotifier) map[string][]notify.Notifier {
				a.notify = failing(down)
				b.notify = failing(notify.Permanent(errors.New("400 Bad Request")))
				return map[string][]notify.Notifier{"ops": {a}, "dba": {b}}
			},
			send:       []string{"ops", "dba"},
			want:       []string{"ops/a", "dba/b"},
			wantCalls:  [3]int32{1, 1, 0},
			wantFailed: []string{"ops/a", "dba/b"},
			wantErr:    `notify: no notifier accepted backup.failed "Backup of orders-db failed": route "ops": connection refused` + "\n" + `route "dba": 400 Bad Request`,
		},
		{
			name: "every channel rejects: permanent",
			routes: func(a, b, c *fakeNotifier) map[string][]notify.Notifier {
				a.notify = failing(notify.Permanent(errors.New("401 Unauthorized")))
				b.notify = failing(notify.Permanent(errors.New("400 Bad Request")))
				return map[string][]notify.Notifier{"ops": {a, b}}
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
			routes: func(a, b, c *fakeNotifier) map[string][]notify.Notifier {
				return map[string][]notify.Notifier{"default": {a}, "ops": {b}}
			},
			send:        []string{"ops", "on-cal"},
			want:        []string{"ops/b"},
			wantCalls:   [3]int32{0, 1, 0},
			wantErr:     `notify: unknown route "on-cal" (routes: "default", "ops")`,
			wantPermErr: true,
		},
		{
			name: "only unknown routes: sent to the default route",
			routes: func(a, b, c *fakeNotifier) map[string][]notify.Notifier {
				return map[string][]notify.Notifier{"default": {a}, "ops": {b}}
			},
			send:        []string{"dba"},
			want:        []string{"default/a"},
			wantCalls:   [3]int32{1, 0, 0},
			wantErr:     `unknown route "dba" (routes: "default", "ops"); sent to the default route instead`,
			wantPermErr: true,
		},
		{
			name: "only unknown routes and no default",
			routes: func(a, b, c *fakeNotifier) map[string][]notify.Notifier {
				return map[string][]notify.Notifier{"ops": {b}}
			},
			send:        nil,
			wantErr:     `unknown route "default" (routes: "ops")`,
			wantPermErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, c := &fakeNotifier{name: "a"}, &fakeNotifier{name: "b"}, &fakeNotifier{name: "c"}
			r := newTestRouter(t, tt.routes(a, b, c))
			ds, err := r.Notify(context.Background(), tt.send, notifytest.Message())
			if tt.wantErr == "" && err != nil {
				t.Fatalf("error: %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if notify.IsPermanent(err) != tt.wantPermErr {
					t.Fatalf("IsPermanent = %v, want %v", notify.IsPermanent(err), tt.wantPermErr)
				}
			}
			if got := notifytest.Names(ds); !slices.Equal(got, tt.want) {
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
	waitForOther := func(context.Context, notify.Message) error {
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
	r := newTestRouter(t, map[string][]notify.Notifier{"default": {&fakeNotifier{name: "a", notify: waitForOther}, &fakeNotifier{name: "b", notify: waitForOther}}})
	ds, err := r.Notify(context.Background(), nil, notifytest.Message())
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
	var got notify.Message
	retrying := &fakeNotifier{name: "retrying", notify: func(ctx context.Context, m notify.Message) error {
		for range 3 {
			notify.CountAttempt(ctx)
		}
		got = m
		time.Sleep(10 * time.Millisecond)
		return nil
	}}
	broken := notifierFunc(func(context.Context, notify.Message) error { panic("nil map") })
	r := newTestRouter(t, map[string][]notify.Notifier{"default": {retrying, broken, broken}})
	m := notifytest.Message()
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
	r := newTestRouter(t, map[string][]notify.Notifier{"default": {a}})
	ds, err := r.Notify(context.Background(), nil, notify.Message{Event: "backup.failed", Severity: "bad", Title: "x"})
	if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), `severity: "bad"`) || ds != nil || a.calls.Load() != 0 {
		t.Fatalf("deliveries %v, error %v: want a permanent error and no delivery", ds, err)
	}
}

func TestNewRouter(t *testing.T) {
	a := &fakeNotifier{name: "a"}
	_, err := notify.NewRouter(map[string][]notify.Notifier{"": {a}, "empty": nil, "holey": {a, nil}, "ok": {a}})
	for _, want := range []string{"has an empty name", `route "empty" has no notifiers`, `route "holey" has a nil notifier`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	r := newTestRouter(t, map[string][]notify.Notifier{"ops": {a}, "default": {a}})
	if got := r.Routes(); !slices.Equal(got, []string{"default", "ops"}) || !r.Has("ops") || r.Has("dba") {
		t.Fatalf("Routes() = %v", got)
	}
}

// referrer is a notifier that returns a reference to what it delivered.
type referrer struct {
	fakeNotifier
	ref string
}

func (r *referrer) NotifyRef(ctx context.Context, m notify.Message) (string, error) {
	if err := r.Notify(ctx, m); err != nil {
		return "", err
	}
	return r.ref, nil
}

func TestRouterReturnsRefs(t *testing.T) {
	ok := &referrer{fakeNotifier: fakeNotifier{name: "slack"}, ref: "C0123/1712.0001"}
	down := &referrer{fakeNotifier: fakeNotifier{name: "slack-down", notify: failing(errors.New("timeout"))}, ref: "unused"}
	plain := &fakeNotifier{name: "plain"}
	r := newTestRouter(t, map[string][]notify.Notifier{"default": {ok, down, plain}})
	ds, err := r.Notify(context.Background(), nil, notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	got := []string{ds[0].Ref, ds[1].Ref, ds[2].Ref}
	if !slices.Equal(got, []string{"C0123/1712.0001", "", ""}) {
		t.Fatalf("refs = %q: want the accepting referrer's only", got)
	}
	if ok.calls.Load() != 1 {
		t.Fatalf("the referrer was called %d times, want once (through NotifyRef)", ok.calls.Load())
	}
}

func TestRouterFilters(t *testing.T) {
	level2 := 2
	tests := []struct {
		name    string
		filter  notify.Filter
		plans   []string
		message func(m *notify.Message)
		wanted  bool
	}{
		{name: "no filter wants everything", message: func(m *notify.Message) { m.Severity = notify.Info }, wanted: true},
		{name: "below min_severity", filter: notify.Filter{MinSeverity: notify.Warning}, message: func(m *notify.Message) { m.Severity = notify.Info }},
		{name: "at min_severity", filter: notify.Filter{MinSeverity: notify.Warning}, message: func(m *notify.Message) { m.Severity = notify.Warning }, wanted: true},
		{name: "above min_severity", filter: notify.Filter{MinSeverity: notify.Warning}, message: func(m *notify.Message) { m.Severity = notify.Critical }, wanted: true},
		{name: "an event matching a pattern", filter: notify.Filter{Events: []string{"rpo.stale", "approval.*"}}, message: func(m *notify.Message) { m.Event = "approval.requested" }, wanted: true},
		{name: "an event matching a name", filter: notify.Filter{Events: []string{"rpo.stale", "approval.*"}}, message: func(m *notify.Message) { m.Event = "rpo.stale" }, wanted: true},
		{name: "an event matching neither", filter: notify.Filter{Events: []string{"rpo.stale", "approval.*"}}, message: func(m *notify.Message) { m.Event = "backup.failed" }},
		{name: "a pattern does not match a prefix only", filter: notify.Filter{Events: []string{"rpo"}}, message: func(m *notify.Message) { m.Event = "rpo.stale" }},
		{name: "*.failed", filter: notify.Filter{Events: []string{"*.failed"}}, message: func(m *notify.Message) { m.Event = "verify.failed" }, wanted: true},
		{name: "below min_level", filter: notify.Filter{MinLevel: &level2}, message: func(m *notify.Message) { m.Level = 1 }},
		{name: "at min_level", filter: notify.Filter{MinLevel: &level2}, message: func(m *notify.Message) { m.Level = 2 }, wanted: true},
		{name: "a plan of the route", plans: []string{"orders-failover", "dns"}, message: func(m *notify.Message) { m.Plan = "dns" }, wanted: true},
		{name: "another plan", plans: []string{"orders-failover"}, message: func(m *notify.Message) { m.Plan = "dns" }},
		{name: "no plan, on a route of plans", plans: []string{"orders-failover"}, message: func(m *notify.Message) {}},
		{name: "voice defaults: critical at level 1", filter: notify.Filter{}.WithDefaults(notify.Critical, 1), message: func(m *notify.Message) { m.Severity, m.Level = notify.Critical, 1 }, wanted: true},
		{name: "voice defaults: not the first notice", filter: notify.Filter{}.WithDefaults(notify.Critical, 1), message: func(m *notify.Message) { m.Severity, m.Level = notify.Critical, 0 }},
		{name: "voice defaults: not a warning", filter: notify.Filter{}.WithDefaults(notify.Critical, 1), message: func(m *notify.Message) { m.Severity, m.Level = notify.Warning, 3 }},
		{name: "voice with min_level 0 set", filter: notify.Filter{MinLevel: new(0)}.WithDefaults(notify.Critical, 1), message: func(m *notify.Message) { m.Severity, m.Level = notify.Critical, 0 }, wanted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &fakeNotifier{name: "a", notify: failing(errors.New("down"))}
			r, err := notify.NewRouterFrom([]notify.Route{{Name: "ops", Plans: tt.plans, Channels: []notify.RouteChannel{{Notifier: a, Filter: tt.filter}}}})
			if err != nil {
				t.Fatal(err)
			}
			m := notifytest.Message()
			tt.message(&m)
			ds, err := r.Notify(context.Background(), []string{"ops"}, m)
			if !tt.wanted {
				// A message no channel wants is not an error.
				if err != nil || ds != nil || a.calls.Load() != 0 {
					t.Fatalf("deliveries %+v, error %v: want none and no error", ds, err)
				}
				return
			}
			// A message that channels wanted and none accepted is.
			if err == nil || len(ds) != 1 || a.calls.Load() != 1 {
				t.Fatalf("deliveries %+v, error %v: want the failed delivery and an error", ds, err)
			}
		})
	}
}

func TestRouterFallback(t *testing.T) {
	down := errors.New("connection refused")
	rejected := notify.Permanent(errors.New("400 Bad Request"))
	tests := []struct {
		name          string
		setup         func(a, b, c *fakeNotifier) []notify.Route
		send          []string
		want          []string // route/notifier of each delivery, in order
		wantFailed    []string
		wantCalls     [3]int32
		wantErr       string
		wantPermanent bool
	}{
		{
			name: "the first that accepts ends the chain",
			setup: func(a, b, c *fakeNotifier) []notify.Route {
				return []notify.Route{{Name: "ops", Delivery: notify.DeliverFallback, Channels: channels(a, b, c)}}
			},
			want: []string{"ops/a"}, wantCalls: [3]int32{1, 0, 0},
		},
		{
			name: "the next is tried when one fails",
			setup: func(a, b, c *fakeNotifier) []notify.Route {
				a.notify = failing(down)
				return []notify.Route{{Name: "ops", Delivery: notify.DeliverFallback, Channels: channels(a, b, c)}}
			},
			want: []string{"ops/a", "ops/b"}, wantFailed: []string{"ops/a"}, wantCalls: [3]int32{1, 1, 0},
		},
		{
			name: "every try is recorded when all fail",
			setup: func(a, b, c *fakeNotifier) []notify.Route {
				a.notify, b.notify, c.notify = failing(down), failing(rejected), failing(rejected)
				return []notify.Route{{Name: "ops", Delivery: notify.DeliverFallback, Channels: channels(a, b, c)}}
			},
			want: []string{"ops/a", "ops/b", "ops/c"}, wantFailed: []string{"ops/a", "ops/b", "ops/c"}, wantCalls: [3]int32{1, 1, 1},
			wantErr: `notify: no notifier accepted backup.failed "Backup of orders-db failed": route "ops": connection refused` + "\n" + `route "ops": 400 Bad Request`,
		},
		{
			name: "all rejected: permanent",
			setup: func(a, b, c *fakeNotifier) []notify.Route {
				a.notify, b.notify = failing(rejected), failing(rejected)
				return []notify.Route{{Name: "ops", Delivery: notify.DeliverFallback, Channels: channels(a, b)}}
			},
			want: []string{"ops/a", "ops/b"}, wantFailed: []string{"ops/a", "ops/b"}, wantCalls: [3]int32{1, 1, 0},
			wantErr: "400 Bad Request", wantPermanent: true,
		},
		{
			name: "a channel that does not want the message is skipped",
			setup: func(a, b, c *fakeNotifier) []notify.Route {
				a.notify = failing(down)
				chain := channels(a, b, c)
				chain[1].Filter = notify.Filter{Events: []string{"approval.*"}}
				return []notify.Route{{Name: "ops", Delivery: notify.DeliverFallback, Channels: chain}}
			},
			want: []string{"ops/a", "ops/c"}, wantFailed: []string{"ops/a"}, wantCalls: [3]int32{1, 0, 1},
		},
		{
			name: "a notifier another route delivers to is not tried again: its failure moves the chain on",
			setup: func(a, b, c *fakeNotifier) []notify.Route {
				a.notify = failing(down)
				return []notify.Route{
					{Name: "on-call", Delivery: notify.DeliverFallback, Channels: channels(a, b)},
					{Name: "ops", Channels: channels(a)},
				}
			},
			send: []string{"on-call", "ops"},
			want: []string{"on-call/b", "ops/a"}, wantFailed: []string{"ops/a"}, wantCalls: [3]int32{1, 1, 0},
		},
		{
			name: "a notifier another route delivers to is not tried again: its success ends the chain",
			setup: func(a, b, c *fakeNotifier) []notify.Route {
				return []notify.Route{
					{Name: "ops", Channels: channels(a)},
					{Name: "on-call", Delivery: notify.DeliverFallback, Channels: channels(a, b)},
				}
			},
			send: []string{"ops", "on-call"},
			want: []string{"ops/a"}, wantCalls: [3]int32{1, 0, 0},
		},
		{
			name: "two chains sharing a notifier: it is tried once",
			setup: func(a, b, c *fakeNotifier) []notify.Route {
				a.notify = func(context.Context, notify.Message) error { time.Sleep(50 * time.Millisecond); return down }
				return []notify.Route{
					{Name: "first", Delivery: notify.DeliverFallback, Channels: channels(a, b)},
					{Name: "second", Delivery: notify.DeliverFallback, Channels: channels(b, c)},
				}
			},
			send: []string{"first", "second"},
			want: []string{"first/a", "second/b"}, wantFailed: []string{"first/a"}, wantCalls: [3]int32{1, 1, 0},
		},
		{
			name: "a fallback route next to one that delivers to all",
			setup: func(a, b, c *fakeNotifier) []notify.Route {
				a.notify = failing(down)
				return []notify.Route{
					{Name: "on-call", Delivery: notify.DeliverFallback, Channels: channels(a, b)},
					{Name: "team", Channels: channels(c)},
				}
			},
			send: []string{"on-call", "team"},
			want: []string{"on-call/a", "on-call/b", "team/c"}, wantFailed: []string{"on-call/a"}, wantCalls: [3]int32{1, 1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, c := &fakeNotifier{name: "a"}, &fakeNotifier{name: "b"}, &fakeNotifier{name: "c"}
			r, err := notify.NewRouterFrom(tt.setup(a, b, c))
			if err != nil {
				t.Fatal(err)
			}
			send := tt.send
			if send == nil {
				send = []string{"ops"}
			}
			ds, err := r.Notify(context.Background(), send, notifytest.Message())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if err != nil && notify.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v", notify.IsPermanent(err), tt.wantPermanent)
			}
			if got := notifytest.Names(ds); !slices.Equal(got, tt.want) {
				t.Errorf("deliveries = %v, want %v", got, tt.want)
			}
			var failed []string
			for _, d := range ds {
				if !d.OK() {
					failed = append(failed, d.Route+"/"+d.Notifier)
				}
			}
			if !slices.Equal(failed, tt.wantFailed) {
				t.Errorf("failed deliveries = %v, want %v", failed, tt.wantFailed)
			}
			if got := [3]int32{a.calls.Load(), b.calls.Load(), c.calls.Load()}; got != tt.wantCalls {
				t.Errorf("calls of a, b, c = %v, want %v", got, tt.wantCalls)
			}
		})
	}
}

func TestRouterFallbackIsSequential(t *testing.T) {
	var running atomic.Int32
	var overlapped atomic.Bool
	slow := func(err error) func(context.Context, notify.Message) error {
		return func(context.Context, notify.Message) error {
			if running.Add(1) > 1 {
				overlapped.Store(true)
			}
			time.Sleep(20 * time.Millisecond)
			running.Add(-1)
			return err
		}
	}
	a := &fakeNotifier{name: "a", notify: slow(errors.New("down"))}
	b := &fakeNotifier{name: "b", notify: slow(errors.New("down"))}
	c := &fakeNotifier{name: "c", notify: slow(nil)}
	r, err := notify.NewRouterFrom([]notify.Route{{Name: "ops", Delivery: notify.DeliverFallback, Channels: channels(a, b, c)}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := r.Notify(context.Background(), []string{"ops"}, notifytest.Message())
	if err != nil || len(ds) != 3 || !ds[2].OK() {
		t.Fatalf("deliveries %+v, error %v", ds, err)
	}
	if overlapped.Load() {
		t.Fatal("two channels of a fallback route ran at once")
	}
}

func TestNewRouterFrom(t *testing.T) {
	a := &fakeNotifier{name: "a"}
	_, err := notify.NewRouterFrom([]notify.Route{
		{Name: "ops", Channels: channels(a)},
		{Name: "ops", Channels: channels(a)},
		{Name: "odd", Delivery: "round-robin", Channels: []notify.RouteChannel{{Notifier: a, Filter: notify.Filter{MinSeverity: "loud", Events: []string{"[x"}}}}},
	})
	for _, want := range []string{`two routes are named "ops"`, `route "odd": delivery "round-robin" is not all or fallback`, `route "odd": channel 0.min_severity: "loud"`, `channel 0.events[0]: "[x" is not a valid pattern`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func channels(ns ...notify.Notifier) []notify.RouteChannel {
	out := make([]notify.RouteChannel, len(ns))
	for i, n := range ns {
		out[i] = notify.RouteChannel{Notifier: n}
	}
	return out
}
