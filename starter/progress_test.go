package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
)

func TestProgressBar(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		name string
		p    contract.OpProgress
		want string
	}{
		{
			name: "backup of a stream with an estimated total",
			p:    contract.OpProgress{Step: "backup", BytesDone: 42 * MiB, BytesTotal: 100 * MiB, TotalEstimated: true, Files: 7, Elapsed: 2 * time.Second},
			want: "backup [########------------]  42%  42.0 MiB / ~100.0 MiB  21.0 MiB/s  ETA 3s",
		},
		{
			name: "restore at 0% has no rate and no ETA",
			p:    contract.OpProgress{Step: "restore", BytesTotal: 1 << 30, Elapsed: time.Second},
			want: "restore [--------------------]  0%  0 B / 1.0 GiB",
		},
		{
			name: "100% has no ETA",
			p:    contract.OpProgress{Step: "restore", BytesDone: 10 * MiB, BytesTotal: 10 * MiB, Elapsed: 5 * time.Second},
			want: "restore [####################]  100%  10.0 MiB / 10.0 MiB  2.0 MiB/s",
		},
		{
			name: "past the estimate stays at 100%",
			p:    contract.OpProgress{Step: "backup", BytesDone: 150, BytesTotal: 100, TotalEstimated: true, Elapsed: 2 * time.Second},
			want: "backup [####################]  100%  150 B / ~100 B  75 B/s",
		},
		{
			name: "ETA in minutes",
			p:    contract.OpProgress{Step: "restore", BytesDone: 256 * MiB, BytesTotal: 2048 * MiB, Elapsed: 16 * time.Second},
			want: "restore [##------------------]  12%  256.0 MiB / 2.0 GiB  16.0 MiB/s  ETA 1m52s",
		},
		{
			name: "less than a second to go",
			p:    contract.OpProgress{Step: "backup", BytesDone: 90 * MiB, BytesTotal: 100 * MiB, TotalEstimated: true, Elapsed: 3 * time.Second},
			want: "backup [##################--]  90%  90.0 MiB / ~100.0 MiB  30.0 MiB/s  ETA 1s",
		},
		{
			name: "backup of paths once counted: an exact total",
			p:    contract.OpProgress{Step: "backup", BytesDone: 25 * MiB, BytesTotal: 100 * MiB, FilesTotal: 40, Files: 10, Elapsed: 5 * time.Second},
			want: "backup [#####---------------]  25%  25.0 MiB / 100.0 MiB  5.0 MiB/s  ETA 15s",
		},
		{
			name: "without a total: bytes, rate and files",
			p:    contract.OpProgress{Step: "backup", BytesDone: 5 * MiB, Files: 12, Elapsed: 2 * time.Second},
			want: "backup  5.0 MiB  2.5 MiB/s  12 files",
		},
		{
			name: "without a total or time",
			p:    contract.OpProgress{Step: "copy"},
			want: "copy  0 B  0 files",
		},
		{
			name: "a retried attempt says what it resumed from",
			p: contract.OpProgress{Step: "backup", BytesDone: 3 * MiB, Files: 1, Elapsed: time.Second, Attempt: 2,
				Resumed: &contract.OpProgress{BytesDone: MiB}},
			want: "backup  3.0 MiB  3.0 MiB/s  1 file  (attempt 2, resumed after 1.0 MiB)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressBar(tt.p, 20); got != tt.want {
				t.Errorf("progressBar\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestProgressPercent(t *testing.T) {
	for _, tt := range []struct {
		done, total int64
		want        int
	}{{0, 0, -1}, {5, 0, -1}, {0, 10, 0}, {5, 10, 50}, {99, 100, 99}, {10, 10, 100}, {20, 10, 100}} {
		if got := progressPercent(contract.OpProgress{BytesDone: tt.done, BytesTotal: tt.total}); got != tt.want {
			t.Errorf("progressPercent(%d of %d) = %d, want %d", tt.done, tt.total, got, tt.want)
		}
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLiveLineOffTerminalPrintsOnlyMilestones(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := &liveLine{w: &out, now: clock.now}
	steps := []struct {
		after time.Duration
		phase string
		line  string
		pct   int
		shown bool
	}{
		{0, "backing up", "at 0", 0, true},             // the first line
		{time.Second, "backing up", "at 5", 5, false},  // moved 5 points
		{time.Second, "backing up", "at 9", 9, false},  // moved 9 points
		{time.Second, "backing up", "at 10", 10, true}, // moved 10 points
		{time.Second, "backing up", "at 12", 12, false},
		{9 * time.Second, "backing up", "at 13", 13, true},     // 10 s since the last line
		{20 * time.Second, "backing up", "at 13", 13, false},   // unchanged
		{time.Second, "copying off-site", "copying", -1, true}, // a new phase
		{time.Second, "copying off-site", "copy 1", -1, false},
		{10 * time.Second, "copying off-site", "copy 2", -1, true},
		{time.Second, "copying off-site", "copy 50%", 50, true}, // a percentage appears
		{time.Second, "copying off-site", "", 90, false},        // nothing to show
	}
	var want strings.Builder
	for i, s := range steps {
		clock.advance(s.after)
		l.show(s.phase, s.line, s.pct)
		if s.shown {
			want.WriteString("  … " + s.line + "\n")
		}
		if out.String() != want.String() {
			t.Fatalf("after step %d (%q):\n got %q\nwant %q", i, s.line, out.String(), want.String())
		}
	}
	l.done()
	if out.String() != want.String() {
		t.Fatalf("done wrote to a non-terminal: %q", out.String())
	}
}

func TestLiveLineOnTerminalRedrawsOneLine(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{t: time.Now()}
	l := &liveLine{w: &out, tty: true, now: clock.now}
	l.show("backing up", "backup 1234", 1)
	l.show("backing up", "backup 1234", 1) // unchanged: not redrawn
	l.show("backing up", "bk 5", 5)        // shorter: the rest of the old line is blanked
	l.done()
	l.done() // once only
	want := "\r  … backup 1234" + "\r  … bk 5       " + "\n"
	if out.String() != want {
		t.Fatalf("got %q\nwant %q", out.String(), want)
	}
}

func TestNilLiveLineShowsNothing(t *testing.T) {
	var l *liveLine
	l.show("phase", "line", 50)
	l.done()
	a := &app{output: "json"}
	if a.newLive() != nil {
		t.Fatal("JSON output got a live progress line")
	}
}
