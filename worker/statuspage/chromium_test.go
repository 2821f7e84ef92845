package statuspage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	chromiumtest "github.com/lifeboat-dr/lifeboat/testsuite/chromium"
	"github.com/lifeboat-dr/lifeboat/worker/statuspage"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// chromium finds a Chromium binary, or skips the test without one (outside CI).
func chromium(t *testing.T) string {
	t.Helper()
	return chromiumtest.Binary(t)
}

// dumpDOM loads url in headless Chromium, lets virtual time run for budget (timers fire at once,
// network requests complete) and returns the DOM as it then is.
func dumpDOM(t *testing.T, bin, url string, budget time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append(chromiumtest.Flags(t.TempDir()), "--virtual-time-budget="+strconv.Itoa(int(budget/time.Millisecond)), "--dump-dom", url)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr.String())
	}
	return string(out)
}

// shape is the page's <main> as a list of tokens: each element's tag and class, and each text,
// trimmed. Two renderings with the same shape show the same thing the same way.
func shape(t *testing.T, page string) []string {
	t.Helper()
	main := findMain(t, page)
	var out []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			if s := strings.Join(strings.Fields(n.Data), " "); s != "" {
				out = append(out, s)
			}
		case html.ElementNode:
			tok := "<" + n.Data
			for _, a := range n.Attr {
				if a.Key == "class" {
					tok += "." + strings.Join(strings.Fields(a.Val), ".")
				}
			}
			out = append(out, tok+">")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(main)
	return out
}

