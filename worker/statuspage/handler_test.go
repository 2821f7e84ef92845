package statuspage_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/statuspage"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// serve starts the page's routes on a test server.
func serve(t *testing.T, h *statuspage.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func getPage(t *testing.T, url string) statuspage.Page {
	t.Helper()
	resp, body := get(t, url+"/status.json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /status.json: %s, %v\n%s", resp.Status, resp.Header, body)
	}
	var p statuspage.Page
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("GET /status.json: %v\n%s", err, body)
	}
	return p
}

func TestHandlerServesHTML(t *testing.T) {
	cfg := testConfig()
	cfg.Components[1].Description = `Reports <script>alert("x")</script> & more`
	cfg.Overrides = []statuspage.Override{{Component: "Search", State: statuspage.Maintenance, Message: `Index "upgrade" <b>now</b>`, From: now.Add(time.Hour)}}
	src := &fixedSource{}
	src.set(statuspage.Snapshot{At: now, Running: []statuspage.RunningRecovery{failoverWaiting()}, Watchdogs: healthyDogs(), Finished: []statuspage.FinishedRecovery{
		{WorkflowID: "recovery-search-rebuild", Plan: "search-rebuild", Result: "succeeded", StartedAt: now.Add(-50 * time.Hour), ClosedAt: now.Add(-49 * time.Hour)},
	}}, nil)
	srv := serve(t, statuspage.NewHandler(cfg, src, statuspage.Options{Now: func() time.Time { return now }}))

	resp, body := get(t, srv.URL+"/status")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /status: %s %v", resp.Status, resp.Header)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	for _, want := range []string{
		`<html lang="en">`,
		`<title>Major outage · Example Shop status</title>`,
		`<section id="overall" class="banner state-major_outage" role="status" aria-live="polite"`,
		`Checkout is unavailable. We are working on it.`,
		`<h3>Checkout</h3><span class="badge"><span class="mark" aria-hidden="true"></span>Major outage</span>`,
		`<li>Recovery in progress (orders-failover): waiting for approval.</li>`,
		`<h3>Recovery: orders-failover</h3><p class="affects">Affects: Checkout</p>`,
		`<dd class="phase">Waiting for approval</dd>`,
		`<dd>2 of 4 steps done</dd>`,
		`<time datetime="2025-06-01T13:48:00Z">2025-06-01 13:48 UTC</time> (12 minutes ago)`,
		`<dt>Target time to recover</dt><dd>30 minutes</dd>`,
		`<li class="outcome-done"><time datetime="2025-06-01T13:50:00Z">2025-06-01 13:50 UTC</time> Stop writes to the old database: done</li>`,
		`Last updated <time datetime="2025-06-01T14:00:00Z">2025-06-01 14:00 UTC</time> (just now)`,
		`<p id="notice" class="notice" hidden></p>`,
		`Past incidents (last 14 days)`,
		`search-rebuild <span class="affects">(Search)</span>`,
		`<span class="badge state-operational"><span class="mark" aria-hidden="true"></span>Recovered</span></td><td>1 hour</td>`,
		`<strong>Search</strong>: from <time datetime="2025-06-01T15:00:00Z">2025-06-01 15:00 UTC</time> (in 1 hour). Index &#34;upgrade&#34; &lt;b&gt;now&lt;/b&gt;</li>`,
		`Reports &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more`,
		`<noscript><meta http-equiv="refresh" content="15"></noscript>`,
		`<body data-refresh="15">`,
		`This page updates itself every 15 seconds.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page does not contain %s", want)
		}
	}
	if strings.Contains(body, `<script>alert`) || strings.Contains(body, "<b>now") {
		t.Error("configured text is not escaped")
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "src=") {
		t.Error("the page refers to something outside itself")
	}

	// The policy allows exactly the inline style and script served, by their hashes: html/template
	// must not have changed a byte of them.
	csp := resp.Header.Get("Content-Security-Policy")
	for _, tag := range []string{"style", "script"} {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no <%s> in the page", tag)
		}
		sum := sha256.Sum256([]byte(m[1]))
		if want := tag + "-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q does not allow the page's %s (%s)", csp, tag, want)
		}
	}
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestHandlerServesJSON(t *testing.T) {
	src := &fixedSource{}
	src.set(statuspage.Snapshot{At: now, Running: []statuspage.RunningRecovery{failoverWaiting()}, Watchdogs: healthyDogs()}, nil)
	srv := serve(t, statuspage.NewHandler(testConfig(), src, statuspage.Options{Now: func() time.Time { return now }}))
	p := getPage(t, srv.URL)
	want := statuspage.Build(testConfig(), &statuspage.Snapshot{At: now, Running: []statuspage.RunningRecovery{failoverWaiting()}, Watchdogs: healthyDogs()}, nil, now)
	got, _ := json.Marshal(p)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("status.json\n got %s\nwant %s", got, wantJSON)
	}
	if p.Overall != statuspage.MajorOutage || len(p.Active) != 1 || p.Active[0].Phase != "Waiting for approval" || p.RefreshSeconds != 15 {
		t.Errorf("status.json: %+v", p)
	}
	_, raw := get(t, srv.URL+"/status.json")
	for _, key := range []string{`"overall": "major_outage"`, `"overall_label": "Major outage"`, `"as_of": {`, `"relative": "just now"`, `"components": [`, `"incidents": []`, `"planned": []`} {
		if !strings.Contains(raw, key) {
			t.Errorf("status.json does not contain %s:\n%s", key, raw)
		}
	}
	if strings.Contains(raw, "recovery-orders-failover") || strings.Contains(raw, "orders-db") {
		t.Errorf("status.json shows workflow IDs or asset names beyond the notes:\n%s", raw)
	}
}

func TestHandlerCachesAndKeepsTheLastKnownState(t *testing.T) {
	clk := &clock{t: now}
	cfg := testConfig()
	cfg.CacheTTL = units.Duration(5 * time.Second)
	src := &fixedSource{}
	src.set(statuspage.Snapshot{At: now, Running: []statuspage.RunningRecovery{failoverWaiting()}, Watchdogs: healthyDogs()}, nil)
	srv := serve(t, statuspage.NewHandler(cfg, src, statuspage.Options{Now: clk.Now}))

	getPage(t, srv.URL)
	get(t, srv.URL+"/status")
	getPage(t, srv.URL)
	if n := src.count(); n != 1 {
		t.Errorf("three requests within the cache period read the source %d times, want 1", n)
	}
	if got := src.reqs[0]; !got.FinishedSince.Equal(now.Add(-14*24*time.Hour)) || strings.Join(got.Assets, ",") != "orders-db,warehouse" {
		t.Errorf("request %+v", got)
	}

	// Temporal goes away: the page shows the last reading, as of its time, and says so.
	src.set(statuspage.Snapshot{}, errors.New("dial tcp 10.1.2.3:7233: connection refused"))
	clk.add(10 * time.Minute)
	p := getPage(t, srv.URL)
	if p.Live || p.Overall != statuspage.MajorOutage || len(p.Active) != 1 || !strings.Contains(p.Notice, "as of 2025-06-01 14:00 UTC (10 minutes ago)") {
		t.Errorf("during an outage: live %v, overall %s, %d active, notice %q", p.Live, p.Overall, len(p.Active), p.Notice)
	}
	_, body := get(t, srv.URL+"/status")
	if !strings.Contains(body, `<p id="notice" class="notice">The current status cannot be read right now. This page shows the status as of 2025-06-01 14:00 UTC (10 minutes ago)`) || strings.Contains(body, "10.1.2.3") {
		t.Errorf("the HTML page during an outage:\n%s", body)
	}
	if n := src.count(); n != 2 {
		t.Errorf("a failed reading is cached too: %d readings, want 2", n)
	}

	// Temporal is back.
	src.set(statuspage.Snapshot{At: clk.Now(), Watchdogs: healthyDogs()}, nil)
	clk.add(6 * time.Second)
	if p := getPage(t, srv.URL); !p.Live || p.Overall != statuspage.Operational || p.Notice != "" {
		t.Errorf("after the outage: %+v", p)
	}
}

func TestHandlerReadsOnceForConcurrentVisitors(t *testing.T) {
	src := &fixedSource{block: make(chan struct{})}
	src.set(statuspage.Snapshot{At: now, Watchdogs: healthyDogs()}, nil)
	h := statuspage.NewHandler(testConfig(), src, statuspage.Options{Now: func() time.Time { return now }})

	var wg sync.WaitGroup
	pages := make([]statuspage.Page, 8)
	for i := range pages {
		wg.Go(func() { pages[i] = h.Page(context.Background()) })
	}
	for src.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the others arrive and wait
	close(src.block)
	wg.Wait()
	if n := src.count(); n != 1 {
		t.Errorf("8 concurrent visitors read the source %d times, want 1", n)
	}
	for i, p := range pages {
		if !p.Live || p.Overall != statuspage.Operational {
			t.Errorf("visitor %d: live %v, overall %s", i, p.Live, p.Overall)
		}
	}

	// A visitor who leaves while the first reading is under way gets the page at once, as unknown.
	slow := &fixedSource{block: make(chan struct{})}
	h = statuspage.NewHandler(testConfig(), slow, statuspage.Options{Now: func() time.Time { return now }})
	go h.Page(context.Background())
	for slow.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if p := h.Page(ctx); p.Live || p.Overall != statuspage.Unknown {
		t.Errorf("while the first reading is under way: live %v, overall %s", p.Live, p.Overall)
	}
	close(slow.block)
}

func TestHandlerSurvivesAPanickingSource(t *testing.T) {
	h := statuspage.NewHandler(testConfig(), panicSource{}, statuspage.Options{Now: func() time.Time { return now }})
	if p := h.Page(context.Background()); p.Live || p.Overall != statuspage.Unknown {
		t.Errorf("live %v, overall %s", p.Live, p.Overall)
	}
	if p := h.Page(context.Background()); p.Overall != statuspage.Unknown {
		t.Errorf("the second visitor: overall %s", p.Overall)
	}
}

type panicSource struct{}

func (panicSource) Snapshot(context.Context, statuspage.Request) (statuspage.Snapshot, error) {
	panic("boom")
}

func TestTemporalSourceNotConnected(t *testing.T) {
	src := &statuspage.TemporalSource{Client: nilClient}
	if _, err := src.Snapshot(context.Background(), statuspage.Request{}); !errors.Is(err, statuspage.ErrNotConnected) {
		t.Errorf("err %v, want ErrNotConnected", err)
	}
}

func nilClient() client.Client { return nil }

// syncBuffer is a log destination the handler and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHandlerLogsUnreadableDetailsOnce(t *testing.T) {
	clk := &clock{t: now}
	var logs syncBuffer
	dogs := healthyDogs()
	dogs["warehouse"] = statuspage.Watchdog{Asset: "warehouse", Stale: true, Problem: "query status of rpo-warehouse: context deadline exceeded"}
	src := &fixedSource{}
	src.set(statuspage.Snapshot{At: now, Watchdogs: dogs}, nil)
	h := statuspage.NewHandler(testConfig(), src, statuspage.Options{Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 3 {
		h.Page(context.Background())
		clk.add(time.Second)
	}
	if n := strings.Count(logs.String(), "rpo-warehouse: context deadline exceeded"); n != 1 || src.count() != 3 {
		t.Errorf("the same problem in 3 readings was logged %d times, want once:\n%s", n, logs.String())
	}
	src.set(statuspage.Snapshot{At: now, Watchdogs: healthyDogs()}, errors.New("connection refused"))
	h.Page(context.Background())
	if !strings.Contains(logs.String(), "connection refused") || !strings.Contains(logs.String(), "last_known=2025-06-01T14:00:00Z") {
		t.Errorf("a failed reading is not logged with the state shown instead:\n%s", logs.String())
	}
}
