package bench

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// BenchmarkBackupVsRestic backs up about 1.2 GiB (1 GiB in 16 large files, half log text and half
// random, plus 20,000 small files) with Debian's restic and with the lifeboat CLI built from this
// tree, each into its own fresh repository: a first backup, an unchanged second backup and a restore
// of the latest snapshot, which is compared file by file with the dataset. It prints speed, peak RSS
// and repository size side by side with the targets. Missed targets are figures, not failures;
// a failed command or a wrong restore fails the benchmark.
func BenchmarkBackupVsRestic(b *testing.B) {
	resticBin := lookRestic(b)
	scratch := scratchDir(b)
	lifeboatBin := buildLifeboat(b, scratch)
	ds := prepareDataset(b, mixedDataset, scratch)
	phases := []phase{
		{name: "first backup", speedAtLeast: 2},
		{name: "unchanged backup", speedAtLeast: 1},
		{name: "restore", restore: true, speedAtLeast: 2},
	}
	var runs [][]outcome
	var tools []*tool
	for b.Loop() {
		run := mkdirTemp(b, scratch, "run-")
		tools = []*tool{resticTool(resticBin, filepath.Join(run, "restic-repo")), lifeboatTool(lifeboatBin, filepath.Join(run, "lifeboat-repo"))}
		runs = append(runs, runPhases(b, ds, run, tools, phases))
		if !keep() {
			if err := os.RemoveAll(run); err != nil {
				b.Fatal(err)
			}
		}
	}
	// This machine's disk is erratic: compare each tool's best time over the runs, and its worst
	// peak RSS.
	out := bestOf(runs)
	if len(runs) > 1 {
		fmt.Printf("\nbest time and worst peak RSS of %d runs per tool and phase\n", len(runs))
	}
	printComparison(ds, tools, phases, out, targets{rssAtMost: 1, sizeAtMost: 1.05})
	lb, rs := out[1], out[0]
	for i, name := range []string{"first-backup-x", "unchanged-backup-x", "restore-x"} {
		b.ReportMetric(rs.phases[i].wall.Seconds()/lb.phases[i].wall.Seconds(), name)
	}
	b.ReportMetric(float64(lb.peakRSS())/float64(rs.peakRSS()), "peak-rss-x")
	b.ReportMetric(float64(lb.repoBytes)/float64(rs.repoBytes), "repo-size-x")
	b.ReportMetric(mbPerSecond(ds.bytes, lb.phases[0].wall), "lifeboat-first-MB/s")
	b.ReportMetric(float64(lb.peakRSS())/1024, "lifeboat-peak-rss-MiB")
}

// bestOf combines runs: per tool and phase the shortest wall time and the highest peak RSS; the
// repository size of the last run.
func bestOf(runs [][]outcome) []outcome {
	out := make([]outcome, len(runs[0]))
	for t := range out {
		out[t].repoBytes = runs[len(runs)-1][t].repoBytes
		out[t].phases = append([]measure(nil), runs[0][t].phases...)
		for _, r := range runs[1:] {
			for p, m := range r[t].phases {
				out[t].phases[p].wall = min(out[t].phases[p].wall, m.wall)
				out[t].phases[p].maxRSS = max(out[t].phases[p].maxRSS, m.maxRSS)
			}
		}
	}
	return out
}

