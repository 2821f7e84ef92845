package runbook_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/activities/plan/runbook"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/testsuite/chromium"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// load reads and validates a plan file as lifeboat plan render does.
func load(t *testing.T, path string) *plan.Plan {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Decode(b)
	if err == nil {
		err = plan.ValidateWith(p, plan.DefaultActions())
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repo.Root(t), "examples", "plans", "*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("example plans: %v (%d found)", err, len(files))
	}
	return files
}

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
		t.Fatalf("%v (run go test ./activities/plan/runbook -run TestGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (run with -update after checking the change):\n%s", path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) && i < len(g); i++ {
		if w[i] != g[i] {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + w[i] + "\ngot:  " + g[i]
		}
	}
	return "lengths differ"
}

// directory is an identity directory that knows two of corrupted-service's people, one with
// other details than the plan's.
func directory() *identity.Directory {
	return &identity.Directory{Mode: identity.Verified, People: []identity.Person{
		{ID: "alice", Name: "Alice Martin", Slack: "U01ALICE01", Email: "alice.martin@example.com", Phone: "+33612345601"},
		{ID: "frank", Name: "Frank Leroy", Slack: "U01FRANK06", Email: "f.leroy@example.com", PagerDuty: "PFRANK6"},
	}}
}

func TestGolden(t *testing.T) {
	p := load(t, filepath.Join(repo.Root(t), "examples", "plans", "corrupted-service.yaml"))
	opts := runbook.Options{Directory: directory(), SVGName: "corrupted-service.svg"}
	md, err := runbook.Markdown(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "corrupted-service.md", md)
	golden(t, "corrupted-service.svg", runbook.SVG(p))
	page, err := runbook.HTML(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "corrupted-service.html", page)
}

// TestEveryExampleRenders renders every example plan in both formats: the HTML parses, holds the
// graph and every step (a section and a box in the graph each), and fetches nothing.
func TestEveryExampleRenders(t *testing.T) {
	for _, f := range examples(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p := load(t, f)
			md, err := runbook.Markdown(p, runbook.Options{})
			if err != nil {
				t.Fatal(err)
			}
			page, err := runbook.HTML(p, runbook.Options{})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := html.Parse(bytes.NewReader(page))
			if err != nil {
				t.Fatal(err)
			}
			sections, boxes, svgs := map[string]bool{}, map[string]bool{}, 0
			walk(doc, func(n *html.Node) {
				switch {
				case n.Data == "div" && attr(n, "class") == "step":
					sections[strings.TrimPrefix(attr(n, "id"), "step-")] = true
				case n.Data == "g" && attr(n, "class") == "rb-step":
					boxes[attr(n, "data-step")] = true
				case n.Data == "svg":
					svgs++
				case n.Data == "script" || n.Data == "link" || n.Data == "img" || n.Data == "iframe":
					t.Errorf("the page has a <%s>: it must be self-contained", n.Data)
				}
				for _, a := range n.Attr {
					if (a.Key == "src" || a.Key == "href") && !strings.HasPrefix(a.Val, "#") {
						t.Errorf("<%s %s=%q> reaches outside the page", n.Data, a.Key, a.Val)
					}
				}
			})
			if svgs != 1 {
				t.Errorf("the page has %d SVG graphs, want 1", svgs)
			}
			for _, s := range p.Spec.Steps {
				if !sections[s.ID] {
					t.Errorf("no section for step %s in the HTML", s.ID)
				}
				if !boxes[s.ID] {
					t.Errorf("no box for step %s in the graph", s.ID)
				}
				if !strings.Contains(string(md), "### ") || !strings.Contains(string(md), ". "+mdID(s.ID)+"\n") {
					t.Errorf("no heading for step %s in the Markdown", s.ID)
				}
			}
			if !strings.Contains(string(md), "```svg\n<svg ") {
				t.Error("the Markdown for standard output does not embed the graph")
			}
		})
	}
}

func mdID(id string) string { return strings.ReplaceAll(id, "_", `\_`) }

func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// hostile is a plan whose every text tries to break out of HTML, SVG and Markdown.
const hostile = `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata:
  name: hostile
  description: "</p><script>alert(1)</script> | cell ` + "`" + `code` + "`" + ` *bold*"
spec:
  scenario: "<img src=x onerror=alert(2)> & friends"
  people:
    - {id: eve, name: "Eve <b>Evil</b> | x", channels: {email: "eve@example.com", slack: "U0|EVE"}}
  roles:
    deciders: [eve]
  steps:
    - id: ask
      description: "# not a heading"
      decision:
        question: "Go </text><script>x</script>?"
        options: ["yes<", "no&"]
        deciders: [deciders]
    - id: act
      needs: [ask]
      when: 'steps.ask.choice == "yes<"'
      manual: {instructions: "Run ` + "`rm -rf </tmp>`" + ` | then\nline two", assignees: [eve]}
`

