package readiness

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/lifeboat-dr/lifeboat/testsuite/chromium"
)

// sampleReport is the example configuration with two plans drilled, one of them since changed,
// and one asset watched for three days with a breach.
func sampleReport(t *testing.T) Report {
	in := exampleInputs(t)
	changed := passed(in, "corrupted-service", now.Add(-time.Hour), 3*time.Minute, 0)
	changed.PlanSHA256 = strings.Repeat("0", 64)
	in.Drills = []Drill{passed(in, "vault-unavailable", now.Add(-2*time.Hour), 4*time.Second, 0), changed}
	since := now.Add(-72 * time.Hour)
	in.Protection["orders-db"] = Protection{WatchingSince: since, RPO: 2 * time.Hour, LastBackup: now.Add(-time.Hour), LastVerified: now.Add(-time.Hour),
		Breaches: []Period{{From: since.Add(24 * time.Hour), To: since.Add(30 * time.Hour)}}}
	in.Protection["media-db"] = Protection{WatchingSince: since, RPO: 2 * time.Hour, LastBackup: now.Add(-3 * time.Hour)}
	in.Protection["examples"] = Protection{Error: "its RPO watchdog did not answer: workflow not found"}
	return Compute(in, Policy{Window: 7 * 24 * time.Hour})
}

// node finds the first element for which match holds.
func node(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := node(c, match); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func byAttr(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, key) == val }
}

// The page, as Chromium renders it, shows each service's verdict, each plan's state and measures,
// each asset's compliance with its chart, and the gaps.
func TestReadinessPageInChromium(t *testing.T) {
	bin := chromium.Find(t)
	r := sampleReport(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := HTML(w, r, time.Minute); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	doc, err := html.Parse(strings.NewReader(chromium.DumpDOM(t, bin, srv.URL, time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if s := node(doc, byAttr("id", "summary")); s == nil || !strings.HasPrefix(text(s), "1 of 3 services ready · 1 of 9 plans drilled as they are now") {
		t.Errorf("summary: %q", text(s))
	}
	secrets := node(doc, byAttr("id", "service-secrets"))
	if secrets == nil || attr(secrets, "data-ready") != "true" {
		t.Fatalf("secrets service section missing or not ready: %v", secrets)
	}
	vault := node(secrets, byAttr("data-plan", "vault-unavailable"))
	if vault == nil || attr(vault, "data-state") != StateDrilled || !strings.Contains(text(vault), "4s ≤ 1h met") {
		t.Errorf("vault-unavailable row: %q", text(vault))
	}
	orders := node(doc, byAttr("id", "service-orders"))
	if row := node(orders, byAttr("data-plan", "corrupted-service")); row == nil || attr(row, "data-state") != StateNeedsVerification ||
		!strings.Contains(text(row), "the plan changed since its last passing drill") || !strings.Contains(text(row), "3m ≤ 2h met") {
		t.Errorf("corrupted-service row: %q", text(row))
	}
	asset := node(orders, byAttr("data-asset", "orders-db"))
	if asset == nil || !strings.Contains(text(asset), "91.6% of 3d watched") {
		t.Fatalf("orders-db row: %q", text(asset))
	}
	// Dec 5: a breach from 12:00 to 18:00, a quarter of the day.
	bar := node(asset, byAttr("data-day", "2026-12-05"))
	if bar == nil || attr(bar, "data-compliance") != "0.7500" || attr(bar, "class") != "missed" {
		t.Errorf("Dec 5 bar: %v", bar)
	}
	if bar := node(asset, byAttr("data-day", "2026-12-06")); bar == nil || attr(bar, "class") != "met" {
		t.Errorf("Dec 6 bar: %v", bar)
	}
	if media := node(doc, byAttr("data-asset", "media-db")); media == nil || !strings.Contains(text(media), "outside its RPO") {
		t.Errorf("media-db row: %q", text(media))
	}
	gaps := node(doc, byAttr("id", "gaps"))
	if gaps == nil || !strings.Contains(text(gaps), "asset without a plan examples") || !strings.Contains(text(gaps), "plan never drilled primary-db-lost") {
		t.Errorf("gaps: %q", text(gaps))
	}
}

// Whatever a name or description holds reaches the page as text, never as markup.
func TestReadinessPageEscapes(t *testing.T) {
	r := sampleReport(t)
	r.Services[0].Description = `<script>alert(1)</script>`
	r.Gaps = append(r.Gaps, Gap{Kind: "configuration", Subject: `"><img src=x>`, Detail: "&"})
	var b bytes.Buffer
	if err := HTML(&b, r, 0); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>alert") || strings.Contains(b.String(), "<img src=x>") {
		t.Fatal("user text rendered as markup")
	}
}

// The handler serves the page and its JSON from one computation.
func TestReadinessHandlerServesPageAndJSON(t *testing.T) {
	in := exampleInputs(t)
	h := &Handler{Source: &Source{Config: in.Config, Now: func() time.Time { return now }}, Policy: Policy{}}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r Report
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Summary.Services != 3 || len(r.Assets) != len(in.Config.Assets) || r.Assets[0].Error != "not connected to Temporal" {
		t.Errorf("report %+v", r.Summary)
	}
	if len(r.Problems) == 0 || !strings.Contains(r.Problems[0], "no evidence store is configured") {
		t.Errorf("problems %v", r.Problems)
	}
	page, err := http.Get(srv.URL + PagePath)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Body.Close()
	if page.StatusCode != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") || page.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("page: %d %v", page.StatusCode, page.Header)
	}
}