// BenchmarkBackup100kFiles backs up 100,000 files of 1–4 KiB in 500 folders, twice (first and
// unchanged), with lifeboat and, when it is installed, restic, and reports the time and the peak
// RSS: how the engine's memory grows with the number of files.
func BenchmarkBackup100kFiles(b *testing.B) {
	scratch := scratchDir(b)
	lifeboatBin := buildLifeboat(b, scratch)
	resticBin, _ := exec.LookPath("restic")
	ds := prepareDataset(b, manyFilesDataset, scratch)
	phases := []phase{{name: "first backup"}, {name: "unchanged backup"}}
	for b.Loop() {
		run := mkdirTemp(b, scratch, "run-")
		var tools []*tool
		if resticBin != "" {
			tools = append(tools, resticTool(resticBin, filepath.Join(run, "restic-repo")))
		}
		tools = append(tools, lifeboatTool(lifeboatBin, filepath.Join(run, "lifeboat-repo")))
		out := runPhases(b, ds, run, tools, phases)
		printComparison(ds, tools, phases, out, targets{})

		lb := out[len(out)-1]
		b.ReportMetric(lb.phases[0].wall.Seconds(), "lifeboat-first-s")
		b.ReportMetric(lb.phases[1].wall.Seconds(), "lifeboat-unchanged-s")
		b.ReportMetric(float64(lb.peakRSS())/1024, "lifeboat-peak-rss-MiB")
		if resticBin != "" {
			b.ReportMetric(float64(lb.peakRSS())/float64(out[0].peakRSS()), "peak-rss-x")
		}
		if keep() {
			continue
		}
		if err := os.RemoveAll(run); err != nil {
			b.Fatal(err)
		}
	}
}

// tool is one backup program working on its own repository.
type tool struct {
	name    string
	bin     string
	env     []string // on top of the benchmark's environment, without its RESTIC_* and LIFEBOAT_* variables
	repo    string
	init    []string
	backup  func(dataset string) []string
	restore func(target string) []string
	// restored is where a restore into target puts the dataset's contents.
	restored func(target, dataset string) string
}

// resticTool runs restic with --no-cache on every command, so that neither tool has a local cache.
func resticTool(bin, repoDir string) *tool {
	return &tool{
		name: "restic", bin: bin, repo: repoDir,
		env:      []string{"RESTIC_REPOSITORY=" + repoDir, "RESTIC_PASSWORD=bench"},
		init:     []string{"init", "--no-cache"},
		backup:   func(ds string) []string { return []string{"backup", "--no-cache", ds} },
		restore:  func(target string) []string { return []string{"restore", "latest", "--no-cache", "--target", target} },
		restored: func(target, ds string) string { return filepath.Join(target, ds) }, // the full path, under target
	}
}

func lifeboatTool(bin, repoDir string) *tool {
	return &tool{
		name: "lifeboat", bin: bin, repo: repoDir,
		env:      []string{"LIFEBOAT_REPO=" + repoDir, "LIFEBOAT_REPO_PASSWORD=bench"},
		init:     []string{"repo", "init"},
		backup:   func(ds string) []string { return []string{"repo", "backup", ds, "--source", "bench"} },
		restore:  func(target string) []string { return []string{"repo", "restore", "latest", "--target", target} },
		restored: func(target, _ string) string { return target }, // the folder's contents, directly
	}
}

// measure is one run of a command: its wall time, the CPU time (user and system) and the peak
// resident set of the child process.
type measure struct {
	wall   time.Duration
	cpu    time.Duration
	maxRSS int64 // KiB
}

// runTool runs t with args, failing the benchmark with the tail of its output when it fails, and
// then calls sync(2), so that the next command does not pay for this one's writeback.
func runTool(b *testing.B, t *tool, args ...string) measure {
	b.Helper()
	cmd := exec.Command(t.bin, args...)
	cmd.Env = append(cleanEnv(), t.env...)
	out := &tailWriter{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", t.name, strings.Join(args, " "), err, out)
	}
	syscall.Sync()
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return measure{wall: wall, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), maxRSS: ru.Maxrss}
}

// phase is one step of the comparison: a backup of the dataset or a restore of the latest snapshot.
type phase struct {
	name         string
	restore      bool
	speedAtLeast float64 // target for lifeboat's speed over restic's; 0 for none
}

// targets are the comparison-wide goals, as lifeboat's figure over restic's; 0 for none.
type targets struct {
	rssAtMost, sizeAtMost float64
}

// outcome is one tool's figures: a measure per phase, and the repository's size after the backups.
type outcome struct {
	phases    []measure
	repoBytes int64
}