func TestEveryTextIsEscaped(t *testing.T) {
	p, err := plan.Parse([]byte(hostile))
	if err != nil {
		t.Fatal(err)
	}
	page, err := runbook.HTML(p, runbook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", "<b>Evil", "</text><script>"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("the HTML holds %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;", "Eve &lt;b&gt;Evil&lt;/b&gt; | x", ">yes&lt;</text>"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the HTML does not show %q", want)
		}
	}
	md, err := runbook.Markdown(p, runbook.Options{SVGName: "hostile.svg"})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", "&gt; | x", "U0|EVE", "\n# not", "\nline two"} {
		if bytes.Contains(md, []byte(bad)) {
			t.Errorf("the Markdown holds %q unescaped", bad)
		}
	}
	for _, want := range []string{`Eve &lt;b&gt;Evil&lt;/b&gt; \| x`, `U0\|EVE`, `\# not a heading`} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("the Markdown does not show %q:\n%s", want, md)
		}
	}
}

func TestDecisionBranches(t *testing.T) {
	p := load(t, filepath.Join(repo.Root(t), "examples", "plans", "corrupted-service.yaml"))
	md, err := runbook.Markdown(p, runbook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`| repair | repair-data, repair-reindex, verify-data, check-api | restore-latest, restore-older, restore-reindex |`,
		`| restore-older (default) | restore-older, restore-reindex, verify-data, check-api | repair-data, repair-reindex, restore-latest |`,
	} {
		if !strings.Contains(strings.ReplaceAll(string(md), `\_`, "_"), want) {
			t.Errorf("the decision's table lacks %q", want)
		}
	}
	svg := string(runbook.SVG(p))
	for _, want := range []string{
		`<g class="rb-branch" data-from="repair-or-restore" data-to="repair-data">`,
		`>repair</text>`, `>restore-latest</text>`, `>restore-older</text>`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the graph lacks %s", want)
		}
	}
}

var pdfPage = regexp.MustCompile(`/Type\s*/Page[^s]`)

// TestChromiumPrintsThePage prints two examples' pages to PDF with headless Chromium.
func TestChromiumPrintsThePage(t *testing.T) {
	bin := chromium.Find(t)
	dir := t.TempDir()
	for _, f := range examples(t)[:2] {
		p := load(t, f)
		page, err := runbook.HTML(p, runbook.Options{})
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(dir, p.Metadata.Name+".html")
		out := filepath.Join(dir, p.Metadata.Name+".pdf")
		if err := os.WriteFile(in, page, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		args := append(chromium.Args(t.TempDir()), "--no-pdf-header-footer", "--print-to-pdf="+out, "file://"+in)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.WaitDelay = 5 * time.Second
		logs, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("chromium --print-to-pdf %s: %v\n%s", in, err, logs)
		}
		pdf, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("chromium wrote no PDF: %v\n%s", err, logs)
		}
		if len(pdf) < 1000 || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Fatalf("%s is not a PDF (%d bytes)", out, len(pdf))
		}
		// Each of the five sections starts a page.
		if pages := len(pdfPage.FindAll(pdf, -1)); pages < 5 {
			t.Errorf("%s has %d pages, want at least 5 (a page per section)", out, pages)
		}
	}
}

// TestPrintStylesheet: the page prints a section per page, keeps steps whole, drops backgrounds
// and prints links' addresses.
func TestPrintStylesheet(t *testing.T) {
	p := load(t, filepath.Join(repo.Root(t), "examples", "plans", "primary-db-lost.yaml"))
	page, err := runbook.HTML(p, runbook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, rules, ok := strings.Cut(string(page), "@media print {")
	rules, _, _ = strings.Cut(rules, "\n}\n")
	if !ok {
		t.Fatal("the page has no print stylesheet")
	}
	for _, want := range []string{
		"section + section { break-before: page; }",
		".step, tr, .graph svg { break-inside: avoid; }",
		"background: none !important;",
		`a[href^="http"]::after { content: " <" attr(href) ">";`,
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("the print stylesheet lacks %q:\n%s", want, rules)
		}
	}
}

// TestSVGIsAStandaloneDocument: the graph written beside a Markdown runbook is well-formed XML in
// the SVG namespace, with a box per step and an arrow per need.
func TestSVGIsAStandaloneDocument(t *testing.T) {
	for _, f := range examples(t) {
		p := load(t, f)
		dec := xml.NewDecoder(bytes.NewReader(runbook.SVG(p)))
		steps, arrows, root := 0, 0, ""
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: the SVG is not well-formed: %v", f, err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				if root == "" {
					root = se.Name.Space + " " + se.Name.Local
				}
				for _, a := range se.Attr {
					switch {
					case a.Name.Local == "class" && a.Value == "rb-step":
						steps++
					case a.Name.Local == "class" && strings.HasPrefix(a.Value, "rb-edge"):
						arrows++
					}
				}
			}
		}
		needs := 0
		for _, s := range p.Spec.Steps {
			needs += len(s.Needs)
		}
		if root != "http://www.w3.org/2000/svg svg" || steps != len(p.Spec.Steps) || arrows != needs {
			t.Errorf("%s: root %q, %d boxes for %d steps, %d arrows for %d needs", f, root, steps, len(p.Spec.Steps), arrows, needs)
		}
	}
}
