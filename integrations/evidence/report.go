package evidence

import (
	"fmt"
	htmltemplate "html/template"
	"io"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Control is a control of a compliance framework, and the evidence that bears on it.
type Control struct {
	Framework string
	ID        string
	Title     string
	// Kinds are the record kinds that are evidence for it; every one of them is needed in a
	// period, or the period has a gap.
	Kinds []string
	// Why says what the records show about the control.
	Why string
}

// Controls is the mapping of evidence to controls, from which every export format derives.
var Controls = []Control{
	{"SOC 2", "A1.2", "Backup and recovery infrastructure", []string{KindVerification},
		"restores of backed-up assets into scratch space, checked, show that backups and recovery infrastructure work"},
	{"SOC 2", "A1.3", "Recovery plan testing", []string{KindDrill},
		"drills run the recovery plans end to end, undo them, and measure RTO and RPO against the objectives"},
	{"ISO 22301", "8.5", "Exercise programme", []string{KindDrill},
		"drills exercise the business continuity plans on a schedule, with their outcome recorded"},
	{"ISO 22301", "8.6", "Evaluation of business continuity documentation and capabilities", []string{KindDrill, KindVerification},
		"drills and restore verifications evaluate the plans and the recovery capabilities against their objectives"},
	{"ISO 27001:2022", "A.5.30", "ICT readiness for business continuity", []string{KindDrill, KindVerification},
		"drills and restore verifications show the ICT services can be recovered within their objectives"},
	{"DORA", "Article 11", "Response and recovery", []string{KindDrill},
		"drills test the response and recovery plans, with measured recovery times"},
	{"DORA", "Article 12", "Backup policies and procedures, restoration and recovery", []string{KindVerification, KindDrill},
		"restore verifications test that backups restore and pass their checks; drills test the recovery procedures"},
}

// Report is the evidence of a period mapped to the controls.
type Report struct {
	From, To  time.Time
	Generated time.Time
	Location  string
	// Records are the records that verified, oldest first.
	Records []Verified
	// Unverified are the records of the period that did not verify, with why: they are evidence
	// of nothing.
	Unverified []Problem
	Controls   []ControlReport
}

// Problem is a record that did not verify.
type Problem struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// ControlReport is one control's evidence in a period.
type ControlReport struct {
	Control
	Records []Verified
	// Outcomes counts the records by outcome.
	Outcomes map[string]int
	// Gaps say what the period lacks for the control.
	Gaps []string
}

// NewReport maps the verified records of the period [from, to) to Controls and finds the gaps: a
// kind of evidence the control needs that the period has none of, or none that passed.
func NewReport(location string, from, to, generated time.Time, records []Verified, unverified []Problem) Report {
	r := Report{From: from, To: to, Generated: generated, Location: location, Records: records, Unverified: unverified}
	for _, c := range Controls {
		cr := ControlReport{Control: c, Outcomes: map[string]int{}}
		for _, kind := range c.Kinds {
			var n, passed int
			for _, v := range records {
				if v.Record.Kind != kind {
					continue
				}
				n++
				if v.Record.Outcome == OutcomePassed {
					passed++
				}
			}
			switch {
			case n == 0:
				cr.Gaps = append(cr.Gaps, "no "+kind+" in the period")
			case passed == 0:
				cr.Gaps = append(cr.Gaps, fmt.Sprintf("no %s in the period passed (%d failed or not proven)", kind, n))
			}
		}
		for _, v := range records {
			if slices.Contains(c.Kinds, v.Record.Kind) {
				cr.Records = append(cr.Records, v)
				cr.Outcomes[v.Record.Outcome]++
			}
		}
		for _, v := range cr.Records {
			if v.Record.Outcome != OutcomePassed {
				cr.Gaps = append(cr.Gaps, fmt.Sprintf("%s %s of %s: %s (%s)", v.Record.Kind, v.ID, v.Record.Subject, v.Record.Outcome, strings.Join(v.Record.Reasons, "; ")))
			}
		}
		if len(unverified) > 0 {
			cr.Gaps = append(cr.Gaps, fmt.Sprintf("%d records of the period do not verify and are not counted", len(unverified)))
		}
		r.Controls = append(r.Controls, cr)
	}
	return r
}

// Formats of WriteReport.
const (
	FormatMarkdown = "md"
	FormatHTML     = "html"
)

// WriteReport writes r in format (FormatMarkdown or FormatHTML).
func WriteReport(w io.Writer, r Report, format string) error {
	var t interface {
		Execute(io.Writer, any) error
	}
	switch format {
	case FormatMarkdown:
		t = mdReport
	case FormatHTML:
		t = htmlReport
	default:
		return fmt.Errorf("evidence: report format %q: use md or html", format)
	}
	return t.Execute(w, r)
}

// Summary is a record in one line: kind, subject, outcome, who started it and when.
func (v Verified) Summary() string {
	rec := v.Record
	c := rec.Counts()
	s := fmt.Sprintf("%s of %s %s: %s, checks %d passed, %d failed, %d not proven; started by %s", rec.Kind, rec.Subject,
		rec.StartedAt.Format(time.RFC3339), rec.Outcome, c.Passed, c.Failed, c.NotProven, rec.StartedBy.Identity)
	if rec.StartedBy.Verified {
		s += " (verified)"
	}
	if rec.Trust == TrustClient || rec.Trust == TrustUnspecified {
		s += " [identities taken as typed]"
	}
	return s
}

var funcs = map[string]any{
	"date": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"md": func(s string) string {
		return strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "<", "&lt;").Replace(s)
	},
	"count": func(m map[string]int, k string) int { return m[k] },
}

