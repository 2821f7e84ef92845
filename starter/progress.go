package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// progressBar renders a running step's progress on one line, such as
//
//	backup [########------------]  42%  1.2 GiB / ~2.8 GiB  85.3 MiB/s  ETA 18s
//
// with a bar width cells wide. An estimated total (a dump's, from the previous snapshot) is marked
// with "~". Without a total (a backup still counting its files) it shows what is known: bytes,
// rate and files.
func progressBar(p contract.OpProgress, width int) string {
	var parts []string
	rate := 0.0
	if p.Elapsed > 0 {
		rate = float64(p.BytesDone) / p.Elapsed.Seconds()
	}
	if p.BytesTotal > 0 {
		pct := progressPercent(p)
		filled := min(width, int(int64(width)*min(p.BytesDone, p.BytesTotal)/p.BytesTotal))
		bar := "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "]"
		if p.Step != "" {
			bar = p.Step + " " + bar
		}
		total := units.Bytes(p.BytesTotal)
		if p.TotalEstimated {
			total = "~" + total
		}
		parts = append(parts, bar, fmt.Sprintf("%d%%", pct), units.Bytes(p.BytesDone)+" / "+total)
		if rate > 0 {
			parts = append(parts, units.Bytes(int64(rate))+"/s")
			if p.BytesDone < p.BytesTotal {
				eta := time.Duration(float64(p.BytesTotal-p.BytesDone) / rate * float64(time.Second))
				parts = append(parts, "ETA "+units.Duration(max(eta.Round(time.Second), time.Second)).Human())
			}
		}
	} else {
		if p.Step != "" {
			parts = append(parts, p.Step)
		}
		parts = append(parts, units.Bytes(p.BytesDone))
		if rate > 0 {
			parts = append(parts, units.Bytes(int64(rate))+"/s")
		}
		parts = append(parts, plural(p.Files, "file"))
	}
	if p.Attempt > 1 {
		retry := fmt.Sprintf("(attempt %d", p.Attempt)
		if p.Resumed != nil {
			retry += ", resumed after " + units.Bytes(p.Resumed.BytesDone)
		}
		parts = append(parts, retry+")")
	}
	return strings.Join(parts, "  ")
}

// progressPercent is how far p is, 0 to 100, or -1 without a total.
func progressPercent(p contract.OpProgress) int {
	if p.BytesTotal <= 0 {
		return -1
	}
	return int(min(p.BytesDone, p.BytesTotal) * 100 / p.BytesTotal)
}

// barWidth is the number of cells of the progress bars the CLI draws.
const barWidth = 20

// Throttling of progress written to something that is not a terminal (a log, CI).
const (
	liveStepPercent = 10
	liveEvery       = 10 * time.Second
)

// liveLine shows a workflow's progress on stderr. On a terminal it redraws one line in place; on
// anything else it writes a new line when the phase changes, when the percentage moved by 10 points
// or more, or, if the line changed, every 10 seconds — so that logs stay short.
type liveLine struct {
	w   io.Writer
	tty bool
	now func() time.Time

	drawn   int // width of the line drawn on the terminal, 0 when none is
	printed bool
	phase   string
	line    string
	pct     int
	at      time.Time
}

// newLive returns a liveLine for the app's stderr, or nil with JSON output: progress is shown to
// people only.
func (a *app) newLive() *liveLine {
	if a.output != "text" {
		return nil
	}
	return &liveLine{w: a.stderr, tty: isTerminal(a.stderr) && a.termOK(), now: time.Now}
}

func (a *app) termOK() bool {
	term, _ := a.env("TERM")
	return term != "dumb"
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// show displays line, which belongs to phase and is pct percent done (-1: unknown). A nil liveLine
// shows nothing.
func (l *liveLine) show(phase, line string, pct int) {
	if l == nil || line == "" {
		return
	}
	now := l.now()
	if l.tty {
		if line == l.line {
			return
		}
		pad := ""
		if n := len([]rune(line)); n < l.drawn {
			pad = strings.Repeat(" ", l.drawn-n)
		}
		fmt.Fprintf(l.w, "\r  … %s%s", line, pad)
		l.drawn, l.line, l.phase, l.pct, l.at = len([]rune(line)), line, phase, pct, now
		return
	}
	due := !l.printed || phase != l.phase ||
		(pct >= 0 && (l.pct < 0 || abs(pct-l.pct) >= liveStepPercent)) ||
		(line != l.line && now.Sub(l.at) >= liveEvery)
	if !due {
		return
	}
	fmt.Fprintf(l.w, "  … %s\n", line)
	l.printed, l.line, l.phase, l.pct, l.at = true, line, phase, pct, now
}

// done ends the line drawn on a terminal, so that what follows starts on a line of its own.
func (l *liveLine) done() {
	if l == nil || !l.tty || l.drawn == 0 {
		return
	}
	fmt.Fprintln(l.w)
	l.drawn = 0
}

// plural counts n things: "1 file", "12 files".
func plural(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// phaseProgress is the line shown for a workflow in phase: the running step's progress bar while
// it reports progress, the phase otherwise.
func phaseProgress(phase string, p *contract.OpProgress) (line string, pct int) {
	if p == nil {
		return phase, -1
	}
	return progressBar(*p, barWidth), progressPercent(*p)
}
