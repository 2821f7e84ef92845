package report

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// The timeline's geometry, in SVG user units.
const (
	chartWidth  = 960
	labelWidth  = 200 // left column with the steps' names
	rightMargin = 30
	plotWidth   = chartWidth - labelWidth - rightMargin
	chartTop    = 34 // room for the RTO label
	rowHeight   = 24
	barHeight   = 14
	maxLabel    = 26 // runes of a step's name shown; the full name is in the bar's title
)

// chart is the Gantt timeline: one row per step, one bar per step that started.
type chart struct {
	Width, Height int
	Left, Right   int
	Top, Bottom   int
	AxisLabelY    int
	LabelX        int // right edge of the steps' names
	Ticks         []tick
	Rows          []chartRow
	RTO           *rtoLine
	LegendY       int
	Legend        []legendItem
}

type tick struct {
	X     string
	Label string
}

type chartRow struct {
	ID        string
	Label     string
	LabelY    int
	BarY      int
	Started   bool
	X, W      string
	StatusKey string
	Gate      bool
	Title     string
	Note      string // duration next to the bar, or why there is no bar
	NoteX     string
	NoteEnd   bool // the note is right-aligned: it would run off the plot after the bar
	NoteIn    bool // and it is drawn inside the bar
}

type rtoLine struct {
	// Beyond says the objective lies past the axis: only its label is drawn.
	Beyond bool
	X      string
	Y1, Y2 int
	LabelY int
	Label  string
	Anchor string // text-anchor of the label, which stays within the chart
}

type legendItem struct {
	X, Y      int // the swatch's top left corner, or the RTO line's top
	Y2        int // the RTO line's bottom
	TextX     int
	TextY     int
	StatusKey string
	Gate      bool
	RTO       bool
	Label     string
}

var tickSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// scale picks the tick interval and the span of the x axis, a whole number of ticks covering span.
func scale(span time.Duration) (step, total time.Duration) {
	step = tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span <= 8*s {
			step = s
			break
		}
	}
	n := max((span+step-1)/step, 1)
	return step, n * step
}

// rtoOnScale is how far past the run the axis stretches to show the RTO objective: an objective
// beyond it is named above the chart instead, so that a short run's steps are not slivers.
const rtoOnScale = 2

func newChart(steps []stepView, rto, total time.Duration) chart {
	span := total
	for _, s := range steps {
		span = max(span, s.end)
	}
	if rto > 0 && rto <= rtoOnScale*span {
		span = max(span, rto)
	}
	step, span := scale(span)
	x := func(d time.Duration) float64 { return labelWidth + float64(d)/float64(span)*plotWidth }

	c := chart{Width: chartWidth, Left: labelWidth, Right: labelWidth + plotWidth, Top: chartTop, LabelX: labelWidth - 8}
	c.Bottom = chartTop + len(steps)*rowHeight + 6
	c.AxisLabelY = c.Bottom + 16
	c.LegendY = c.Bottom + 40
	c.Height = c.LegendY + 16
	for t := time.Duration(0); t <= span; t += step {
		label := human(t)
		if t == 0 {
			label = "0"
		}
		c.Ticks = append(c.Ticks, tick{X: num(x(t)), Label: label})
	}
	for i, s := range steps {
		top := chartTop + i*rowHeight
		r := chartRow{ID: s.ID, Label: truncate(s.ID), LabelY: top + rowHeight/2 + 4, BarY: top + (rowHeight-barHeight)/2,
			Started: s.Started, StatusKey: s.StatusKey, Gate: s.Gate}
		if !s.Started {
			r.Note, r.NoteX = s.Status, num(labelWidth+4)
			r.Title = s.ID + ": " + s.Status
			c.Rows = append(c.Rows, r)
			continue
		}
		x1, x2 := x(s.start), x(s.end)
		w := max(x2-x1, 2)
		r.X, r.W = num(x1), num(w)
		r.Note = s.Took
		if s.Gate {
			r.Note += " waiting"
		}
		r.Title = fmt.Sprintf("%s (%s): %s, from %s, took %s", s.ID, s.Type, s.Status, s.Offset, s.Took)
		switch noteX := x1 + w + 4; {
		case noteX+90 <= float64(c.Right):
			r.NoteX = num(noteX)
		case w >= 90:
			r.NoteX, r.NoteEnd, r.NoteIn = num(x1+w-4), true, true
		default:
			r.NoteX, r.NoteEnd = num(x1-4), true
		}
		c.Rows = append(c.Rows, r)
	}
	if rto > span {
		c.RTO = &rtoLine{X: num(float64(c.Right)), LabelY: chartTop - 12, Anchor: "end", Beyond: true,
			Label: "RTO objective " + human(rto) + ", beyond this scale →"}
	} else if rto > 0 {
		c.RTO = &rtoLine{X: num(x(rto)), Y1: chartTop - 8, Y2: c.Bottom, LabelY: chartTop - 12, Label: "RTO objective " + human(rto), Anchor: "middle"}
		switch xr := x(rto); {
		case xr > chartWidth-80:
			c.RTO.Anchor = "end"
		case xr < labelWidth+80:
			c.RTO.Anchor = "start"
		}
	}
	lx := labelWidth
	for _, li := range []legendItem{
		{StatusKey: "succeeded", Label: "succeeded"}, {StatusKey: "failed", Label: "failed"},
		{StatusKey: "compensated", Label: "undone"}, {StatusKey: "running", Label: "running"},
		{StatusKey: "succeeded", Gate: true, Label: "waiting"}, {RTO: true, Label: "RTO objective"},
	} {
		li.X, li.Y, li.TextX, li.TextY = lx, c.LegendY-5, lx+22, c.LegendY+5
		if li.RTO {
			li.X, li.Y, li.Y2, li.TextX = lx+8, c.LegendY-8, c.LegendY+8, lx+16
		}
		c.Legend = append(c.Legend, li)
		lx += 120
	}
	return c
}

func num(f float64) string { return fmt.Sprintf("%.1f", f) }

func truncate(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	r := []rune(s)
	return string(r[:maxLabel-1]) + "…"
}