var mdReport = template.Must(template.New("md").Funcs(funcs).Parse(`# Recovery evidence {{date .From}} to {{date .To}}

Evidence store {{md .Location}}, generated {{date .Generated}}. Every record listed here verified
against its signature; a record whose outcome is "not proven" had a check skipped or not run, and
counts as no proof.
{{range .Controls}}
## {{.Framework}} {{.ID}}: {{.Title}}

{{.Why}}.

Records: {{len .Records}} ({{count .Outcomes "passed"}} passed, {{count .Outcomes "failed"}} failed, {{count .Outcomes "not proven"}} not proven).
{{if .Gaps}}
Gaps:
{{range .Gaps}}
- {{md .}}{{end}}
{{else}}
No gaps.
{{end}}{{if .Records}}
| record | kind | subject | outcome | started by | started |
|---|---|---|---|---|---|
{{range .Records}}| {{md .ID}} | {{.Record.Kind}} | {{md .Record.Subject}} | {{.Record.Outcome}} | {{md .Record.StartedBy.Identity}} | {{date .Record.StartedAt}} |
{{end}}{{end}}{{end}}{{if .Unverified}}
## Records that do not verify

{{range .Unverified}}- {{md .ID}}: {{md .Error}}
{{end}}{{end}}`))

var htmlReport = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Recovery evidence {{date .From}} to {{date .To}}</title>
<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}.gap{color:#a00}</style>
</head><body>
<h1>Recovery evidence {{date .From}} to {{date .To}}</h1>
<p>Evidence store {{.Location}}, generated {{date .Generated}}. Every record listed here verified against its signature;
a record whose outcome is "not proven" had a check skipped or not run, and counts as no proof.</p>
{{range .Controls}}<section>
<h2>{{.Framework}} {{.ID}}: {{.Title}}</h2>
<p>{{.Why}}.</p>
<p>Records: {{len .Records}} ({{count .Outcomes "passed"}} passed, {{count .Outcomes "failed"}} failed, {{count .Outcomes "not proven"}} not proven).</p>
{{if .Gaps}}<p>Gaps:</p><ul>{{range .Gaps}}<li class="gap">{{.}}</li>{{end}}</ul>{{else}}<p>No gaps.</p>{{end}}
{{if .Records}}<table><tr><th>record</th><th>kind</th><th>subject</th><th>outcome</th><th>started by</th><th>started</th></tr>
{{range .Records}}<tr><td>{{.ID}}</td><td>{{.Record.Kind}}</td><td>{{.Record.Subject}}</td><td>{{.Record.Outcome}}</td><td>{{.Record.StartedBy.Identity}}</td><td>{{date .Record.StartedAt}}</td></tr>
{{end}}</table>{{end}}
</section>
{{end}}{{if .Unverified}}<h2>Records that do not verify</h2><ul>{{range .Unverified}}<li class="gap">{{.ID}}: {{.Error}}</li>{{end}}</ul>{{end}}
</body></html>
`))