func (o outcome) peakRSS() int64 {
	var m int64
	for _, p := range o.phases {
		m = max(m, p.maxRSS)
	}
	return m
}

// runPhases initialises every tool's repository and then runs the phases in order, each phase
// for every tool in the order given before the next phase begins. Restores go into fresh folders
// under run and are compared with the dataset; they are removed only after every tool has run the
// phase, because deleting a gigabyte of files (discards, journal commits) slows the file system
// for whichever command runs next.
func runPhases(b *testing.B, ds *dataset, run string, tools []*tool, phases []phase) []outcome {
	b.Helper()
	out := make([]outcome, len(tools))
	var restored []string
	defer func() {
		if !keep() {
			for _, target := range restored {
				_ = os.RemoveAll(target)
			}
		}
	}()
	for _, t := range tools {
		runTool(b, t, t.init...)
	}
	for i, p := range phases {
		for j, t := range tools {
			if !p.restore {
				out[j].phases = append(out[j].phases, runTool(b, t, t.backup(ds.dir)...))
				continue
			}
			target := filepath.Join(run, fmt.Sprintf("%s-restore-%d", t.name, i))
			out[j].phases = append(out[j].phases, runTool(b, t, t.restore(target)...))
			verifyRestore(b, ds, t, target)
			restored = append(restored, target)
		}
		if !p.restore {
			for j, t := range tools {
				out[j].repoBytes = treeBytes(b, t.repo)
			}
		}
	}
	return out
}

// verifyRestore fails the benchmark unless the restored tree equals the dataset.
func verifyRestore(b *testing.B, ds *dataset, t *tool, target string) {
	b.Helper()
	root := t.restored(target, ds.dir)
	got, err := sumTree(root)
	if err != nil {
		b.Fatalf("%s restore: %v", t.name, err)
	}
	if diff := ds.sums.diff(got, 10); len(diff) > 0 {
		b.Fatalf("%s restored a different tree to %s (first differences):\n  %s", t.name, root, strings.Join(diff, "\n  "))
	}
}

// printComparison writes the figures as tables on standard output, lifeboat against the first
// tool when there are two.
func printComparison(ds *dataset, tools []*tool, phases []phase, out []outcome, goal targets) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	names := make([]string, len(tools))
	for i, t := range tools {
		names[i] = t.name
	}
	compare := len(tools) == 2
	fmt.Fprintf(w, "\n%s, %d files; order in every phase: %s\n", sizeHuman(ds.bytes), ds.files, strings.Join(names, " then "))
	if compare {
		fmt.Fprintf(w, "restic runs with --no-cache on every command; both use their default compression\n")
	}

	fmt.Fprintf(w, "\nspeed (MB/s: 10^6 dataset bytes per second)\n")
	header := "phase\t"
	for _, n := range names {
		header += n + " time\t" + n + " MB/s\t" + n + " files/s\t"
	}
	if compare {
		header += "lifeboat/restic\ttarget\t\t"
	}
	fmt.Fprintln(w, header)
	for i, p := range phases {
		row := p.name + "\t"
		for _, o := range out {
			m := o.phases[i]
			row += fmt.Sprintf("%.1fs\t%.1f\t%.0f\t", m.wall.Seconds(), mbPerSecond(ds.bytes, m.wall), float64(ds.files)/m.wall.Seconds())
		}
		if compare {
			ratio := out[0].phases[i].wall.Seconds() / out[1].phases[i].wall.Seconds()
			row += fmt.Sprintf("%.2f×\t%s\t", ratio, verdict(ratio, p.speedAtLeast, true))
		}
		fmt.Fprintln(w, row)
	}

	fmt.Fprintf(w, "\npeak RSS of the child process (MiB)\n")
	header = "phase\t"
	for _, n := range names {
		header += n + "\t"
	}
	if compare {
		header += "lifeboat/restic\ttarget\t\t"
	}
	fmt.Fprintln(w, header)
	for i, p := range phases {
		row := p.name + "\t"
		for _, o := range out {
			row += fmt.Sprintf("%.1f\t", float64(o.phases[i].maxRSS)/1024)
		}
		if compare {
			ratio := float64(out[1].phases[i].maxRSS) / float64(out[0].phases[i].maxRSS)
			row += fmt.Sprintf("%.2f×\t%s\t", ratio, verdict(ratio, goal.rssAtMost, false))
		}
		fmt.Fprintln(w, row)
	}

	fmt.Fprintf(w, "\nrepository size after the backups\n")
	row := "\t"
	for _, o := range out {
		row += sizeHuman(o.repoBytes) + "\t"
	}
	if compare {
		ratio := float64(out[1].repoBytes) / float64(out[0].repoBytes)
		row += fmt.Sprintf("%.3f×\t%s\t", ratio, verdict(ratio, goal.sizeAtMost, false))
	}
	fmt.Fprintln(w, "\t"+strings.Join(names, "\t")+"\t"+map[bool]string{true: "lifeboat/restic\ttarget\t\t"}[compare])
	fmt.Fprintln(w, row)
	fmt.Fprintf(w, "(dataset: %s)\n", sizeHuman(ds.bytes))
}

