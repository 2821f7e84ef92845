package report

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var fixtures = []struct {
	name string
	run  func() (Run, Options)
}{
	{"succeeded-recovery", succeededRecovery},
	{"failed-recovery", failedRecovery},
	{"drill-missed-rto", missedDrill},
	{"rehearsal", rehearsal},
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./workflows/report -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test ./workflows/report -update rewrites it):\n--- got\n%s", path, got)
	}
}

func TestReportGolden(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			run, opts := f.run()
			md := Markdown(run, opts)
			golden(t, f.name+".md", md)
			page := HTML(run, opts)
			golden(t, f.name+".html", page)
			if again := HTML(run, opts); !bytes.Equal(page, again) {
				t.Error("HTML differs between two renderings of the same run")
			}
			if again := Markdown(run, opts); !bytes.Equal(md, again) {
				t.Error("Markdown differs between two renderings of the same run")
			}
		})
	}
}

func TestReportEscapesWhatTheRunSays(t *testing.T) {
	run, opts := succeededRecovery()
	page := string(HTML(run, opts))
	md := string(Markdown(run, opts))
	for name, out := range map[string]string{"html": page, "markdown": md} {
		if strings.Contains(strings.ToLower(out), "<script") {
			t.Errorf("%s: a step summary's <script> is not escaped", name)
		}
		if !strings.Contains(out, "&lt;script&gt;") {
			t.Errorf("%s: the escaped summary is missing", name)
		}
	}
	// The lessons' raw HTML is text too.
	if strings.Contains(page, "<b>before</b>") || !strings.Contains(page, "&lt;b&gt;before&lt;/b&gt;") {
		t.Error("html: raw HTML in the lessons is not escaped")
	}
	// A reason with a pipe must not split the Markdown table's row.
	if !strings.Contains(md, `primary confirmed lost \| disk gone`) {
		t.Error("markdown: a | in a reason is not escaped")
	}
}

func TestHTMLIsWellFormedAndSelfContained(t *testing.T) {
	for _, f := range append(fixtures, struct {
		name string
		run  func() (Run, Options)
	}{"running", runningRecovery}) {
		t.Run(f.name, func(t *testing.T) {
			run, opts := f.run()
			page := HTML(run, opts)
			checkBalanced(t, page)
			doc, err := html.Parse(bytes.NewReader(page))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range all(doc, nil) {
				switch {
				case n.DataAtom == atom.Script || n.DataAtom == atom.Link || n.DataAtom == atom.Img || n.DataAtom == atom.Iframe:
					t.Errorf("<%s> in a self-contained page", n.Data)
				case attr(n, "src") != "" || strings.HasPrefix(attr(n, "href"), "http"):
					t.Errorf("<%s> refers to an external asset", n.Data)
				}
				for _, a := range n.Attr {
					if strings.HasPrefix(a.Key, "on") {
						t.Errorf("<%s %s>: event handler", n.Data, a.Key)
					}
				}
			}
			if n := len(all(doc, isElem("svg"))); n != 1 {
				t.Errorf("%d svg elements, want 1", n)
			}
		})
	}
}

