package runbook

import (
	"bytes"
	"html/template"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

// HTML writes the plan as one self-contained HTML page — inline CSS and SVG, no scripts, nothing
// fetched — made for printing: each section starts a page, steps are not split across pages, and
// links print their address. Every text from the plan is escaped.
func HTML(p *plan.Plan, opts Options) ([]byte, error) {
	v, err := build(p, opts)
	if err != nil {
		return nil, err
	}
	data := struct {
		view
		Graph template.HTML
	}{view: v, Graph: template.HTML(v.SVG)} // SVG escapes every text it draws
	var b bytes.Buffer
	if err := page.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var page = template.Must(template.New("runbook").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Runbook: {{.Name}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1a1a1a; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.7em; margin: 0 0 .3em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #1a1a1a; padding-bottom: 2px; margin-top: 1.6em; }
h3 { font-size: 1.1em; margin: 1.2em 0 .3em; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f1f1f1; }
table.facts th { width: 16em; }
code { font: .92em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
a { color: #0645ad; }
.muted { color: #555; }
.step { border: 1px solid #999; border-radius: 4px; padding: 4px 12px 8px; margin: 12px 0; }
.step h3 { margin-top: .4em; }
.step .kind { color: #555; font-weight: normal; font-size: .85em; }
.step dl { display: grid; grid-template-columns: 9em 1fr; gap: 2px 10px; margin: 6px 0; }
.step dt { font-weight: 600; }
.step dd { margin: 0; }
.step ol.strategies > li { margin: 6px 0; }
blockquote { margin: 6px 0; padding: 4px 10px; border-left: 4px solid #888; }
.signoff { margin-top: 8px; color: #333; }
.graph svg { max-width: 100%; height: auto; display: block; margin: 8px auto; }
@page { size: A4; margin: 14mm; }
@media print {
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  * { background: none !important; box-shadow: none !important; }
  a { color: inherit; text-decoration: none; }
  a[href^="http"]::after { content: " <" attr(href) ">"; font-size: .9em; }
  section + section { break-before: page; }
  h2, h3 { break-after: avoid; }
  .step, tr, .graph svg { break-inside: avoid; }
}
</style>
</head>
<body>
<main>
<section id="overview">
<h1>Runbook: {{.Name}}</h1>
{{- if .Description}}
<p>{{.Description}}</p>
{{- end}}
<table class="facts">
<tr><th>Scenario</th><td>{{.Scenario}}</td></tr>
<tr><th>Recovery time objective (RTO)</th><td>{{.RTO}}</td></tr>
<tr><th>Recovery point objective (RPO)</th><td>{{.RPO}}</td></tr>
{{- if .Labels}}
<tr><th>Labels</th><td>{{.Labels}}</td></tr>
{{- end}}
<tr><th>Steps</th><td>{{.Shape}}</td></tr>
</table>
<p>Work through the steps in order; steps in the same wave can run at the same time. Write down when
each one finishes and who did it: the record is needed afterwards.</p>
<h2>Contents</h2>
<ol>
<li><a href="#people">People and contacts</a></li>
<li><a href="#escalation">Escalation and updates</a></li>
<li><a href="#graph">Step graph</a></li>
<li><a href="#steps">Steps</a>
<ol>
{{- range .Steps}}
<li><a href="#step-{{.ID}}">{{.ID}}</a></li>
{{- end}}
</ol></li>
</ol>
</section>

<section id="people">
<h2>People and contacts</h2>
{{- if .DirectoryUsed}}
<p class="muted">Contact details marked (directory) come from the worker's identity directory.</p>
{{- end}}
<table>
<thead><tr><th>Person</th><th>ID</th><th>Slack</th><th>Email</th><th>Phone</th><th>PagerDuty</th><th>Groups</th><th>Roles</th></tr></thead>
<tbody>
{{- range .People}}
<tr><td>{{.Name}}</td><td><code>{{.ID}}</code></td><td>{{or .Slack "—"}}</td><td>{{or .Email "—"}}</td><td>{{or .Phone "—"}}</td><td>{{or .PagerDuty "—"}}</td><td>{{or .Groups "—"}}</td><td>{{or .Roles "—"}}</td></tr>
{{- end}}
</tbody>
</table>
{{- if .Groups}}
<h3>Groups</h3>
<table>
<thead><tr><th>Group</th><th>Members</th></tr></thead>
<tbody>
{{- range .Groups}}
<tr><td><code>{{.ID}}</code></td><td>{{.Members}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
{{- if .Roles}}
<h3>Roles</h3>
<table>
<thead><tr><th>Role</th><th>Held by</th><th>People</th></tr></thead>
<tbody>
{{- range .Roles}}
<tr><td><code>{{.Name}}</code></td><td>{{.Refs}}</td><td>{{.People}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
</section>

<section id="escalation">
<h2>Escalation and updates</h2>
{{- if .Escalation}}
<p>While a gate waits or a step runs too long (unless the step has its own policy):</p>
<ul>
{{- range .Escalation}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- else}}
<p>The plan has no escalation policy.</p>
{{- end}}
{{- if .Updates}}
<p>Stakeholder updates:</p>
<ul>
{{- range .Updates}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- else}}
<p>The plan sends no stakeholder updates: it notifies only those it asks to decide and those its escalations reach.</p>
{{- end}}
</section>

<section id="graph" class="graph">
<h2>Step graph</h2>
<p class="muted">Arrows go from a step to the steps that need it; dashed arrows lead to steps that run only
when their condition holds, and labels name the options of a decision that lead there. Gates
(approvals, decisions and manual steps) have dashed borders.</p>
{{.Graph}}
</section>

<section id="steps">
<h2>Steps</h2>
{{- range .Steps}}
<div class="step" id="step-{{.ID}}">
<h3>{{.N}}. <code>{{.ID}}</code> <span class="kind">{{.Type}} step, wave {{.Wave}}</span></h3>
{{- if .Description}}
<p>{{.Description}}</p>
{{- end}}
<p><strong>{{.Summary}}</strong></p>
{{- if .Text}}
<blockquote>{{.Text}}</blockquote>
{{- end}}
{{- template "params" .Params}}
{{- template "facts" .Facts}}
{{- if .Branches}}
<table>
<thead><tr><th>Option</th><th>Then runs</th><th>Skips</th></tr></thead>
<tbody>
{{- range .Branches}}
<tr><td><strong>{{.Option}}</strong>{{if .Default}} (default){{end}}</td><td>{{.Runs}}</td><td>{{.Skips}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
{{- if .Strategies}}
<ol class="strategies">
{{- range .Strategies}}
<li><strong>{{.Name}}</strong>: {{.What}}{{if .Description}} {{.Description}}{{end}}
{{- if .Instructions}}
<blockquote>{{.Instructions}}</blockquote>
{{- end}}
{{- template "params" .Params}}
{{- template "facts" .Facts}}
</li>
{{- end}}
</ol>
{{- end}}
<p class="signoff">Done at: ________&nbsp;&nbsp; by: ________________</p>
</div>
{{- end}}
</section>
</main>
</body>
</html>
{{define "params"}}
{{- if .}}
<table>
<thead><tr><th>Parameter</th><th>Value</th><th>Meaning</th></tr></thead>
<tbody>
{{- range .}}
<tr><td><code>{{.Name}}</code></td><td>{{.Value}}</td><td>{{.Doc}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
{{- end}}
{{define "facts"}}
{{- if .}}
<dl>
{{- range .}}
<dt>{{.Label}}</dt><dd>{{if .Code}}<code>{{.Text}}</code>{{else}}{{.Text}}{{end}}</dd>
{{- end}}
</dl>
{{- end}}
{{- end}}
`))