// verdict formats a target and whether ratio meets it: at least the goal, or at most it.
func verdict(ratio, goal float64, atLeast bool) string {
	switch {
	case goal == 0:
		return "—\t"
	case atLeast && ratio >= goal:
		return fmt.Sprintf("≥ %g×\tMET", goal)
	case atLeast:
		return fmt.Sprintf("≥ %g×\tMISSED", goal)
	case ratio <= goal:
		return fmt.Sprintf("≤ %g×\tMET", goal)
	}
	return fmt.Sprintf("≤ %g×\tMISSED", goal)
}

func mbPerSecond(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// treeBytes is the sum of the sizes of the files under dir.
func treeBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		b.Fatalf("size of %s: %v", dir, err)
	}
	return n
}

// lookRestic returns restic's path and prints its version, or skips the benchmark.
func lookRestic(b *testing.B) string {
	b.Helper()
	bin, err := exec.LookPath("restic")
	if err != nil {
		b.Skip("restic not found: apt-get install restic")
	}
	v, err := exec.Command(bin, "version").Output()
	if err != nil {
		b.Fatalf("restic version: %v", err)
	}
	fmt.Printf("%s", v)
	return bin
}

// buildLifeboat builds the CLI from the module this benchmark is in, so that it measures the
// current code.
func buildLifeboat(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "lifeboat")
	cmd := exec.Command("go", "build", "-o", bin, "./starter")
	cmd.Dir = repo.Root(b)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./starter: %v\n%s", err, out)
	}
	return bin
}

// scratchDir makes a folder for the run's binaries, dataset, repositories and restores. It is removed
// at the end unless LIFEBOAT_BENCH_KEEP=1.
func scratchDir(b *testing.B) string {
	b.Helper()
	dir := mkdirTemp(b, "", "lifeboat-bench-")
	b.Cleanup(func() {
		if keep() {
			fmt.Printf("kept %s (LIFEBOAT_BENCH_KEEP=1)\n", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			b.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

func mkdirTemp(b *testing.B, parent, pattern string) string {
	b.Helper()
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

func keep() bool { return os.Getenv("LIFEBOAT_BENCH_KEEP") == "1" }

// cleanEnv is the benchmark's environment without the variables that configure restic or
// lifeboat, so that only the tool's own settings apply.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RESTIC_") && !strings.HasPrefix(kv, "LIFEBOAT_") {
			env = append(env, kv)
		}
	}
	return env
}

// tailWriter keeps the last max bytes written to it, for failure messages.
type tailWriter struct {
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = t.buf[:copy(t.buf, t.buf[len(t.buf)-t.max:])]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	if len(t.buf) > t.max {
		return "…" + string(t.buf[len(t.buf)-t.max:])
	}
	return string(t.buf)
}