// mainHTML is the page's <main> element, as html.Render writes it.
func mainHTML(t *testing.T, page string) string {
	t.Helper()
	var b strings.Builder
	if err := html.Render(&b, findMain(t, page)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// findMain parses a page and returns its <main> element.
func findMain(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var main *html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "main" {
			main = n
			return
		}
		for c := n.FirstChild; c != nil && main == nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if main == nil {
		t.Fatalf("no <main> in\n%s", page)
	}
	return main
}

// browserSite serves the page from a source that turns to "after" once the HTML has been served:
// the HTML shows "before", and only the script's poll of status.json can show "after".
type browserSite struct {
	src           *fixedSource
	before, after statuspage.Snapshot
	jsonRequests  atomic.Int32
	failJSON      atomic.Bool
	mu            sync.Mutex
}

func (s *browserSite) handler(h *statuspage.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/status":
			s.mu.Lock()
			defer s.mu.Unlock()
			s.src.set(s.before, nil)
			h.ServeHTML(w, r)
			s.src.set(s.after, nil)
		case "/status.json":
			s.jsonRequests.Add(1)
			if s.failJSON.Load() {
				http.Error(w, "worker restarting", http.StatusServiceUnavailable)
				return
			}
			h.ServeJSON(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// TestBrowserShowsTheStateAndUpdatesItself loads the page in headless Chromium: the server-rendered
// page shows a recovery in progress; after the page's poll of status.json, the recovered state,
// drawn by the script exactly as the server would draw it.
func TestBrowserShowsTheStateAndUpdatesItself(t *testing.T) {
	bin := chromium(t)
	start := time.Now()
	clk := func() time.Time { return now.Add(time.Since(start)) }
	cfg := testConfig()
	cfg.CacheTTL = units.Duration(time.Nanosecond)
	cfg.Overrides = []statuspage.Override{{Component: "Search", State: statuspage.Maintenance, Message: `Index "upgrade" <b>soon</b>.`, From: now.Add(time.Hour), Until: now.Add(3 * time.Hour)}}

	recovered := failoverWaiting()
	staleDogs := healthyDogs()
	staleDogs["warehouse"] = statuspage.Watchdog{Asset: "warehouse", Stale: true, Status: &workflows.RPOStatus{Asset: "warehouse", RPO: units.Duration(24 * time.Hour), LastBackup: now.Add(-30 * time.Hour), Stale: true}}
	site := &browserSite{
		src:    &fixedSource{},
		before: statuspage.Snapshot{At: now, Running: []statuspage.RunningRecovery{failoverWaiting()}, Watchdogs: healthyDogs()},
		after: statuspage.Snapshot{At: now, Watchdogs: staleDogs, Running: []statuspage.RunningRecovery{searchDrill()}, Finished: []statuspage.FinishedRecovery{
			{WorkflowID: recovered.WorkflowID, Plan: recovered.Plan, Result: "succeeded", StartedAt: now.Add(-12 * time.Minute), ClosedAt: now.Add(-time.Minute)},
		}},
	}
	h := statuspage.NewHandler(cfg, site.src, statuspage.Options{Now: clk})
	srv := httptest.NewServer(site.handler(h))
	t.Cleanup(srv.Close)

	t.Run("the server-rendered page", func(t *testing.T) {
		dom := dumpDOM(t, bin, srv.URL+"/status", 2*time.Second) // before the first poll
		main := mainHTML(t, dom)
		if !strings.Contains(dom, "<title>Major outage · Example Shop status</title>") {
			t.Error("the title does not say Major outage")
		}
		for _, want := range []string{
			`class="banner state-major_outage"`, ">Major outage<", "Checkout is unavailable. We are working on it.",
			"Recovery: orders-failover", `<dd class="phase">Waiting for approval</dd>`, "Stop writes to the old database: done",
			`Index &#34;upgrade&#34; &lt;b&gt;soon&lt;/b&gt;.`,
		} {
			if !strings.Contains(main, want) {
				t.Errorf("the DOM does not show %s\n%s", want, main)
			}
		}
		if strings.Contains(main, "data-updated=") || site.jsonRequests.Load() != 0 {
			t.Errorf("the page polled before its refresh interval: %d requests", site.jsonRequests.Load())
		}
	})

	t.Run("after the poll", func(t *testing.T) {
		dom := dumpDOM(t, bin, srv.URL+"/status", 20*time.Second) // the poll runs at 15 s of virtual time
		main := mainHTML(t, dom)
		if site.jsonRequests.Load() == 0 || !strings.Contains(main, "data-updated=") {
			t.Fatalf("the script did not poll status.json (%d requests)\n%s", site.jsonRequests.Load(), dom)
		}
		if !strings.Contains(dom, "<title>Degraded service · Example Shop status</title>") {
			t.Error("the script did not update the title")
		}
		for _, want := range []string{
			`class="banner state-degraded"`, "Reports is running with reduced protection or performance.",
			"Backups of warehouse are behind schedule: the last good backup is 1 day 6 hours old (target: at most 1 day).",
			"Recovery exercise (drill): search-rebuild", `<dd class="phase">Restoring data from backup</dd>`, "(taking longer than planned)",
			"Start servers: failed", "Scale servers: undone", "Recovered", "orders-failover",
		} {
			if !strings.Contains(main, want) {
				t.Errorf("after the poll, the DOM does not show %s\n%s", want, main)
			}
		}
		if strings.Contains(main, "Waiting for approval") || strings.Contains(main, "state-major_outage") {
			t.Error("after the poll, the DOM still shows the recovery in progress")
		}

		// The script draws the page exactly as the server does.
		served := httptest.NewRecorder()
		h.ServeHTML(served, httptest.NewRequest(http.MethodGet, "/status", nil)) // the source now reads "after"
		got, want := shape(t, dom), shape(t, served.Body.String())
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("the script's rendering differs from the server's:\n%s", diffLines(want, got))
		}
	})

	t.Run("when status.json fails", func(t *testing.T) {
		site.failJSON.Store(true)
		defer site.failJSON.Store(false)
		main := mainHTML(t, dumpDOM(t, bin, srv.URL+"/status", 20*time.Second))
		if !strings.Contains(main, `<p id="notice" class="notice">This page cannot reach the status service right now; what it shows may be out of date. It keeps trying.</p>`) {
			t.Errorf("the page does not say it cannot update:\n%s", main)
		}
		if !strings.Contains(main, "Waiting for approval") {
			t.Error("the page dropped what it showed when the poll failed")
		}
	})
}

// searchDrill is a drill of search-rebuild, past its objective, that restores data after a step
// failed and another was undone.
func searchDrill() statuspage.RunningRecovery {
	started := now.Add(-20 * time.Minute)
	return statuspage.RunningRecovery{
		WorkflowID: "drill-search-rebuild", Plan: "search-rebuild", Drill: true, StartedAt: started,
		State: &workflows.RecoveryResult{
			Plan: "search-rebuild", Mode: workflows.ModeDrill, Status: workflows.StepRunning, StartedAt: started,
			Objectives: plan.Objectives{RTO: units.Duration(15 * time.Minute)},
			Steps: []workflows.StepState{
				{ID: "scale", Type: plan.TypeAction, Action: "aws.asg_set_capacity", Status: workflows.StepCompensated, FinishedAt: started.Add(2 * time.Minute)},
				{ID: "start", Type: plan.TypeAction, Action: "aws.ec2_start", Status: plan.StatusFailed, Critical: false, FinishedAt: started.Add(3 * time.Minute)},
				{ID: "restore", Type: plan.TypeAction, Action: "restore.asset", Status: workflows.StepRunning},
			},
		},
	}
}

// diffLines shows where two token lists part.
func diffLines(want, got []string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(i-5, 0)
	return "server:\n  " + strings.Join(want[lo:min(i+5, len(want))], "\n  ") + "\nscript:\n  " + strings.Join(got[lo:min(i+5, len(got))], "\n  ")
}
