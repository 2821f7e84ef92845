package readiness

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// human writes a duration the way people read one ("4s", "1h30m", "90d").
func human(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return units.Duration(d).Human()
}

// ago writes how long before now t was.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return human(now.Sub(t).Round(time.Second)) + " ago"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func percent(f float64) string { return fmt.Sprintf("%.1f%%", math.Floor(f*1000)/10) }

// verdict writes a measure against its objective.
func verdict(measured, objective time.Duration, met *bool) string {
	switch {
	case measured <= 0:
		return "not measured"
	case met == nil:
		return human(measured) + " (no objective)"
	case *met:
		return human(measured) + " ≤ " + human(objective) + " met"
	default:
		return human(measured) + " > " + human(objective) + " MISSED"
	}
}

// Text writes the report for a terminal.
func Text(w io.Writer, r Report) {
	fmt.Fprintf(w, "Readiness at %s: %d of %d services ready, %d of %d plans drilled as they are now, %d gaps\n",
		stamp(r.GeneratedAt), r.Summary.Ready, r.Summary.Services, r.Summary.Drilled, r.Summary.Plans, r.Summary.Gaps)
	fmt.Fprintf(w, "(drills due every %s; RPO compliance over the last %s)\n", human(r.Policy.DrillInterval), human(r.Policy.Window))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "! %s\n", p)
	}
	plans := map[string]PlanReadiness{}
	for _, p := range r.Plans {
		plans[p.Name] = p
	}
	assets := map[string]AssetReadiness{}
	for _, a := range r.Assets {
		assets[a.Name] = a
	}
	for _, s := range r.Services {
		state := "READY"
		if !s.Ready {
			state = "NEEDS ATTENTION"
		}
		fmt.Fprintf(w, "\n%s: %s\n", s.Name, state)
		owners := strings.Join(s.Owners, ", ")
		if owners == "" {
			owners = "none"
		}
		fmt.Fprintf(w, "  owners %s; objectives %s\n", owners, objectives(s.RTO, s.RPO, s.Availability))
		if s.MeasuredRTO > 0 {
			fmt.Fprintf(w, "  longest measured RTO %s\n", verdict(s.MeasuredRTO, s.RTO, s.RTOMet))
		}
		for _, n := range s.Plans {
			p, ok := plans[n]
			if !ok {
				fmt.Fprintf(w, "  plan  %-24s missing\n", n)
				continue
			}
			fmt.Fprintf(w, "  plan  %-24s %s\n", n, planLine(p, r.GeneratedAt))
		}
		for _, n := range s.Assets {
			if a, ok := assets[n]; ok {
				fmt.Fprintf(w, "  asset %-24s %s\n", n, assetLine(a, r.GeneratedAt))
			}
		}
		for _, a := range s.Attention {
			fmt.Fprintf(w, "  - %s\n", a)
		}
	}
	if len(r.Gaps) > 0 {
		fmt.Fprintf(w, "\nGaps:\n")
		for _, g := range r.Gaps {
			fmt.Fprintf(w, "  %-28s %s: %s\n", g.Kind, g.Subject, g.Detail)
		}
	}
}

