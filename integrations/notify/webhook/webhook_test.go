package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/internal/notifytest"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// statuses answers the nth request with codes[n-1], or the last code once they run out.
func statuses(retryAfter string, codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		if codes[min(n, len(codes))-1] == http.StatusMovedPermanently {
			w.Header().Set("Location", "https://elsewhere.example.com/hook?token=hidden")
		}
		w.WriteHeader(codes[min(n, len(codes))-1])
		_, _ = io.WriteString(w, "receiver says\nno")
	}
}

func TestWebhookRequest(t *testing.T) {
	secret := []byte("s3cret")
	rcv := notifytest.NewReceiver(t, nil)
	w := &Notifier{URL: rcv.URL + "/hooks/lifeboat", Secret: notify.StaticSecret(secret), Headers: map[string]string{"Authorization": "Bearer abc"}}
	m := notifytest.Message()
	if err := w.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	h, body := reqs[0].Header, reqs[0].Body
	for name, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "lifeboat", "Authorization": "Bearer abc"} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("%s = %q, want the current Unix time", HeaderTimestamp, h.Get(HeaderTimestamp))
	}
	if err := Verify(secret, h.Get(HeaderTimestamp), string(body), h.Get(HeaderSignature), time.Now(), 0); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(h.Get(HeaderTimestamp) + "." + string(body)))
	if got, want := h.Get(HeaderSignature), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature = %q, want %q, the HMAC-SHA256 of timestamp, dot and body", got, want)
	}

	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.ID == "" || h.Get(HeaderDelivery) != p.ID {
		t.Errorf("delivery header %q, body id %q: want the same, not empty", h.Get(HeaderDelivery), p.ID)
	}
	p.ID = ""
	want := NewPayload(m, "")
	if p.Version != 1 || p.Event != want.Event || p.Severity != want.Severity || p.Title != want.Title ||
		p.Text != want.Text || p.Asset != want.Asset || p.Link != want.Link || p.DedupKey != want.DedupKey ||
		p.Level != want.Level || !p.Time.Equal(m.Time) || len(p.Fields) != 2 || p.Fields["attempt"] != "3" {
		t.Errorf("payload = %+v\nwant %+v", p, want)
	}
}

func TestWebhookWithoutSecretIsUnsigned(t *testing.T) {
	rcv := notifytest.NewReceiver(t, nil)
	w := &Notifier{URL: rcv.URL}
	if err := w.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if h := rcv.Requests()[0].Header; h.Get(HeaderSignature) != "" || h.Get(HeaderTimestamp) == "" {
		t.Fatalf("unsigned request has headers %v", h)
	}
}

