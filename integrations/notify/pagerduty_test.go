package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testRoutingKey = "R0123456789abcdef0123456789abcde" // 32 characters, as PagerDuty's are

// fakePagerDuty checks events as the Events API v2 does and answers as it does: 202 with the dedup
// key, or 400 with the problems. fail, when set, may answer a request first (status 0 lets it
// through); n counts the requests, from 1.
type fakePagerDuty struct {
	*httptest.Server
	fail func(n int, w http.ResponseWriter) int

	mu     sync.Mutex
	n      int
	events []PagerDutyEvent
}

func newFakePagerDuty(t *testing.T) *fakePagerDuty {
	t.Helper()
	f := &fakePagerDuty{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	if f.fail != nil {
		if status := f.fail(n, w); status != 0 {
			w.WriteHeader(status)
			return
		}
	}
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		answer(http.StatusNotFound, map[string]string{"status": "not found"})
		return
	}
	var ev struct {
		PagerDutyEvent
		Payload *struct {
			PagerDutyPayload
			CustomDetails map[string]any `json:"custom_details"`
		} `json:"payload"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&ev) != nil {
		answer(http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{"Invalid JSON"}})
		return
	}
	var problems []string
	switch {
	case ev.RoutingKey == "":
		problems = append(problems, "'routing_key' is missing or blank")
	case len(ev.RoutingKey) != 32:
		problems = append(problems, "Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	if !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, ev.EventAction) {
		problems = append(problems, "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
	}
	if len(ev.DedupKey) > 255 {
		problems = append(problems, "'dedup_key' is too long (maximum is 255 characters)")
	}
	if ev.EventAction != "trigger" && ev.DedupKey == "" {
		problems = append(problems, "'dedup_key' is missing or blank")
	}
	if ev.EventAction == "trigger" {
		p := ev.Payload
		switch {
		case p == nil:
			problems = append(problems, "'payload' is missing or blank")
		default:
			if p.Summary == "" || len([]rune(p.Summary)) > 1024 {
				problems = append(problems, "'payload.summary' is missing, blank or longer than 1024 characters")
			}
			if p.Source == "" || len([]rune(p.Source)) > 255 {
				problems = append(problems, "'payload.source' is missing, blank or longer than 255 characters")
			}
			if !slices.Contains([]string{"critical", "error", "warning", "info"}, p.Severity) {
				problems = append(problems, "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
			}
			if _, err := time.Parse(time.RFC3339Nano, p.Timestamp); p.Timestamp != "" && err != nil {
				problems = append(problems, "'payload.timestamp' is invalid")
			}
		}
		for _, l := range ev.Links {
			if l.Href == "" {
				problems = append(problems, "'links.href' is missing or blank")
			}
		}
	}
	if len(problems) > 0 {
		answer(http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": problems})
		return
	}
	if ev.DedupKey == "" {
		ev.DedupKey = fmt.Sprintf("srv%029d", n)
	}
	got := ev.PagerDutyEvent
	if ev.Payload != nil {
		pl := ev.Payload.PagerDutyPayload
		pl.CustomDetails = map[string]string{}
		for k, v := range ev.Payload.CustomDetails {
			pl.CustomDetails[k] = fmt.Sprint(v)
		}
		got.Payload = &pl
	}
	f.mu.Lock()
	f.events = append(f.events, got)
	f.mu.Unlock()
	answer(http.StatusAccepted, map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

func (f *fakePagerDuty) received() []PagerDutyEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func TestPagerDutyAction(t *testing.T) {
	for event, want := range map[string]string{
		"backup.failed":           PagerDutyTrigger,
		"rpo.stale":               PagerDutyTrigger,
		"approval.requested":      PagerDutyTrigger,
		"drill.report":            PagerDutyTrigger,
		"rpo.cleared":             PagerDutyResolve,
		"escalation.resolved":     PagerDutyResolve,
		"backup.succeeded":        PagerDutyResolve,
		"recovery.completed":      PagerDutyResolve,
		"approval.decided":        PagerDutyAcknowledge,
		"escalation.acknowledged": PagerDutyAcknowledge,
		"cleared":                 PagerDutyTrigger,
	} {
		if got := PagerDutyAction(event); got != want {
			t.Errorf("PagerDutyAction(%q) = %q, want %q", event, got, want)
		}
	}
}

func TestPagerDutyDedupKey(t *testing.T) {
	m := Message{Event: "backup.failed", Asset: "orders-db", Plan: "p"}
	hashed := PagerDutyDedupKey(m, "")
	if !strings.HasPrefix(hashed, "lifeboat-") || len(hashed) != len("lifeboat-")+32 || PagerDutyDedupKey(m, "") != hashed {
		t.Fatalf("hash key %q: want lifeboat- and 32 hex digits, the same every time", hashed)
	}
	other := m
	other.Asset = "billing-db"
	tests := []struct {
		name string
		m    Message
		ref  string
		want string
	}{
		{"the message's key", Message{DedupKey: "rpo-orders-db", Event: "x"}, "earlier", "rpo-orders-db"},
		{"an earlier delivery's key", Message{Event: "x"}, "earlier", "earlier"},
		{"a hash of event, asset and plan", m, "", hashed},
		{"another asset, another hash", other, "", PagerDutyDedupKey(other, "")},
		{"a key too long is hashed", Message{DedupKey: strings.Repeat("k", 300)}, "", PagerDutyDedupKey(Message{DedupKey: strings.Repeat("k", 300)}, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PagerDutyDedupKey(tt.m, tt.ref)
			if got != tt.want || len(got) > 255 {
				t.Errorf("key = %q, want %q", got, tt.want)
			}
		})
	}
	if PagerDutyDedupKey(other, "") == hashed {
		t.Error("two assets share a hash key")
	}
}

func TestPagerDuty(t *testing.T) {
	pd := newFakePagerDuty(t)
	p := NewPagerDuty(PagerDutyConfig{RoutingKeyRef: "pd-key", Service: "payments", URL: pd.URL + "/v2/enqueue"}, StaticSecret([]byte(testRoutingKey)))
	ctx := context.Background()

	trigger := testMessage()
	trigger.Event, trigger.Severity, trigger.DedupKey = "rpo.stale", Warning, ""
	trigger.Fields = map[string]string{"rpo": "2h", "text": "a field named text wins"}
	ref, err := p.NotifyRef(ctx, trigger)
	if err != nil {
		t.Fatal(err)
	}
	if ref != PagerDutyDedupKey(trigger, "") {
		t.Errorf("ref = %q, want the hash key", ref)
	}
	clear := Message{Event: "rpo.cleared", Severity: Info, Asset: trigger.Asset, Title: "RPO of orders-db met again",
		Refs: map[string]string{p.Name(): ref}}
	if _, err := p.NotifyRef(ctx, clear); err != nil {
		t.Fatal(err)
	}
	decided := Message{Event: "approval.decided", Severity: Info, Title: "approved", DedupKey: "approval-1"}
	if err := p.Notify(ctx, decided); err != nil {
		t.Fatal(err)
	}

	evs := pd.received()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	tr := evs[0]
	if tr.RoutingKey != testRoutingKey || tr.EventAction != "trigger" || tr.DedupKey != ref || tr.Client != "Lifeboat" || tr.ClientURL != trigger.Link {
		t.Errorf("trigger = %+v", tr)
	}
	wantPayload := PagerDutyPayload{
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
	if name := NewPagerDuty(PagerDutyConfig{RoutingKeyRef: "pd-key"}, nil).Name(); name != "pagerduty pd-key" {
		t.Errorf("name without a service = %q", name)
	}
}

func TestPagerDutySeverities(t *testing.T) {
	for sev, want := range map[Severity]string{Info: "info", Warning: "warning", Critical: "critical"} {
		m := testMessage()
		m.Severity = sev
		if got := NewPagerDutyEvent(m, "").Payload.Severity; got != want {
			t.Errorf("%s: severity %q, want %q", sev, got, want)
		}
	}
	m := testMessage()
	m.Link = "javascript:alert(1)"
	m.Title = strings.Repeat("long title ", 200)
	ev := NewPagerDutyEvent(m, "")
	if ev.Links != nil || ev.ClientURL != "" || len([]rune(ev.Payload.Summary)) > 1024 {
		t.Errorf("event = %+v: want no link that is not http(s) and a summary cut to 1024", ev)
	}
}

func TestPagerDutyAnswers(t *testing.T) {
	tests := []struct {
		name          string
		key           string
		fail          func(n int, w http.ResponseWriter) int
		wantErr       string
		wantPermanent bool
		wantAttempts  int
	}{
		{name: "202", key: testRoutingKey, wantAttempts: 1},
		{name: "500 then 202", key: testRoutingKey, wantAttempts: 2, fail: func(n int, w http.ResponseWriter) int {
			if n == 1 {
				return http.StatusInternalServerError
			}
			return 0
		}},
		{name: "429 then 202", key: testRoutingKey, wantAttempts: 2, fail: func(n int, w http.ResponseWriter) int {
			if n == 1 {
				w.Header().Set("Retry-After", "0")
				return http.StatusTooManyRequests
			}
			return 0
		}},
		{name: "503 every time", key: testRoutingKey, wantAttempts: 3, wantErr: "attempt 3 of 3: 503 Service Unavailable",
			fail: func(int, http.ResponseWriter) int { return http.StatusServiceUnavailable }},
		{name: "a routing key of the wrong length is a 400, permanent", key: "short", wantAttempts: 1, wantPermanent: true,
			wantErr: "400 Bad Request: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters): PagerDuty rejected the event"},
		{name: "403 is permanent", key: testRoutingKey, wantAttempts: 1, wantPermanent: true, wantErr: "403 Forbidden",
			fail: func(int, http.ResponseWriter) int { return http.StatusForbidden }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pd := newFakePagerDuty(t)
			pd.fail = tt.fail
			p := NewPagerDuty(PagerDutyConfig{RoutingKeyRef: "pd-key", URL: pd.URL + "/v2/enqueue"}, StaticSecret([]byte(tt.key)))
			p.retry.Backoff = time.Millisecond
			attempts, err := countAttempts(context.Background(), func(ctx context.Context) error { return p.Notify(ctx, testMessage()) })
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if err != nil && IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v", IsPermanent(err), tt.wantPermanent)
			}
			if err != nil && strings.Contains(err.Error(), testRoutingKey) {
				t.Errorf("error quotes the routing key: %v", err)
			}
			if attempts != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", attempts, tt.wantAttempts)
			}
		})
	}
}

func TestPagerDutyConfigValidate(t *testing.T) {
	err := PagerDutyConfig{URL: "mailto:x", Attempts: -1, Filter: Filter{MinLevel: new(-1)}}.Validate("pagerduty[0]")
	for _, want := range []string{"pagerduty[0].routing_key: required", `pagerduty[0].url: "mailto:x" is not`, "pagerduty[0].attempts: -1", "pagerduty[0].min_level: -1 is negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if err := (PagerDutyConfig{RoutingKeyRef: "k"}).Validate("p"); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
