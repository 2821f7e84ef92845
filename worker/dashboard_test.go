package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/oidcprovider"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// dashboardFile is the Grafana dashboard of the worker's metrics.
const dashboardFile = "../deploy/grafana/lifeboat.json"

// TestDashboardQueriesExportedMetrics runs the worker against a real dev server, makes it do what
// each panel of deploy/grafana/lifeboat.json shows — workflows that complete and fail, activities
// and local activities that succeed and fail, refused requests at each HTTP endpoint — and then
// requires every metric a panel or variable queries to be in its /metrics. A panel that names a
// metric the worker does not export fails the test, with the panel's title.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	repo.Integration(t, "a Temporal dev server")
	queried := dashboardMetrics(t, dashboardFile)

	srv := devserver.Start(t)
	provider := oidcprovider.Start(t, oidcprovider.Client{ID: "lifeboat-cli"})
	seed, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	writeTestFile(t, filepath.Join(site, "index.html"), "<h1>up</h1>")
	writeTestFile(t, filepath.Join(dir, "identity.key"), string(seed))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	env := config.MapEnv(map[string]string{
		"TEMPORAL_ADDRESS":     srv.HostPort,
		"LIFEBOAT_HTTP_LISTEN": httpAddr,
		"LIFEBOAT_TASK_QUEUE":  "dashboard",
		"LIFEBOAT_CODEC_TOKEN": "tok",
		"TEST_KEY":             codec.GenerateKey(),
	})
	cfgPath := filepath.Join(dir, "lifeboat.yaml")
	writeTestFile(t, cfgPath, fmt.Sprintf(`
identity:
  mode: verified
  signing_key: identity-key
  oidc: {issuer: %q, client_id: lifeboat-cli}
  people:
    - {id: alice, name: Alice, slack: U0ALICE, oidc_subject: %q}
encryption:
  keys: [{id: t1, secret: "${TEST_KEY}"}]
secrets:
  identity-key: file:identity.key
  repo-pass: correct horse battery staple
  intake-key: intake-hmac-key
  slack-signing: slack-signing-secret
  slack-bot: xoxb-not-a-token
probes:
  allowed_hosts: [127.0.0.1]
  checks:
    - {name: worker-health, kind: http, url: "http://%s/healthz"}
assets:
  - name: site
    source: {paths: {include: [%q]}}
    repository: {location: %q, password_secret: repo-pass}
    schedule: {every: 1h}
    retention: {last: 5}
    rpo: 2h
  - name: gone
    source: {paths: {include: [%q]}}
    repository: {location: %q, password_secret: repo-pass}
    schedule: {every: 1h}
    retention: {last: 5}
    rpo: 2h
schedules: {sync_on_start: false}
intake:
  webhook: {secret: intake-key}
  rules:
    - {name: drill, match: {alertname: Drill}, plan: nothing-yet, mode: drill}
slack: {transport: http, signing_secret: slack-signing, bot_token: slack-bot, users: {U0ALICE: alice}, api_url: "http://127.0.0.1:1/api/"}
`, provider.Issuer, oidcprovider.User2, httpAddr, site, filepath.Join(dir, "repos", "site"),
		filepath.Join(dir, "no-such-directory"), filepath.Join(dir, "repos", "gone")))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, []string{"--config", cfgPath}, env, io.Discard, &logs) }()
	base := "http://" + httpAddr
	waitFor(t, "readyz", func() error { return expectHTTP(base+"/readyz", http.StatusOK, "ready") }, exited, &logs)

	cfg, err := config.Load(cfgPath, env)
	if err != nil {
		t.Fatal(err)
	}
	opts, _, err := cfg.ClientOptions(env)
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Dial(t, opts)
	start := func(workflow string, in any) client.WorkflowRun {
		t.Helper()
		r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "dashboard"}, workflow, in)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A probe that passes (local activities), one the worker refuses (a local activity that
	// fails, and a failed workflow), a backup (activities), and a backup of a directory that is
	// not there (an activity that fails; Temporal retries it until the test ends).
	passing := start(workflows.HealthProbeWorkflow, workflows.HealthProbeInput{Target: "worker", Checks: []probe.Check{{Name: "worker-health"}}})
	refused := start(workflows.HealthProbeWorkflow, workflows.HealthProbeInput{Target: "worker", Checks: []probe.Check{{Name: "not-configured"}}})
	backup := start(workflows.BackupWorkflow, workflows.BackupInput{Asset: "site"})
	failing := start(workflows.BackupWorkflow, workflows.BackupInput{Asset: "gone"})
	if err := passing.Get(ctx, nil); err != nil {
		t.Fatalf("passing probe: %v", err)
	}
	if err := refused.Get(ctx, nil); err == nil {
		t.Fatal("a probe of a check the worker does not configure succeeded")
	}
	if err := backup.Get(ctx, nil); err != nil {
		t.Fatalf("backup: %v\n%s", err, logs.String())
	}
	// Each HTTP endpoint counts a refused request.
	for _, path := range []string{"/codec/decode", "/alerts/webhook", "/slack/interactions", "/identity/assert"} {
		resp, err := http.Post(base+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("POST %s without credentials: %s", path, resp.Status)
		}
	}

	// Counters and histograms appear once observed: wait for every queried metric, then name the
	// ones still missing.
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		exported := scrapeMetricNames(t, base+"/metrics")
		missing = missing[:0]
		for _, m := range sortedMetricNames(queried) {
			if !exported[m] {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("the dashboard queries %s (panels: %s), which the worker does not export", m, strings.Join(queried[m], "; "))
	}
	if err := c.TerminateWorkflow(ctx, failing.GetID(), "", "test over"); err != nil {
		t.Error(err)
	}
	cancel()
	select {
	case <-exited:
	case <-time.After(45 * time.Second):
		t.Error("the worker did not stop within 45s")
	}
	if t.Failed() {
		t.Logf("worker log:\n%s", logs.String())
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// scrapeMetricNames returns the names of the series /metrics exposes in the text format, as
// queries name them: histograms as their _bucket, _sum and _count series.
func scrapeMetricNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	body := get(t, url)
	names := map[string]bool{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		names[name] = true
	}
	return names
}

// dashboard is the part of a Grafana dashboard that holds queries.
type dashboard struct {
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type dashboardPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

// dashboardMetrics returns every metric the dashboard's panels and variables query, with where.
func dashboardMetrics(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string][]string{}
	add := func(where, expr string) {
		names := promQLMetrics(expr)
		if len(names) == 0 {
			t.Errorf("%s: %q queries no metric that the test can find", where, expr)
		}
		for _, n := range names {
			if !slices.Contains(out[n], where) {
				out[n] = append(out[n], where)
			}
		}
	}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				add(fmt.Sprintf("%q", p.Title), tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.Query
		if m, ok := q.(map[string]any); ok {
			q = m["query"]
		}
		s, _ := q.(string)
		// label_values(METRIC_SELECTOR, LABEL): the label is not a metric.
		if inner, ok := strings.CutPrefix(s, "label_values("); ok {
			if i := strings.LastIndexByte(inner, ','); i >= 0 {
				s = inner[:i]
			}
		}
		add("variable $"+v.Name, s)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d metrics in %s: the extraction is broken", len(out), path)
	}
	return out
}

func sortedMetricNames(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// promQLAggregations are PromQL's aggregation operators, which may come before their parentheses
// with a by or without clause in between.
var promQLAggregations = []string{"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}

// promQLKeywords are words of PromQL that are not metrics; those of the first line take a label
// list in parentheses.
var promQLKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right",
	"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}

// promQLMetrics returns the metric names in a PromQL expression: identifiers that are not
// functions (followed by a parenthesis), aggregations, keywords or the labels of a grouping,
// outside label matchers ({...}), ranges ([...]) and strings — and the names matched with
// {__name__="..."}.
func promQLMetrics(expr string) []string {
	var out []string
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(expr) && strings.IndexByte(" \t\r\n", expr[i]) >= 0 {
			i++
		}
		return i
	}
	// skipTo returns the index after the byte that closes the group opened at i, strings skipped.
	skipTo := func(i int, open, close byte) int {
		depth := 0
		for ; i < len(expr); i++ {
			switch c := expr[i]; c {
			case '"', '\'', '`':
				j := strings.IndexByte(expr[i+1:], c)
				if j < 0 {
					return len(expr)
				}
				i += j + 1
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(expr)
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := strings.IndexByte(expr[i+1:], c)
			if j < 0 {
				return out
			}
			i += j + 2
		case c == '{':
			end := skipTo(i, '{', '}')
			if m := nameMatcher(expr[i:end]); m != "" {
				out = append(out, m)
			}
			i = end
		case c == '[':
			i = skipTo(i, '[', ']')
		case c == '$':
			for i++; i < len(expr) && (isIdent(expr[i]) || expr[i] == '{' || expr[i] == '}'); i++ {
			}
		case c >= '0' && c <= '9' || c == '.':
			for ; i < len(expr) && (isIdent(expr[i]) || expr[i] == '.'); i++ {
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			next := skipSpace(j)
			switch {
			case slices.Contains(promQLKeywords[:6], word) && next < len(expr) && expr[next] == '(':
				j = skipTo(next, '(', ')') // a grouping's labels
			case slices.Contains(promQLAggregations, word), slices.Contains(promQLKeywords, word):
			case next < len(expr) && expr[next] == '(':
				// a function
			default:
				if !slices.Contains(out, word) {
					out = append(out, word)
				}
			}
			i = j
		default:
			i++
		}
	}
	return out
}

// nameMatcher returns the metric that a matcher list names with __name__="...", or "".
func nameMatcher(matchers string) string {
	_, rest, ok := strings.Cut(matchers, "__name__")
	if !ok {
		return ""
	}
	rest = strings.TrimLeft(rest, " ")
	if !strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "=~") {
		return ""
	}
	rest = strings.TrimLeft(rest[1:], " ")
	if len(rest) < 2 {
		return ""
	}
	end := strings.IndexByte(rest[1:], rest[0])
	if end < 0 {
		return ""
	}
	return rest[1 : end+1]
}

// The metric names of a query are found whatever the query's shape, and nothing else is taken
// for one.
func TestPromQLMetrics(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.95, sum by (le, task_queue) (rate(temporal_activity_schedule_to_start_latency_seconds_bucket{job=~"$job", task_queue=~"$task_queue"}[$__rate_interval])))`,
			[]string{"temporal_activity_schedule_to_start_latency_seconds_bucket"}},
		{`sum(lifeboat_worker_ready{instance=~"$instance"}) / count(lifeboat_build_info)`, []string{"lifeboat_worker_ready", "lifeboat_build_info"}},
		{`count by (version) (lifeboat_build_info)`, []string{"lifeboat_build_info"}},
		{`sum without (instance, pod) (rate(a_total[5m] offset 1h)) > bool 0`, []string{"a_total"}},
		{`a and on (job) group_left (version) b unless c`, []string{"a", "b", "c"}},
		{`topk(5, sum by (outcome) (x{outcome!="ok", note="rate(fake_metric[5m])"}))`, []string{"x"}},
		{`{__name__="named_metric", job="w"}`, []string{"named_metric"}},
		{`rate(process_cpu_seconds_total{job=~"$job"}[${__rate_interval}])`, []string{"process_cpu_seconds_total"}},
		{`max(x) by (le)`, []string{"x"}},
		{`1 - 0.5e3`, nil},
	}
	for _, tt := range tests {
		if got := promQLMetrics(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("promQLMetrics(%s) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}
