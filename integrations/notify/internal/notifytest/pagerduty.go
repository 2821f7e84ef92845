package notifytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// PagerDutyRoutingKey is a routing key of the length PagerDuty's have, 32 characters.
const PagerDutyRoutingKey = "R0123456789abcdef0123456789abcde"

// PagerDuty is a fake of PagerDuty's Events API v2 at /v2/enqueue: it checks events as PagerDuty
// does and answers as it does, 202 with the dedup key, or 400 with the problems.
type PagerDuty struct {
	*httptest.Server
	// Fail, when set, may answer a request first: it returns the status to send, or 0 to let the
	// request through. n counts the requests, from 1. Set it before the first request.
	Fail func(n int, w http.ResponseWriter) int

	mu     sync.Mutex
	n      int
	events [][]byte
}

// pagerDutyEvent is what the fake checks of an event.
type pagerDutyEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary   string `json:"summary"`
		Source    string `json:"source"`
		Severity  string `json:"severity"`
		Timestamp string `json:"timestamp"`
	} `json:"payload"`
	Links []struct {
		Href string `json:"href"`
	} `json:"links"`
}

// NewPagerDuty starts a fake PagerDuty that stops when the test ends.
func NewPagerDuty(t testing.TB) *PagerDuty {
	t.Helper()
	f := &PagerDuty{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *PagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	if f.Fail != nil {
		if status := f.Fail(n, w); status != 0 {
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
	body, err := io.ReadAll(r.Body)
	var ev pagerDutyEvent
	if err != nil || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &ev) != nil {
		answer(http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{"Invalid JSON"}})
		return
	}
	if problems := ev.problems(); len(problems) > 0 {
		answer(http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": problems})
		return
	}
	if ev.DedupKey == "" {
		ev.DedupKey = fmt.Sprintf("srv%029d", n)
	}
	f.mu.Lock()
	f.events = append(f.events, bytes.Clone(body))
	f.mu.Unlock()
	answer(http.StatusAccepted, map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

// problems returns what PagerDuty would say is wrong with ev.
func (ev pagerDutyEvent) problems() []string {
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
	if ev.EventAction != "trigger" {
		return problems
	}
	if p := ev.Payload; p == nil {
		problems = append(problems, "'payload' is missing or blank")
	} else {
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
	return problems
}

// Received returns the bodies of the events accepted so far, as sent.
func (f *PagerDuty) Received() []json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]json.RawMessage, len(f.events))
	for i, e := range f.events {
		out[i] = e
	}
	return out
}