// A notification sent again (its activity retried after a worker died) carries the same delivery
// ID, so the receiver can drop the repeat; one without an ID gets a fresh one each time.
func TestWebhookDeliveryIDIsTheNotificationsID(t *testing.T) {
	rcv := notifytest.NewReceiver(t, nil)
	w := &Notifier{URL: rcv.URL}
	m := notifytest.Message()
	m.ID = "3f1c0ffee"
	for range 2 {
		if err := w.Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	m.ID = ""
	if err := w.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rcv.Requests() {
		var p Payload
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		if r.Header.Get(HeaderDelivery) != p.ID {
			t.Fatalf("header %s = %q, payload id %q", HeaderDelivery, r.Header.Get(HeaderDelivery), p.ID)
		}
		ids = append(ids, p.ID)
	}
	if ids[0] != "3f1c0ffee" || ids[1] != "3f1c0ffee" || ids[2] == "" || ids[2] == ids[0] {
		t.Fatalf("delivery IDs %q", ids)
	}
}

// TestPayloadGolden pins the documented body; run with -update after a deliberate change, and bump
// PayloadVersion if a field changed its meaning or went away.
func TestPayloadGolden(t *testing.T) {
	got, err := json.MarshalIndent(NewPayload(notifytest.Message(), "K7Q2M4X9T3B8C5D6F1G0H2J4L6"), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	notifytest.Golden(t, filepath.Join("testdata", "payload-v1.json"), append(got, '\n'), *update)

	empty, err := json.Marshal(NewPayload(notify.Message{Event: "rpo.cleared", Severity: notify.Info, Title: "t"}, "id"))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(empty, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "event", "severity", "asset", "title", "text", "fields", "link", "dedup_key", "level", "time", "id"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("key %q missing from a payload with empty fields: %s", k, empty)
		}
	}
	if string(keys["fields"]) != "{}" {
		t.Errorf("fields = %s, want {}", keys["fields"])
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name          string
		respond       func(int, http.ResponseWriter, *http.Request)
		maxWait       time.Duration
		wantTries     int
		wantErr       string // empty: success
		wantPermanent bool
		minElapsed    time.Duration
		maxElapsed    time.Duration
	}{
		{name: "500 then success", respond: statuses("", 500, 200), wantTries: 2},
		{name: "408 then success", respond: statuses("", 408, 204), wantTries: 2},
		{name: "503 every time", respond: statuses("", 503), wantTries: 3, wantErr: "attempt 3 of 3: 503 Service Unavailable: receiver says no"},
		{name: "400 is permanent", respond: statuses("", 400), wantTries: 1, wantErr: "attempt 1 of 3: 400 Bad Request", wantPermanent: true},
		{name: "404 is permanent", respond: statuses("", 404), wantTries: 1, wantErr: "404 Not Found", wantPermanent: true},
		{name: "redirect is not followed", respond: statuses("", 301), wantTries: 1, wantErr: "redirects are not followed", wantPermanent: true},
		{name: "429 waits as Retry-After asks", respond: statuses("1", 429, 200), wantTries: 2, minElapsed: time.Second},
		{name: "Retry-After is capped", respond: statuses("3600", 503, 200), maxWait: 50 * time.Millisecond, wantTries: 2, maxElapsed: 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secret := []byte("k")
			rcv := notifytest.NewReceiver(t, tt.respond)
			w := &Notifier{URL: rcv.URL, Secret: notify.StaticSecret(secret), Backoff: 5 * time.Millisecond, MaxWait: tt.maxWait}
			if w.MaxWait == 0 {
				w.MaxWait = 5 * time.Second
			}
			start := time.Now()
			err := w.Notify(context.Background(), notifytest.Message())
			elapsed := time.Since(start)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if err != nil && notify.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v", notify.IsPermanent(err), tt.wantPermanent)
			}
			if err != nil && strings.Contains(err.Error(), "hidden") {
				t.Errorf("error quotes the token: %v", err)
			}
			reqs := rcv.Requests()
			if len(reqs) != tt.wantTries {
				t.Fatalf("%d tries, want %d", len(reqs), tt.wantTries)
			}
			id := reqs[0].Header.Get(HeaderDelivery)
			for i, r := range reqs {
				if got := r.Header.Get(HeaderDelivery); got != id || !bytes.Equal(r.Body, reqs[0].Body) {
					t.Errorf("try %d: delivery %q and body differ from the first try's (%q)", i+1, got, id)
				}
				if err := Verify(secret, r.Header.Get(HeaderTimestamp), string(r.Body), r.Header.Get(HeaderSignature), time.Now(), 0); err != nil {
					t.Errorf("try %d: %v", i+1, err)
				}
			}
			if elapsed < tt.minElapsed {
				t.Errorf("took %s, want at least %s", elapsed, tt.minElapsed)
			}
			if tt.maxElapsed > 0 && elapsed > tt.maxElapsed {
				t.Errorf("took %s, want at most %s", elapsed, tt.maxElapsed)
			}
		})
	}
}

func TestWebhookTimeout(t *testing.T) {
	rcv := notifytest.NewReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	w := &Notifier{URL: rcv.URL, Timeout: 50 * time.Millisecond, Attempts: 2, Backoff: time.Millisecond}
	start := time.Now()
	err := w.Notify(context.Background(), notifytest.Message())
	if err == nil || !strings.Contains(err.Error(), "no response within 50ms") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want a timeout", err)
	}
	if notify.IsPermanent(err) {
		t.Error("a timeout is permanent")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %s", elapsed)
	}
	if n := len(rcv.Requests()); n != 2 {
		t.Errorf("%d tries, want 2", n)
	}
}

