package report

import (
	"cmp"
	"fmt"
	"strings"
)

// lessonsPrompt stands in for the lessons learned until someone writes them.
const lessonsPrompt = "Not written yet. Write them in a Markdown file under these headings and pass it with --lessons.\n\n" +
	"### What went well\n\n### What went wrong\n\n### Action items\n"

// Markdown renders the run's report as Markdown. Text from the run is escaped so that it neither
// breaks a table nor renders as HTML; the lessons learned are included as written, their headings
// moved two levels down so that they stay within the report's section.
func Markdown(run Run, opts Options) []byte {
	v := build(run, opts)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# %s (%s)\n\n", md(v.Title), md(v.Status))
	if v.Rehearsal != "" {
		p("> **Rehearsal.** %s\n\n", md(v.Rehearsal))
	}
	p("| | |\n|---|---|\n")
	p("| Plan | %s |\n", md(v.Plan))
	p("| Mode | %s |\n", md(v.Mode))
	p("| Status | **%s** |\n", md(v.Status))
	p("| Started by | %s |\n", md(cmp.Or(v.Requester, "unknown")))
	if v.Identities != "" {
		p("| Identities | %s |\n", md(v.Identities))
	}
	p("| Reason | %s |\n", md(cmp.Or(v.Reason, "not given")))
	p("| Workflow | %s |\n", code(v.WorkflowID))
	p("| Run | %s |\n", code(v.RunID))
	p("| Plan SHA-256 | %s |\n", code(v.SHA256))

	p("\n## Summary\n\nAll times are UTC.\n\n| | |\n|---|---|\n")
	p("| Started | %s |\n", v.Started)
	p("| Finished | %s |\n", v.Finished)
	p("| Duration | %s |\n", v.Duration)
	p("| RTO | %s |\n", md(v.RTO))
	p("| RPO | %s |\n", md(v.RPO))
	if v.Error != "" {
		p("| Error | %s |\n", md(v.Error))
	}

	p("\n## Timeline\n\n")
	if len(v.Steps) == 0 {
		p("No steps were recorded.\n")
	} else {
		p("| # | step | type | start | took | status | result |\n|---|---|---|---|---|---|---|\n")
		for _, s := range v.Steps {
			p("| %d | %s | %s | %s | %s | %s | %s |\n", s.N, md(s.ID), md(s.Type), s.Offset, s.Took, md(s.Status), md(s.Result))
		}
	}
	if len(v.Gates) > 0 {
		p("\n### Gates\n\n")
		for _, g := range v.Gates {
			p("- **%s** (%s), waited %s: %s\n", md(g.Step), md(g.Type), g.Waited, md(g.Outcome))
			for _, d := range g.Decisions {
				p("  - %s\n", decisionLine(d))
			}
		}
	}
	if len(v.Compensations) > 0 {
		p("\n### Compensation\n\nSteps undone, in the order they were undone (the newest first):\n\n")
		for _, c := range v.Compensations {
			p("- **%s**: %s\n", md(c.Step), md(c.Outcome))
		}
	}

	p("\n## Decisions and approvals\n\n")
	if len(v.Decisions) == 0 {
		p("No decisions were recorded.\n")
	} else {
		p("| gate | identity | verified | decision | channel | time | reason | ledger entry |\n|---|---|---|---|---|---|---|---|\n")
		for _, d := range v.Decisions {
			p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", md(d.Gate), md(d.Identity), d.Verified, md(d.Decision), md(d.Channel), d.Time, md(d.Reason), md(d.Ledger))
		}
	}
	if v.Ledger != "" {
		p("\n%s\n", md(v.Ledger))
	}

	if v.Rehearsal != "" {
		p("\n## Decision latencies\n\nHow long after each gate opened its answers came.\n\n")
		if len(v.Answers) == 0 {
			p("Nobody answered a gate.\n")
		} else {
			p("| gate | type | identity | answer | time | latency |\n|---|---|---|---|---|---|\n")
			for _, a := range v.Answers {
				p("| %s | %s | %s | %s | %s | %s |\n", md(a.Gate), md(a.Type), md(a.Identity), md(a.Answer), a.Time, a.Latency)
			}
			p("\n| person | answers | median | max |\n|---|---|---|---|\n")
			for _, pl := range v.People {
				p("| %s | %d | %s | %s |\n", md(pl.Identity), pl.Answers, pl.Median, pl.Max)
			}
		}
	}
	p("\n## Notifications\n\n")
	if len(v.Notifications) == 0 {
		p("No notifications were recorded.\n")
	} else {
		p("| time | event | severity | title | delivery |\n|---|---|---|---|---|\n")
		for _, n := range v.Notifications {
			p("| %s | %s | %s | %s | %s |\n", n.Time, md(n.Event), md(n.Severity), md(n.Title), md(n.Delivery))
		}
	}

	p("\n## Lessons learned\n\n")
	if v.Lessons == "" {
		p("%s", lessonsPrompt)
	} else {
		p("%s\n", demoteHeadings(v.Lessons))
	}
	return []byte(b.String())
}

func decisionLine(d decisionView) string {
	var s string
	switch {
	case d.Decision == "approve":
		s = md(d.Identity) + " approved"
	case d.Decision == "reject":
		s = md(d.Identity) + " rejected"
	default:
		s = md(d.Identity) + " chose " + md(strings.TrimPrefix(d.Decision, "choose "))
	}
	if d.Channel != "" {
		s += " via " + md(d.Channel)
	}
	if d.Time != "" {
		s += " at " + d.Time
	}
	if d.Reason != "" {
		s += ": " + md(d.Reason)
	}
	return s
}

var mdEscaper = strings.NewReplacer(
	"\r\n", " ", "\n", " ", "\r", " ",
	`\`, `\\`, "|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`, "`", "\\`", "[", `\[`, "]", `\]`,
)

// md escapes text for a Markdown table cell or line: one line, no markup, no HTML.
func md(s string) string { return mdEscaper.Replace(s) }

// code shows an identifier as code, or "unknown".
func code(s string) string {
	if s == "" {
		return "unknown"
	}
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, "`", "'"), "\n", " ") + "`"
}

// demoteHeadings moves the ATX headings of Markdown outside code blocks two levels down, to at
// most level 6.
func demoteHeadings(src string) string {
	lines := strings.Split(src, "\n")
	fenced := false
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			fenced = !fenced
			continue
		}
		if fenced || !headingRe.MatchString(trimmed) {
			continue
		}
		level := len(trimmed) - len(strings.TrimLeft(trimmed, "#"))
		lines[i] = strings.Repeat("#", min(level+2, 6)) + trimmed[level:]
	}
	return strings.Join(lines, "\n")
}
