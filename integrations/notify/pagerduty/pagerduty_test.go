package pagerduty

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/internal/notifytest"
)

// received decodes the events the fake PagerDuty accepted.
func received(t *testing.T, pd *notifytest.PagerDuty) []Event {
	t.Helper()
	var evs []Event
	for _, raw := range pd.Received() {
		var ev Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestAction(t *testing.T) {
	for event, want := range map[string]string{
		"backup.failed":           Trigger,
		"rpo.stale":               Trigger,
		"approval.requested":      Trigger,
		"drill.report":            Trigger,
		"rpo.cleared":             Resolve,
		"escalation.resolved":     Resolve,
		"backup.succeeded":        Resolve,
		"recovery.completed":      Resolve,
		"approval.decided":        Acknowledge,
		"escalation.acknowledged": Acknowledge,
		"cleared":                 Trigger,
	} {
		if got := Action(event); got != want {
			t.Errorf("Action(%q) = %q, want %q", event, got, want)
		}
	}
}

func TestDedupKey(t *testing.T) {
	m := notify.Message{Event: "backup.failed", Asset: "orders-db", Plan: "p"}
	hashed := DedupKey(m, "")
	if !strings.HasPrefix(hashed, "lifeboat-") || len(hashed) != len("lifeboat-")+32 || DedupKey(m, "") != hashed {
		t.Fatalf("hash key %q: want lifeboat- and 32 hex digits, the same every time", hashed)
	}
	other := m
	other.Asset = "billing-db"
	tests := []struct {
		name string
		m    notify.Message
		ref  string
		want string
	}{
		{"the message's key", notify.Message{DedupKey: "rpo-orders-db", Event: "x"}, "earlier", "rpo-orders-db"},
		{"an earlier delivery's key", notify.Message{Event: "x"}, "earlier", "earlier"},
		{"a hash of event, asset and plan", m, "", hashed},
		{"another asset, another hash", other, "", DedupKey(other, "")},
		{"a key too long is hashed", notify.Message{DedupKey: strings.Repeat("k", 300)}, "", DedupKey(notify.Message{DedupKey: strings.Repeat("k", 300)}, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DedupKey(tt.m, tt.ref)
			if got != tt.want || len(got) > 255 {
				t.Errorf("key = %q, want %q", got, tt.want)
			}
		})
	}
	if DedupKey(other, "") == hashed {
		t.Error("two assets share a hash key")
	}
}

func TestPagerDuty(t *testing.T) {
	pd := notifytest.NewPagerDuty(t)
	p := New(Config{RoutingKeyRef: "pd-key", Service: "payments", URL: pd.URL + "/v2/enqueue"}, notify.StaticSecret([]byte(notifytest.PagerDutyRoutingKey)))
	ctx := context.Background()

	trigger := notifytest.Message()
	trigger.Event, trigger.Severity, trigger.DedupKey = "rpo.stale", notify.Warning, ""
	trigger.Fields = map[string]string{"rpo": "2h", "text": "a field named text wins"}
	ref, err := p.NotifyRef(ctx, trigger)
	if err != nil {
		t.Fatal(err)
	}
	if ref != DedupKey(trigger, "") {
		t.Errorf("ref = %q, want the hash key", ref)
	}
	clear := notify.Message{Event: "rpo.cleared", Severity: notify.Info, Asset: trigger.Asset, Title: "RPO of orders-db met again",
		Refs: map[string]string{p.Name(): ref}}
	if _, err := p.NotifyRef(ctx, clear); err != nil {
		t.Fatal(err)
	}
	decided := notify.Message{Event: "approval.decided", Severity: notify.Info, Title: "approved", DedupKey: "approval-1"}
	if err := p.Notify(ctx, decided); err != nil {
		t.Fatal(err)
	}

	evs := received(t, pd)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	tr := evs[0]
	if tr.RoutingKey != notifytest.PagerDutyRoutingKey || tr.EventAction != "trigger" || tr.DedupKey != ref || tr.Client != "Lifeboat" || tr.ClientURL != trigger.Link {
		t.Errorf("trigger = %+v", tr)
	}
	wantPayload := Payload{
		Summary: trigger.Title, Source: "orders-db", Severity: "warning", Timestamp: "2026-03-14T09:26:53.589793238Z",
		Component: "orders-db", Class: "rpo.stale",
		CustomDetails: map[string]string{"rpo": "2h", "text": "a field named text wins", "escalation_level": "1"},
	}
	if tr.Payload == nil || !equalJSON(*tr.Payload, wantPayload) {
		t.Errorf("payload = %+v, want %+v", tr.Payload, wantPayload)
	}
	if len(tr.Links) != 1 || tr.Links[0].Href != trigger.Link {
		t.Errorf("links = %+v", tr.Links)
	}
	if evs[1].EventAction != "resolve" || evs[1].DedupKey != ref || evs[1].Payload != nil {
		t.Errorf("all-clear = %+v, want a resolve of %q", evs[1], ref)
	}
	if evs[2].EventAction != "acknowledge" || evs[2].DedupKey != "approval-1" {
		t.Errorf("decision = %+v, want an acknowledge", evs[2])
	}
	if name := p.Name(); name != "pagerduty payments" {
		t.Errorf("name = %q", name)
	}
	if name := New(Config{RoutingKeyRef: "pd-key"}, nil).Name(); name != "pagerduty pd-key" {
		t.Errorf("name without a service = %q", name)
	}
}

func TestSeverities(t *testing.T) {
	for sev, want := range map[notify.Severity]string{notify.Info: "info", notify.Warning: "warning", notify.Critical: "critical"} {
		m := notifytest.Message()
		m.Severity = sev
		if got := NewEvent(m, "").Payload.Severity; got != want {
			t.Errorf("%s: severity %q, want %q", sev, got, want)
		}
	}
	m := notifytest.Message()
	m.Link = "javascript:alert(1)"
	m.Title = strings.Repeat("long title ", 200)
	ev := NewEvent(m, "")
	if ev.Links != nil || ev.ClientURL != "" || len([]rune(ev.Payload.Summary)) > 1024 {
		t.Errorf("event = %+v: want no link that is not http(s) and a summary cut to 1024", ev)
	}
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		name          string
		key           string
		fail          func(n int, w http.ResponseWriter) int
		wantErr       string
		wantPermanent bool
		wantAttempts  int
	}{
		{name: "202", key: notifytest.PagerDutyRoutingKey, wantAttempts: 1},
		{name: "500 then 202", key: notifytest.PagerDutyRoutingKey, wantAttempts: 2, fail: func(n int, w http.ResponseWriter) int {
			if n == 1 {
				return http.StatusInternalServerError
			}
			return 0
		}},
		{name: "429 then 202", key: notifytest.PagerDutyRoutingKey, wantAttempts: 2, fail: func(n int, w http.ResponseWriter) int {
			if n == 1 {
				w.Header().Set("Retry-After", "0")
				return http.StatusTooManyRequests
			}
			return 0
		}},
		{name: "503 every time", key: notifytest.PagerDutyRoutingKey, wantAttempts: 3, wantErr: "attempt 3 of 3: 503 Service Unavailable",
			fail: func(int, http.ResponseWriter) int { return http.StatusServiceUnavailable }},
		{name: "a routing key of the wrong length is a 400, permanent", key: "short", wantAttempts: 1, wantPermanent: true,
			wantErr: "400 Bad Request: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters): PagerDuty rejected the event"},
		{name: "403 is permanent", key: notifytest.PagerDutyRoutingKey, wantAttempts: 1, wantPermanent: true, wantErr: "403 Forbidden",
			fail: func(int, http.ResponseWriter) int { return http.StatusForbidden }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pd := notifytest.NewPagerDuty(t)
			pd.Fail = tt.fail
			p := New(Config{RoutingKeyRef: "pd-key", URL: pd.URL + "/v2/enqueue"}, notify.StaticSecret([]byte(tt.key)))
			p.retry.Backoff = time.Millisecond
			ctx, attempts := notify.WithAttemptCount(context.Background())
			err := p.Notify(ctx, notifytest.Message())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if err != nil && notify.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v", notify.IsPermanent(err), tt.wantPermanent)
			}
			if err != nil && strings.Contains(err.Error(), notifytest.PagerDutyRoutingKey) {
				t.Errorf("error quotes the routing key: %v", err)
			}
			if attempts() != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", attempts(), tt.wantAttempts)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{URL: "mailto:x", Attempts: -1, Filter: notify.Filter{MinLevel: new(-1)}}.Validate("pagerduty[0]")
	for _, want := range []string{"pagerduty[0].routing_key: required", `pagerduty[0].url: "mailto:x" is not`, "pagerduty[0].attempts: -1", "pagerduty[0].min_level: -1 is negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if err := (Config{RoutingKeyRef: "k"}).Validate("p"); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestContract(t *testing.T) {
	pd := notifytest.NewPagerDuty(t)
	p := New(Config{RoutingKeyRef: "pd-key", URL: pd.URL + "/v2/enqueue"}, notify.StaticSecret([]byte(notifytest.PagerDutyRoutingKey)))
	notifytest.Contract(t, p, func() int { return len(pd.Received()) }, notifytest.PagerDutyRoutingKey)
}