func TestWebhookStopsWithItsContext(t *testing.T) {
	rcv := notifytest.NewReceiver(t, statuses("", 500))
	w := &Notifier{URL: rcv.URL, Backoff: time.Minute, MaxWait: time.Minute}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := w.Notify(ctx, notifytest.Message())
	if err == nil || !strings.Contains(err.Error(), "would pass the deadline") || notify.IsPermanent(err) {
		t.Fatalf("with a deadline: error = %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err = w.Notify(ctx, notifytest.Message())
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "500 Internal Server Error") || notify.IsPermanent(err) {
		t.Fatalf("cancelled while waiting: error = %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("cancelled while waiting: took %s", elapsed)
	}
	if n := len(rcv.Requests()); n != 2 {
		t.Fatalf("%d tries in all, want 2", n)
	}
}

func TestWebhookFailsWithoutSending(t *testing.T) {
	rcv := notifytest.NewReceiver(t, nil)
	missing := func(context.Context) ([]byte, error) {
		return nil, notify.Permanent(secrets.ErrNotFound)
	}
	flaky := func(context.Context) ([]byte, error) { return nil, errors.New("vault unavailable") }
	tests := []struct {
		name          string
		w             *Notifier
		m             notify.Message
		wantErr       string
		wantPermanent bool
	}{
		{"invalid message", &Notifier{URL: rcv.URL}, notify.Message{Event: "backup.failed"}, "invalid message", true},
		{"not an http URL", &Notifier{URL: "ftp://files.example.com/x"}, notifytest.Message(), "not an absolute http(s) URL", true},
		{"missing secret", &Notifier{URL: rcv.URL, Secret: missing}, notifytest.Message(), "signing secret: secret not found", true},
		{"empty secret", &Notifier{URL: rcv.URL, Secret: notify.StaticSecret(nil)}, notifytest.Message(), "signing secret is empty", true},
		{"secret store down", &Notifier{URL: rcv.URL, Secret: flaky}, notifytest.Message(), "vault unavailable", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Notify(context.Background(), tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if notify.IsPermanent(err) != tt.wantPermanent {
				t.Fatalf("IsPermanent = %v, want %v", notify.IsPermanent(err), tt.wantPermanent)
			}
		})
	}
	if n := len(rcv.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestWebhookHidesURLCredentials(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	w := &Notifier{URL: strings.Replace(closed.URL, "http://", "http://user:pw@", 1) + "/hook?token=hidden#frag", Attempts: 2, Backoff: time.Millisecond}
	if name, want := w.Name(), "webhook "+closed.URL+"/hook?…"; name != want {
		t.Errorf("Name() = %q, want %q", name, want)
	}
	err := w.Notify(context.Background(), notifytest.Message())
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("error = %v, want a retryable network error", err)
	}
	if msg := err.Error(); strings.Contains(msg, "hidden") || strings.Contains(msg, "pw") {
		t.Fatalf("error quotes credentials: %v", err)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("s3cret")
	body := `{"version":1,"event":"backup.failed"}`
	now := time.Unix(1_773_480_000, 0)
	ts := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	sign := func(d time.Duration, b string) string { return Sign(secret, ts(d), []byte(b)) }
	tests := []struct {
		name      string
		secret    []byte
		timestamp string
		body      string
		header    string
		tolerance time.Duration
		wantErr   string // empty: valid
	}{
		{name: "valid", secret: secret, timestamp: ts(0), body: body, header: sign(0, body)},
		{name: "valid, four minutes old", secret: secret, timestamp: ts(-4 * time.Minute), body: body, header: sign(-4*time.Minute, body)},
		{name: "wrong secret", secret: []byte("other"), timestamp: ts(0), body: body, header: sign(0, body), wantErr: "does not match"},
		{name: "tampered body", secret: secret, timestamp: ts(0), body: strings.Replace(body, "failed", "ok", 1), header: sign(0, body), wantErr: "does not match"},
		{name: "timestamp changed", secret: secret, timestamp: ts(time.Second), body: body, header: sign(0, body), wantErr: "does not match"},
		{name: "stale", secret: secret, timestamp: ts(-6 * time.Minute), body: body, header: sign(-6*time.Minute, body), wantErr: "6m0s away from now"},
		{name: "stale for a short tolerance", secret: secret, timestamp: ts(-time.Minute), body: body, header: sign(-time.Minute, body), tolerance: 30 * time.Second, wantErr: "tolerance of 30s"},
		{name: "from the future", secret: secret, timestamp: ts(10 * time.Minute), body: body, header: sign(10*time.Minute, body), wantErr: "away from now"},
		{name: "no header", secret: secret, timestamp: ts(0), body: body, header: "", wantErr: "does not start with sha256="},
		{name: "other algorithm", secret: secret, timestamp: ts(0), body: body, header: "sha1=" + strings.TrimPrefix(sign(0, body), "sha256="), wantErr: "does not start with sha256="},
		{name: "not hex", secret: secret, timestamp: ts(0), body: body, header: "sha256=" + strings.Repeat("zz", 32), wantErr: "64 hex digits"},
		{name: "truncated", secret: secret, timestamp: ts(0), body: body, header: sign(0, body)[:40], wantErr: "64 hex digits"},
		{name: "timestamp not a number", secret: secret, timestamp: "yesterday", body: body, header: sign(0, body), wantErr: "not Unix seconds"},
		{name: "no secret", secret: nil, timestamp: ts(0), body: body, header: sign(0, body), wantErr: "no secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.timestamp, tt.body, tt.header, now, tt.tolerance)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error = %v, want ErrBadSignature with %q", err, tt.wantErr)
			}
		})
	}
}

func TestContract(t *testing.T) {
	rcv := notifytest.NewReceiver(t, nil)
	w := &Notifier{URL: rcv.URL + "/hook?token=hidden", Secret: notify.StaticSecret([]byte("k"))}
	notifytest.Contract(t, w, func() int { return len(rcv.Requests()) }, "hidden")
}
