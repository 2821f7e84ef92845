package runbook

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/lifeboat-dr/lifeboat/activities/plan"
)

// Markdown writes the plan as a Markdown runbook. The step graph is an image linked to
// opts.SVGName, a file the caller writes beside the runbook (SVG gives its content), or, without
// a name, the SVG itself in a fenced code block. Every text from the plan is escaped: it shows as
// written, on one line, and cannot break a table or add markup.
func Markdown(p *plan.Plan, opts Options) ([]byte, error) {
	v, err := build(p, opts)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Runbook: %s\n\n", md(v.Name))
	if v.Description != "" {
		w("%s\n\n", mdStart(v.Description))
	}
	w("| | |\n|---|---|\n")
	w("| Scenario | %s |\n", md(v.Scenario))
	w("| Recovery time objective (RTO) | %s |\n", md(v.RTO))
	w("| Recovery point objective (RPO) | %s |\n", md(v.RPO))
	if v.Labels != "" {
		w("| Labels | %s |\n", md(v.Labels))
	}
	w("| Steps | %s |\n\n", md(v.Shape))
	w("Work through the steps in order; steps in the same wave can run at the same time. Write down\n")
	w("when each one finishes and who did it: the record is needed afterwards.\n\n")

	w("## People and contacts\n\n")
	if v.DirectoryUsed {
		w("Contact details marked (directory) come from the worker's identity directory.\n\n")
	}
	w("| Person | ID | Slack | Email | Phone | PagerDuty | Groups | Roles |\n|---|---|---|---|---|---|---|---|\n")
	for _, person := range v.People {
		w("| %s | %s | %s | %s | %s | %s | %s | %s |\n", md(person.Name), md(person.ID), cell(person.Slack), cell(person.Email),
			cell(person.Phone), cell(person.PagerDuty), cell(person.Groups), cell(person.Roles))
	}
	if len(v.Groups) > 0 {
		w("\n### Groups\n\n| Group | Members |\n|---|---|\n")
		for _, g := range v.Groups {
			w("| %s | %s |\n", md(g.ID), cell(g.Members))
		}
	}
	if len(v.Roles) > 0 {
		w("\n### Roles\n\n| Role | Held by | People |\n|---|---|---|\n")
		for _, r := range v.Roles {
			w("| %s | %s | %s |\n", md(r.Name), cell(r.Refs), cell(r.People))
		}
	}
	w("\n## Escalation and updates\n\n")
	if len(v.Escalation) > 0 {
		w("While a gate waits or a step runs too long (unless the step has its own policy):\n\n")
		for _, l := range v.Escalation {
			w("- %s\n", mdStart(l))
		}
	} else {
		w("The plan has no escalation policy.\n")
	}
	w("\n")
	if len(v.Updates) > 0 {
		w("Stakeholder updates:\n\n")
		for _, l := range v.Updates {
			w("- %s\n", mdStart(l))
		}
	} else {
		w("The plan sends no stakeholder updates: it notifies only those it asks to decide and those its escalations reach.\n")
	}

	w("\n## Step graph\n\n")
	w("Arrows go from a step to the steps that need it; dashed arrows lead to steps that run only when\n")
	w("their condition holds, and labels name the options of a decision that lead there. Gates\n")
	w("(approvals, decisions and manual steps) have dashed borders.\n\n")
	if opts.SVGName != "" {
		w("![Step graph of %s](%s)\n", md(v.Name), linkTarget(opts.SVGName))
	} else {
		w("```svg\n%s```\n", v.SVG)
	}

	w("\n## Steps\n")
	for _, s := range v.Steps {
		w("\n### %d. %s\n\n", s.N, md(s.ID))
		w("*%s step, wave %d.*", md(s.Type), s.Wave)
		if s.Description != "" {
			w(" %s", md(s.Description))
		}
		w("\n\n**%s**\n\n", md(s.Summary))
		if s.Text != "" {
			w("> %s\n\n", mdStart(s.Text))
		}
		writeParams(w, s.Params)
		writeFacts(w, s.Facts)
		if len(s.Branches) > 0 {
			w("\n| Option | Then runs | Skips |\n|---|---|---|\n")
			for _, br := range s.Branches {
				opt := md(br.Option)
				if br.Default {
					opt += " (default)"
				}
				w("| %s | %s | %s |\n", opt, cell(br.Runs), cell(br.Skips))
			}
		}
		for _, st := range s.Strategies {
			w("\n%d. **%s**: %s", st.N, md(st.Name), md(st.What))
			if st.Description != "" {
				w(" %s", md(st.Description))
			}
			w("\n")
			if st.Instructions != "" {
				w("\n   > %s\n", mdStart(st.Instructions))
			}
			if len(st.Params) > 0 {
				w("\n")
				for _, p := range st.Params {
					w("   - `%s` = %s", code(p.Name), md(p.Value))
					if p.Doc != "" {
						w(": %s", md(p.Doc))
					}
					w("\n")
				}
			}
			if len(st.Facts) > 0 {
				w("\n")
				for _, f := range st.Facts {
					w("   - %s: %s\n", md(f.Label), factText(f))
				}
			}
		}
		w("\nDone at: ________  by: ________________\n")
	}
	return []byte(b.String()), nil
}

func writeParams(w func(string, ...any), params []param) {
	if len(params) == 0 {
		return
	}
	w("| Parameter | Value | Meaning |\n|---|---|---|\n")
	for _, p := range params {
		w("| `%s` | %s | %s |\n", cellCode(p.Name), cell(p.Value), cell(p.Doc))
	}
	w("\n")
}

func writeFacts(w func(string, ...any), facts []fact) {
	for _, f := range facts {
		w("- **%s**: %s\n", md(f.Label), factText(f))
	}
}

func factText(f fact) string {
	if f.Code {
		return "`" + code(f.Text) + "`"
	}
	return md(f.Text)
}

var mdEscaper = strings.NewReplacer(
	"\r\n", " ", "\n", " ", "\r", " ",
	`\`, `\\`, "|", `\|`, "&", "&amp;", "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`",
	"[", `\[`, "]", `\]`, "~", `\~`, "#", `\#`,
)

var orderedStart = regexp.MustCompile(`^(\d+)([.)])`)

// md escapes text for a Markdown table cell or the middle of a line: one line, shown as written, no
// markup or HTML.
func md(s string) string { return mdEscaper.Replace(s) }

// mdStart is md for text that starts a line or a list item, where "-", "+", "=" or "1." would
// start a list or underline a heading.
func mdStart(s string) string {
	s = md(s)
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "=") {
		s = `\` + s
	}
	return orderedStart.ReplaceAllString(s, `$1\$2`)
}

// cell is md for a table cell, with a dash for nothing.
func cell(s string) string {
	if s == "" {
		return "—"
	}
	return md(s)
}

// code makes s fit in a code span outside a table (where a "|" needs no escape).
func code(s string) string { return strings.NewReplacer("`", "'", "\n", " ").Replace(s) }

// cellCode makes s fit in a code span in a table cell.
func cellCode(s string) string { return strings.ReplaceAll(code(s), "|", `\|`) }

// linkTarget makes a file name safe as a link's target.
func linkTarget(name string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E").Replace(name)
}
