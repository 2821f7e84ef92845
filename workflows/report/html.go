package report

import (
	"bytes"
	"html/template"
	"regexp"
	"strings"
)

// HTML renders the run's report as one self-contained HTML page: inline CSS, no scripts, no
// external assets, with the timeline drawn as inline SVG. Every string from the run or the lessons
// is escaped; the lessons' Markdown is rendered for headings, lists, paragraphs, code and bold.
func HTML(run Run, opts Options) []byte {
	v := build(run, opts)
	data := struct {
		view
		LessonsHTML []block
		Prompt      []block
	}{view: v, LessonsHTML: lessonBlocks(v.Lessons), Prompt: lessonBlocks(lessonsPrompt)}
	var b bytes.Buffer
	if err := page.Execute(&b, data); err != nil {
		// The template is fixed and its data plain values: an error here is a bug in this package.
		panic("report: html template: " + err.Error())
	}
	return b.Bytes()
}

// block is a block of the lessons' Markdown: a heading, paragraph, list or code block.
type block struct {
	Kind  string // h3 … h6, p, ul, ol, pre
	Spans []span
	Items [][]span
	Text  string
}

// span is a run of inline text.
type span struct {
	Text         string
	Code, Strong bool
}

var (
	headingRe = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	bulletRe  = regexp.MustCompile(`^\s*[-*+]\s+(.*)$`)
	orderedRe = regexp.MustCompile(`^\s*\d{1,9}[.)]\s+(.*)$`)
)

// lessonBlocks reads the Markdown people write in lessons learned: ATX headings (shown below the
// section's heading), bulleted and numbered lists, fenced code and paragraphs. Anything else is
// shown as text.
func lessonBlocks(src string) []block {
	var out []block
	var cur *block
	var para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, block{Kind: "p", Spans: spans(strings.Join(para, " "))})
			para = nil
		}
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```"):
			flush()
			var code []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				code = append(code, lines[i])
			}
			out = append(out, block{Kind: "pre", Text: strings.Join(code, "\n")})
		case trimmed == "":
			flush()
		case headingRe.MatchString(trimmed):
			flush()
			m := headingRe.FindStringSubmatch(trimmed)
			level := min(len(m[1])+2, 6)
			out = append(out, block{Kind: "h" + string(rune('0'+level)), Spans: spans(m[2])})
		case bulletRe.MatchString(line), orderedRe.MatchString(line):
			kind, m := "ul", bulletRe.FindStringSubmatch(line)
			if m == nil {
				kind, m = "ol", orderedRe.FindStringSubmatch(line)
			}
			if len(para) > 0 || (cur != nil && cur.Kind != kind) {
				flush()
			}
			if cur == nil {
				cur = &block{Kind: kind}
			}
			cur.Items = append(cur.Items, spans(m[1]))
		case cur != nil && (line[0] == ' ' || line[0] == '\t'):
			// A continuation of the last list item.
			last := &cur.Items[len(cur.Items)-1]
			*last = mergeText(append(append(*last, span{Text: " "}), spans(trimmed)...))
		default:
			if cur != nil {
				flush()
			}
			para = append(para, trimmed)
		}
	}
	flush()
	return out
}

// spans splits text into plain, `code` and **strong** runs.
func spans(s string) []span {
	var out []span
	for s != "" {
		i := strings.IndexAny(s, "`*")
		if i < 0 {
			out = append(out, span{Text: s})
			break
		}
		delim := "`"
		if s[i] == '*' {
			delim = "**"
		}
		if !strings.HasPrefix(s[i:], delim) {
			out = append(out, span{Text: s[:i+1]})
			s = s[i+1:]
			continue
		}
		end := strings.Index(s[i+len(delim):], delim)
		if end <= 0 {
			out = append(out, span{Text: s[:i+len(delim)]})
			s = s[i+len(delim):]
			continue
		}
		if i > 0 {
			out = append(out, span{Text: s[:i]})
		}
		inner := s[i+len(delim) : i+len(delim)+end]
		out = append(out, span{Text: inner, Code: delim == "`", Strong: delim == "**"})
		s = s[i+2*len(delim)+end:]
	}
	return mergeText(out)
}

// mergeText joins adjacent plain runs.
func mergeText(in []span) []span {
	var out []span
	for _, s := range in {
		if n := len(out); n > 0 && !s.Code && !s.Strong && !out[n-1].Code && !out[n-1].Strong {
			out[n-1].Text += s.Text
			continue
		}
		out = append(out, s)
	}
	return out
}

var page = template.Must(template.New("report").Parse(pageTemplate))