func objectives(rto, rpo time.Duration, availability float64) string {
	var parts []string
	if rto > 0 {
		parts = append(parts, "RTO "+human(rto))
	}
	if rpo > 0 {
		parts = append(parts, "RPO "+human(rpo))
	}
	if availability > 0 {
		parts = append(parts, fmt.Sprintf("availability %g%%", availability))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// planLine is a plan's state in one line.
func planLine(p PlanReadiness, now time.Time) string {
	line := p.State
	if d := p.LastPassed; d != nil {
		line += fmt.Sprintf(": passed %s (%s), RTO %s, RPO %s", ago(d.Ended, now), stamp(d.Ended), verdict(d.RTO, p.RTO, p.RTOMet), verdict(d.RPO, p.RPO, p.RPOMet))
		if !p.Due.IsZero() {
			line += ", next due " + stamp(p.Due)
		}
	}
	if len(p.Reasons) > 0 {
		line += "; " + strings.Join(p.Reasons, "; ")
	}
	return line
}

// assetLine is an asset's protection in one line.
func assetLine(a AssetReadiness, now time.Time) string {
	if a.Error != "" {
		return "unknown: " + a.Error
	}
	state := "inside its RPO of " + human(a.RPO)
	if !a.InRPO {
		state = "OUTSIDE its RPO of " + human(a.RPO)
	}
	verified := "never restore-verified"
	if !a.LastVerified.IsZero() {
		verified = "restore verified " + ago(a.LastVerified, now)
	}
	compliance := "not watched yet"
	if a.Watched > 0 {
		compliance = fmt.Sprintf("within RPO %s of %s watched", percent(a.Compliance), human(a.Watched.Round(time.Minute)))
	}
	return fmt.Sprintf("%s (last backup %s), %s, %s", state, ago(a.LastBackup, now), verified, compliance)
}

//go:embed page.html.tmpl
var pageFS embed.FS

var page = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
	"human":      human,
	"stamp":      stamp,
	"percent":    percent,
	"ago":        ago,
	"verdict":    verdict,
	"objectives": objectives,
	"planLine":   planLine,
	"assetLine":  assetLine,
	"chart":      chart,
	"lower":      func(s string) string { return strings.ReplaceAll(s, " ", "-") },
}).ParseFS(pageFS, "page.html.tmpl"))

// HTML writes the report as a self-contained page that refreshes itself every refresh (none when 0).
func HTML(w io.Writer, r Report, refresh time.Duration) error {
	return page.Execute(w, struct {
		Report
		Refresh int
		Plans   map[string]PlanReadiness
		Assets  map[string]AssetReadiness
	}{r, int(refresh / time.Second), indexPlans(r.Plans), indexAssets(r.Assets)})
}

func indexPlans(ps []PlanReadiness) map[string]PlanReadiness {
	out := map[string]PlanReadiness{}
	for _, p := range ps {
		out[p.Name] = p
	}
	return out
}

func indexAssets(as []AssetReadiness) map[string]AssetReadiness {
	out := map[string]AssetReadiness{}
	for _, a := range as {
		out[a.Name] = a
	}
	return out
}

// Chart geometry.
const (
	chartHeight = 60
	barWidth    = 12
	barGap      = 2
	axisWidth   = 40
)

// chart draws an asset's RPO compliance per day as SVG bars: the share of each watched day spent
// inside the RPO, 0 to 100%, green when the whole day was, amber when part, grey when unwatched.
func chart(a AssetReadiness) template.HTML {
	var b strings.Builder
	width := axisWidth + len(a.Days)*(barWidth+barGap)
	fmt.Fprintf(&b, `<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`, width, chartHeight+16, width, chartHeight+16)
	fmt.Fprintf(&b, `<title>RPO compliance of %s per day</title>`, template.HTMLEscapeString(a.Name))
	fmt.Fprintf(&b, `<text x="0" y="10" class="axis">100%%</text><text x="0" y="%d" class="axis">0%%</text>`, chartHeight)
	fmt.Fprintf(&b, `<line x1="%d" y1="2" x2="%d" y2="2" class="target"/>`, axisWidth-4, width)
	for i, d := range a.Days {
		x := axisWidth + i*(barWidth+barGap)
		label := d.Start.Format("2006-01-02")
		if d.Watched == 0 {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="2" class="unwatched"><title>%s: not watched</title></rect>`, x, chartHeight-2, barWidth, label)
			continue
		}
		h := int(math.Round(d.Compliance * float64(chartHeight-2)))
		class := "met"
		if d.Compliance < 1 {
			class = "missed"
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" class="%s" data-day="%s" data-compliance="%.4f"><title>%s: %s within RPO</title></rect>`,
			x, chartHeight-h, barWidth, max(h, 1), class, label, d.Compliance, label, percent(d.Compliance))
	}
	if n := len(a.Days); n > 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">%s</text>`, axisWidth, chartHeight+14, a.Days[0].Start.Format("Jan 2"))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="end">%s</text>`, width, chartHeight+14, a.Days[n-1].Start.Format("Jan 2"))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from numbers, dates and an escaped name
}