// checkBalanced fails unless every element the page opens it closes, in order.
func checkBalanced(t *testing.T, page []byte) {
	t.Helper()
	void := map[string]bool{"meta": true, "br": true, "hr": true, "img": true, "input": true, "link": true, "col": true, "wbr": true,
		"area": true, "base": true, "embed": true, "source": true, "track": true, "param": true}
	z := html.NewTokenizer(bytes.NewReader(page))
	var stack []string
	doctype := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatal(z.Err())
			}
			if len(stack) > 0 {
				t.Fatalf("unclosed elements at the end: %v", stack)
			}
			if !doctype {
				t.Fatal("no doctype")
			}
			return
		case html.DoctypeToken:
			doctype = true
		case html.StartTagToken:
			name, _ := z.TagName()
			if !void[string(name)] {
				stack = append(stack, string(name))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				t.Fatalf("</%s> closes %v", name, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

func TestTimelineHasABarPerStepAndTheRTOLine(t *testing.T) {
	for _, f := range append(fixtures, struct {
		name string
		run  func() (Run, Options)
	}{"running", runningRecovery}) {
		t.Run(f.name, func(t *testing.T) {
			run, opts := f.run()
			doc, err := html.Parse(bytes.NewReader(HTML(run, opts)))
			if err != nil {
				t.Fatal(err)
			}
			svg := all(doc, isElem("svg"))[0]

			var started, rows []string
			for _, s := range run.Result.Steps {
				rows = append(rows, s.ID)
				if !s.StartedAt.IsZero() {
					started = append(started, s.ID)
				}
			}
			var bars, gotRows []string
			var lastBarEnd float64
			for _, n := range all(svg, hasClass("bar")) {
				bars = append(bars, attr(n, "data-step"))
				lastBarEnd = max(lastBarEnd, float(t, attr(n, "x"))+float(t, attr(n, "width")))
				gate := hasClass("gate")(n)
				if wantGate := isGateStep(run, attr(n, "data-step")); gate != wantGate {
					t.Errorf("bar %s: gate class %v, want %v", attr(n, "data-step"), gate, wantGate)
				}
			}
			for _, n := range all(svg, hasClass("row")) {
				gotRows = append(gotRows, attr(n, "data-step"))
			}
			slices.Sort(started)
			slices.Sort(bars)
			slices.Sort(rows)
			slices.Sort(gotRows)
			if !slices.Equal(bars, started) {
				t.Errorf("bars for %v, want one for each started step %v", bars, started)
			}
			if !slices.Equal(gotRows, rows) {
				t.Errorf("rows for %v, want one for each step %v", gotRows, rows)
			}
			if n := len(all(svg, hasClass("hatch"))); n != countGates(run) {
				t.Errorf("%d hatched bars, want one per gate that started (%d)", n, countGates(run))
			}

			lines := all(svg, func(n *html.Node) bool { return n.Data == "line" && attr(n, "class") == "rto" })
			labels := all(svg, func(n *html.Node) bool { return attr(n, "class") == "rto-label" })
			if len(labels) == 1 && strings.Contains(text(labels[0]), "beyond this scale") {
				// An objective far past the run is named, not drawn, and the run fills the plot.
				if len(lines) != 0 {
					t.Errorf("%d RTO lines for an objective beyond the scale", len(lines))
				}
				if lastBarEnd < labelWidth+plotWidth/2 {
					t.Errorf("the last bar ends at x=%v: the run is squeezed into the left half of the plot", lastBarEnd)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d RTO lines, want 1", len(lines))
			}
			x := float(t, attr(lines[0], "x1"))
			if x <= labelWidth || x > labelWidth+plotWidth {
				t.Errorf("RTO line at x=%v, outside the plot", x)
			}
			if run.Result.RTOMet != nil && !*run.Result.RTOMet && x >= lastBarEnd {
				t.Errorf("RTO line at x=%v for a missed RTO, not before the last bar's end at %v", x, lastBarEnd)
			}
			if run.Result.RTOMet != nil && *run.Result.RTOMet && x <= lastBarEnd {
				t.Errorf("RTO line at x=%v for a met RTO, not after the last bar's end at %v", x, lastBarEnd)
			}
		})
	}
}

func TestTimelineWithoutRTOObjectiveHasNoLine(t *testing.T) {
	run, opts := failedRecovery()
	run.Result.Objectives.RTO = 0
	page := string(HTML(run, opts))
	if strings.Contains(page, `class="rto"`) {
		t.Error("an RTO line without an objective")
	}
}

func TestRunningRunIsInProgress(t *testing.T) {
	run, opts := runningRecovery()
	md := string(Markdown(run, opts))
	for _, want := range []string{
		"# Recovery report: orders-db-failover (in progress)",
		"| Finished | in progress |",
		"| Duration | 4m so far (at 2026-03-14 09:04:00 UTC) |",
		"| RTO | in progress: 4m elapsed of an objective of 15m, 11m left |",
		"| 2 | approve-failover | approval | +2s | 3m58s so far | running |",
		"| 3 | promote | action postgres.promote |  |  | pending |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
	if page := string(HTML(run, opts)); !strings.Contains(page, "in progress") {
		t.Error("html does not say the run is in progress")
	}
}

func TestRTOSentence(t *testing.T) {
	base := func() (Run, Options) { return failedRecovery() }
	tests := []struct {
		name    string
		change  func(*Run, *Options)
		want    string
		wantKey string
	}{
		{"met", func(r *Run, _ *Options) { r.Result.Status, r.Result.RTOMet = "succeeded", yes(true) },
			"met: 7m against an objective of 30m, 23m to spare", "met"},
		{"missed", func(r *Run, _ *Options) {
			r.Result.Status, r.Result.RTOMet, r.Result.Objectives.RTO = "succeeded", yes(false), units.Duration(5*time.Minute)
		}, "missed: 7m against an objective of 5m, 2m over", "missed"},
		{"failed", func(*Run, *Options) {}, "not met: the plan did not succeed (its last step ended after 7m; objective 30m)", "missed"},
		{"no objective", func(r *Run, _ *Options) { r.Result.Objectives.RTO = 0 }, "7m achieved; the plan sets no objective", ""},
		{"running past the objective", func(r *Run, o *Options) {
			r.Result.Status, r.Result.FinishedAt, o.Now = "running", time.Time{}, at("31m")
		}, "missed: still in progress after 31m, 1m past the objective of 30m", "missed"},
		{"running without a clock", func(r *Run, _ *Options) { r.Result.Status = "running" }, "in progress; objective 30m", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, opts := base()
			tt.change(&run, &opts)
			got, key := rtoSentence(run.Result, opts.Now)
			if got != tt.want || key != tt.wantKey {
				t.Errorf("rtoSentence = %q, %q; want %q, %q", got, key, tt.want, tt.wantKey)
			}
		})
	}
}

func TestRPOSentence(t *testing.T) {
	d := func(x time.Duration) *units.Duration { u := units.Duration(x); return &u }
	measured := func(obj time.Duration, rpo *units.Duration) workflows.RecoveryResult {
		r := workflows.RecoveryResult{Objectives: plan.Objectives{RPO: units.Duration(obj)}, RPO: rpo}
		if rpo != nil {
			r.IncidentAt = at("0s")
			r.RecoveryPoint, r.RPOStep = r.IncidentAt.Add(-rpo.D()), "promote"
		}
		return r
	}
	tests := []struct {
		r    workflows.RecoveryResult
		want string
	}{
		{measured(5*time.Minute, nil), "objective 5m; achieved: not measured (no step reported a recovery point)"},
		{measured(0, nil), "no objective set; achieved: not measured (no step reported a recovery point)"},
		{measured(5*time.Minute, d(30*time.Second)), "objective 5m; achieved 30s (met, 4m30s to spare): the newest data recovered is from 08:59:30 (step promote), the incident began at 09:00:00"},
		{measured(time.Minute, d(90*time.Second)), "objective 1m; achieved 1m30s (missed, 30s over): the newest data recovered is from 08:58:30 (step promote), the incident began at 09:00:00"},
	}
	for _, tt := range tests {
		if got := rpoSentence(tt.r, at("0s")); got != tt.want {
			t.Errorf("rpoSentence(%v) = %q, want %q", tt.r.RPO, got, tt.want)
		}
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		span, step, total time.Duration
	}{
		{0, time.Second, time.Second},
		{7 * time.Second, time.Second, 7 * time.Second},
		{9*time.Minute + 31*time.Second, 2 * time.Minute, 10 * time.Minute},
		{15 * time.Minute, 2 * time.Minute, 16 * time.Minute},
		{30 * time.Minute, 5 * time.Minute, 30 * time.Minute},
		{5 * time.Hour, time.Hour, 5 * time.Hour},
	}
	for _, tt := range tests {
		step, total := scale(tt.span)
		if step != tt.step || total != tt.total {
			t.Errorf("scale(%v) = %v, %v; want %v, %v", tt.span, step, total, tt.step, tt.total)
		}
	}
}

func TestLessonBlocks(t *testing.T) {
	got := lessonBlocks("# Went well\n\n- fast **approvals**\n  over Slack\n- `lifeboat` worked\n\n1. one\n2. two\nafter\n\n```\ncode <here>\n```\n")
	want := []block{
		{Kind: "h3", Spans: []span{{Text: "Went well"}}},
		{Kind: "ul", Items: [][]span{
			{{Text: "fast "}, {Text: "approvals", Strong: true}, {Text: " over Slack"}},
			{{Text: "lifeboat", Code: true}, {Text: " worked"}},
		}},
		{Kind: "ol", Items: [][]span{{{Text: "one"}}, {{Text: "two"}}}},
		{Kind: "p", Spans: []span{{Text: "after"}}},
		{Kind: "pre", Text: "code <here>"},
	}
	if !equalBlocks(got, want) {
		t.Errorf("lessonBlocks =\n%+v\nwant\n%+v", got, want)
	}
	if got := spans("a * b ** c `unclosed"); len(got) != 1 || got[0].Text != "a * b ** c `unclosed" {
		t.Errorf("spans with unmatched delimiters = %+v", got)
	}
}

func equalBlocks(a, b []block) bool {
	return slices.EqualFunc(a, b, func(x, y block) bool {
		return x.Kind == y.Kind && x.Text == y.Text && slices.Equal(x.Spans, y.Spans) &&
			slices.EqualFunc(x.Items, y.Items, func(p, q []span) bool { return slices.Equal(p, q) })
	})
}

func TestMarkdownEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a | b":             `a \| b`,
		"line\nbreak":       "line break",
		"<img src=x>":       "&lt;img src=x&gt;",
		"**bold** `code`":   "\\*\\*bold\\*\\* \\`code\\`",
		`C:\path [link](u)`: `C:\\path \[link\](u)`,
	} {
		if got := md(in); got != want {
			t.Errorf("md(%q) = %q, want %q", in, got, want)
		}
	}
}

func isGateStep(run Run, id string) bool {
	for _, s := range run.Result.Steps {
		if s.ID == id {
			return isGate(s.Type)
		}
	}
	return false
}

func countGates(run Run) int {
	n := 0
	for _, s := range run.Result.Steps {
		if isGate(s.Type) && !s.StartedAt.IsZero() {
			n++
		}
	}
	return n
}

func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && (match == nil || match(d)) {
			out = append(out, d)
		}
	}
	return out
}

func isElem(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func hasClass(c string) func(*html.Node) bool {
	return func(n *html.Node) bool { return slices.Contains(strings.Fields(attr(n, "class")), c) }
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func float(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return f
}

// text is the text inside n.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