const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} ({{.Status}})</title>
<style>
:root { --ok: #2e7d32; --fail: #c62828; --comp: #6a1b9a; --run: #1565c0; --skip: #9e9e9e; --pending: #cfd8dc; --cancel: #ef6c00; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1a1a1a; margin: 0; background: #fff; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 12px; }
h2 { font-size: 1.25em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 18px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #e3e3e3; overflow-wrap: break-word; }
th { background: #f4f6f8; font-weight: 600; }
table.facts th { width: 11em; background: none; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .92em; }
pre { background: #f6f8fa; padding: 8px; white-space: pre-wrap; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; font-size: .9em; white-space: nowrap; }
.badge.s-succeeded { background: var(--ok); } .badge.s-failed { background: var(--fail); }
.badge.s-compensated { background: var(--comp); } .badge.s-running { background: var(--run); }
.badge.s-skipped { background: var(--skip); } .badge.s-pending { background: var(--pending); color: #1a1a1a; }
.badge.s-canceled { background: var(--cancel); }
.rto-met { color: var(--ok); font-weight: 600; } .rto-missed { color: var(--fail); font-weight: 600; }
.muted { color: #666; }
.error { color: var(--fail); }
svg.timeline { width: 100%; height: auto; display: block; margin: 8px 0; }
svg.timeline text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; fill: #1a1a1a; }
svg.timeline .grid { stroke: #e3e3e3; stroke-width: 1; }
svg.timeline .axis { stroke: #888; stroke-width: 1; }
svg.timeline .tick { fill: #555; }
svg.timeline .s-succeeded { fill: var(--ok); } svg.timeline .s-failed { fill: var(--fail); }
svg.timeline .s-compensated { fill: var(--comp); } svg.timeline .s-running { fill: var(--run); }
svg.timeline .s-skipped { fill: var(--skip); } svg.timeline .s-pending { fill: var(--pending); }
svg.timeline .s-canceled { fill: var(--cancel); }
svg.timeline .bar.gate { fill-opacity: .35; stroke-width: 1.5; stroke-dasharray: 4 2; }
svg.timeline .bar.gate.s-succeeded { stroke: var(--ok); } svg.timeline .bar.gate.s-failed { stroke: var(--fail); }
svg.timeline .bar.gate.s-compensated { stroke: var(--comp); } svg.timeline .bar.gate.s-running { stroke: var(--run); }
svg.timeline .bar.gate.s-skipped, svg.timeline .bar.gate.s-pending, svg.timeline .bar.gate.s-canceled { stroke: #555; }
svg.timeline .legend.gate { fill-opacity: .35; stroke: var(--ok); stroke-dasharray: 4 2; }
svg.timeline .hatch-line { stroke: #333; stroke-opacity: .45; stroke-width: 2; }
svg.timeline .rto { stroke: var(--fail); stroke-width: 2; stroke-dasharray: 6 3; }
svg.timeline text.rto-label { fill: var(--fail); font-weight: 600; }
svg.timeline text.note { fill: #444; }
svg.timeline text.inbar { fill: #fff; } svg.timeline text.inbar.gate { fill: #1a1a1a; }
svg.timeline text.unstarted { fill: #777; font-style: italic; }
@page { margin: 15mm; }
@media print {
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  h2, h3 { break-after: avoid; }
  tr, svg.timeline, li { break-inside: avoid; }
}
</style>
</head>
<body>
<main>
<h1>{{.Title}} <span class="badge s-{{.StatusKey}}">{{.Status}}</span></h1>
{{- if .Rehearsal}}
<p class="rehearsal" style="background: #fff8e1; border-left: 4px solid #f9a825; padding: 8px 12px;"><strong>Rehearsal.</strong> {{.Rehearsal}}</p>
{{- end}}
<table class="facts">
<tr><th>Plan</th><td>{{.Plan}}</td></tr>
<tr><th>Mode</th><td>{{.Mode}}</td></tr>
<tr><th>Status</th><td><strong>{{.Status}}</strong></td></tr>
<tr><th>Started by</th><td>{{if .Requester}}{{.Requester}}{{else}}<span class="muted">unknown</span>{{end}}</td></tr>
{{- if .Identities}}
<tr><th>Identities</th><td>{{.Identities}}</td></tr>
{{- end}}
<tr><th>Reason</th><td>{{if .Reason}}{{.Reason}}{{else}}<span class="muted">not given</span>{{end}}</td></tr>
<tr><th>Workflow</th><td>{{if .WorkflowID}}<code>{{.WorkflowID}}</code>{{else}}<span class="muted">unknown</span>{{end}}</td></tr>
<tr><th>Run</th><td>{{if .RunID}}<code>{{.RunID}}</code>{{else}}<span class="muted">unknown</span>{{end}}</td></tr>
<tr><th>Plan SHA-256</th><td>{{if .SHA256}}<code>{{.SHA256}}</code>{{else}}<span class="muted">unknown</span>{{end}}</td></tr>
</table>

<h2>Summary</h2>
<p class="muted">All times are UTC.</p>
<table class="facts">
<tr><th>Started</th><td>{{.Started}}</td></tr>
<tr><th>Finished</th><td>{{.Finished}}</td></tr>
<tr><th>Duration</th><td>{{.Duration}}</td></tr>
<tr><th>RTO</th><td{{if .RTOKey}} class="rto-{{.RTOKey}}"{{end}}>{{.RTO}}</td></tr>
<tr><th>RPO</th><td>{{.RPO}}</td></tr>
{{- if .Error}}
<tr><th>Error</th><td class="error">{{.Error}}</td></tr>
{{- end}}
</table>

<h2>Timeline</h2>
{{- with .Chart}}
<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="Timeline of the steps">
<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line class="hatch-line" x1="0" y1="0" x2="0" y2="6"/></pattern></defs>
{{- $c := .}}
{{- range .Ticks}}
<line class="grid" x1="{{.X}}" y1="{{$c.Top}}" x2="{{.X}}" y2="{{$c.Bottom}}"/>
<text class="tick" x="{{.X}}" y="{{$c.AxisLabelY}}" text-anchor="middle">{{.Label}}</text>
{{- end}}
<line class="axis" x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}"/>
<text class="tick" x="{{.LabelX}}" y="{{.AxisLabelY}}" text-anchor="end">since start</text>
{{- range .Rows}}
<g class="row" data-step="{{.ID}}">
<title>{{.Title}}</title>
<text x="{{$c.LabelX}}" y="{{.LabelY}}" text-anchor="end">{{.Label}}</text>
{{- if .Started}}
<rect class="bar s-{{.StatusKey}}{{if .Gate}} gate{{end}}" data-step="{{.ID}}" x="{{.X}}" y="{{.BarY}}" width="{{.W}}" height="14" rx="2"/>
{{- if .Gate}}
<rect class="hatch" x="{{.X}}" y="{{.BarY}}" width="{{.W}}" height="14" fill="url(#hatch)"/>
{{- end}}
<text class="{{if .NoteIn}}inbar{{if .Gate}} gate{{end}}{{else}}note{{end}}" x="{{.NoteX}}" y="{{.LabelY}}"{{if .NoteEnd}} text-anchor="end"{{end}}>{{.Note}}</text>
{{- else}}
<text class="unstarted" x="{{.NoteX}}" y="{{.LabelY}}">{{.Note}}</text>
{{- end}}
</g>
{{- end}}
{{- with .RTO}}
{{- if not .Beyond}}
<line class="rto" x1="{{.X}}" y1="{{.Y1}}" x2="{{.X}}" y2="{{.Y2}}"/>
{{- end}}
<text class="rto-label" x="{{.X}}" y="{{.LabelY}}" text-anchor="{{.Anchor}}">{{.Label}}</text>
{{- end}}
{{- range .Legend}}
{{- if .RTO}}
<line class="rto legend-rto" x1="{{.X}}" y1="{{.Y}}" x2="{{.X}}" y2="{{.Y2}}"/>
<text x="{{.TextX}}" y="{{.TextY}}">{{.Label}}</text>
{{- else}}
<rect class="legend s-{{.StatusKey}}{{if .Gate}} gate{{end}}" x="{{.X}}" y="{{.Y}}" width="16" height="10"/>
{{- if .Gate}}
<rect x="{{.X}}" y="{{.Y}}" width="16" height="10" fill="url(#hatch)"/>
{{- end}}
<text x="{{.TextX}}" y="{{.TextY}}">{{.Label}}</text>
{{- end}}
{{- end}}
</svg>
{{- end}}
{{- if .Steps}}
<table>
<thead><tr><th>#</th><th>step</th><th>type</th><th>start</th><th>took</th><th>status</th><th>result</th></tr></thead>
<tbody>
{{- range .Steps}}
<tr><td class="num">{{.N}}</td><td><code>{{.ID}}</code></td><td>{{.Type}}</td><td class="num">{{.Offset}}</td><td class="num">{{.Took}}</td><td><span class="badge s-{{.StatusKey}}">{{.Status}}</span></td><td>{{.Result}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="muted">No steps were recorded.</p>
{{- end}}
{{- if .Gates}}
<h3>Gates</h3>
<ul>
{{- range .Gates}}
<li><strong>{{.Step}}</strong> ({{.Type}}), waited {{.Waited}}: {{.Outcome}}
{{- if .Decisions}}
<ul>
{{- range .Decisions}}
<li>{{template "decision" .}}</li>
{{- end}}
</ul>
{{- end}}
</li>
{{- end}}
</ul>
{{- end}}
{{- if .Compensations}}
<h3>Compensation</h3>
<p>Steps undone, in the order they were undone (the newest first):</p>
<ul>
{{- range .Compensations}}
<li><strong>{{.Step}}</strong>: <span{{if .Failed}} class="error"{{end}}>{{.Outcome}}</span></li>
{{- end}}
</ul>
{{- end}}

<h2>Decisions and approvals</h2>
{{- if .Decisions}}
<table>
<thead><tr><th>gate</th><th>identity</th><th>verified</th><th>decision</th><th>channel</th><th>time</th><th>reason</th><th>ledger entry</th></tr></thead>
<tbody>
{{- range .Decisions}}
<tr><td><code>{{.Gate}}</code></td><td>{{.Identity}}</td><td>{{.Verified}}</td><td>{{.Decision}}</td><td>{{.Channel}}</td><td class="num">{{.Time}}</td><td>{{.Reason}}</td><td><code>{{.Ledger}}</code></td></tr>
{{- end}}
</tbody>
</table>
{{- if .Ledger}}
<p class="muted">{{.Ledger}}</p>
{{- end}}
{{- else}}
<p class="muted">No decisions were recorded.</p>
{{- end}}

{{- if .Rehearsal}}

<h2>Decision latencies</h2>
<p>How long after each gate opened its answers came.</p>
{{- if .Answers}}
<table>
<thead><tr><th>gate</th><th>type</th><th>identity</th><th>answer</th><th>time</th><th>latency</th></tr></thead>
<tbody>
{{- range .Answers}}
<tr><td><code>{{.Gate}}</code></td><td>{{.Type}}</td><td>{{.Identity}}</td><td>{{.Answer}}</td><td class="num">{{.Time}}</td><td class="num">{{.Latency}}</td></tr>
{{- end}}
</tbody>
</table>
<table>
<thead><tr><th>person</th><th>answers</th><th>median</th><th>max</th></tr></thead>
<tbody>
{{- range .People}}
<tr><td>{{.Identity}}</td><td class="num">{{.Answers}}</td><td class="num">{{.Median}}</td><td class="num">{{.Max}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="muted">Nobody answered a gate.</p>
{{- end}}
{{- end}}

<h2>Notifications</h2>
{{- if .Notifications}}
<table>
<thead><tr><th>time</th><th>event</th><th>severity</th><th>title</th><th>delivery</th></tr></thead>
<tbody>
{{- range .Notifications}}
<tr><td class="num">{{.Time}}</td><td><code>{{.Event}}</code></td><td>{{.Severity}}</td><td>{{.Title}}</td><td{{if .Failed}} class="error"{{end}}>{{.Delivery}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="muted">No notifications were recorded.</p>
{{- end}}

<h2>Lessons learned</h2>
{{- if .LessonsHTML}}
{{- template "blocks" .LessonsHTML}}
{{- else}}
<div class="muted">
{{- template "blocks" .Prompt}}
</div>
{{- end}}
</main>
</body>
</html>
{{define "decision" -}}
{{.Identity}} {{if eq .Decision "approve"}}approved{{else if eq .Decision "reject"}}rejected{{else}}{{.Decision}}{{end}}
{{- if .Channel}} via {{.Channel}}{{end}}{{if .Time}} at {{.Time}}{{end}}{{if .Reason}}: {{.Reason}}{{end}}
{{- end}}
{{define "spans"}}{{range .}}{{if .Code}}<code>{{.Text}}</code>{{else if .Strong}}<strong>{{.Text}}</strong>{{else}}{{.Text}}{{end}}{{end}}{{end}}
{{define "blocks"}}
{{- range .}}
{{- if eq .Kind "p"}}
<p>{{template "spans" .Spans}}</p>
{{- else if eq .Kind "h3"}}
<h3>{{template "spans" .Spans}}</h3>
{{- else if eq .Kind "h4"}}
<h4>{{template "spans" .Spans}}</h4>
{{- else if eq .Kind "h5"}}
<h5>{{template "spans" .Spans}}</h5>
{{- else if eq .Kind "h6"}}
<h6>{{template "spans" .Spans}}</h6>
{{- else if eq .Kind "ul"}}
<ul>
{{- range .Items}}
<li>{{template "spans" .}}</li>
{{- end}}
</ul>
{{- else if eq .Kind "ol"}}
<ol>
{{- range .Items}}
<li>{{template "spans" .}}</li>
{{- end}}
</ol>
{{- else if eq .Kind "pre"}}
<pre>{{.Text}}</pre>
{{- end}}
{{- end}}
{{- end}}
`
