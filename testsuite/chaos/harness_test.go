package chaos_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeboat-dr/lifeboat/testsuite/chaos"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/miniotest"
)

var (
	trialsFlag = flag.Int("chaos.trials", 20, "trials of each kill scenario in the full run")
	onlyFlag   = flag.String("chaos.only", "", "run only these scenarios: comma-separated names or name prefixes (backup, restore-kill)")
	seedFlag   = flag.Uint64("chaos.seed", 0, "seed of the run; each trial's seed derives from it and the trial's scenario and number (0: from the clock)")
	trialFlag  = flag.Int("chaos.trial", -1, "run only this trial (numbered from 0) of each scenario")
	fullFlag   = flag.Bool("chaos.full", false, "the full run of every scenario")
	keepFlag   = flag.Bool("chaos.keep", false, "keep the directories (repositories, data, worker logs) of failed trials")
)

// binDir holds lifeboat and lifeboat-worker, built for this run.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "lifeboat-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// One go command builds both, so the two links share the work.
	out, err := exec.Command("go", "build", "-o", dir, "../../starter", "../../worker").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build lifeboat and lifeboat-worker: %v\n%s", err, out)
		os.Exit(1)
	}
	for from, to := range map[string]string{"starter": "lifeboat", "worker": "lifeboat-worker"} {
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// A scenario is a kind of fault and the checks that follow it.
type scenario struct {
	name string
	// kill scenarios run -chaos.trials trials in the full run; others run full.
	kill bool
	full int
	// short is the number of trials in the short run; 0 leaves the scenario out of it.
	short int
	// temporal and minio say which shared services the scenario needs.
	temporal, minio bool
	run             func(t *testing.T, h *harness, trials []int)
}

var scenarios = []scenario{
	{name: "backup-kill", kill: true, short: 1, temporal: true, run: backupKill},
	{name: "backup-stall", kill: true, temporal: true, run: backupStall},
	{name: "restore-kill", kill: true, short: 1, temporal: true, run: restoreKill},
	{name: "prune-kill", kill: true, short: 1, temporal: true, run: pruneKill},
	{name: "plan-kill", kill: true, short: 1, temporal: true, run: planKill},
	{name: "server-restart", kill: true, temporal: true, run: serverRestart},
	{name: "s3-faults", full: 10, temporal: true, minio: true, run: s3Faults},
	{name: "crash-after-write", full: 1, short: 1, minio: true, run: crashAfterWrite},
	{name: "racing-init", full: 10, temporal: true, minio: true, run: racingInit},
	{name: "empty-worker", full: 5, short: 1, temporal: true, run: emptyWorker},
}

// harness is one run of the fault harness: shared services, data and results.
type harness struct {
	seed    uint64
	short   bool
	root    string
	results *chaos.Results

	temporal *devserver.Server
	client   client.Client
	minio    *miniotest.Server

	dataOnce sync.Once
	dataErr  error
	dataset  string
	dataTree chaos.Tree
}

// TestChaos runs the fault scenarios and prints their table. Without -chaos.* flags it is the short
// run (a trial or two of the cheaper scenarios, a few minutes, part of `make test`); -chaos.full,
// -chaos.trials, -chaos.only, -chaos.seed or -chaos.trial select the full run (`make chaos`).
func TestChaos(t *testing.T) {
	full := *fullFlag
	flag.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "chaos.") && f.Name != "chaos.keep" {
			full = true
		}
	})
	h := &harness{seed: *seedFlag, short: !full, results: &chaos.Results{}}
	if h.seed == 0 {
		h.seed = uint64(time.Now().UnixNano()) & (1<<53 - 1)
	}
	mode := "full"
	if h.short {
		mode = "short"
	}
	t.Logf("fault harness, %s run, seed %d (-chaos.seed=%d repeats it)", mode, h.seed, h.seed)

	var selected []scenario
	for _, sc := range scenarios {
		if *onlyFlag != "" && !selects(*onlyFlag, sc.name) {
			continue
		}
		if h.short && sc.short == 0 {
			continue
		}
		selected = append(selected, sc)
	}
	if len(selected) == 0 {
		t.Fatalf("-chaos.only=%q selects no scenario; they are: %s", *onlyFlag, scenarioNames())
	}
	root, err := os.MkdirTemp("", "lifeboat-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	h.root = root
	t.Cleanup(func() {
		if len(h.results.Failed()) > 0 && *keepFlag {
			// The failed trials' directories are under kept/; the shared data, repositories and
			// setup logs of their scenarios stay beside them.
			t.Logf("kept the run's directory: %s", root)
			return
		}
		_ = os.RemoveAll(root)
	})
	for _, sc := range selected {
		if sc.temporal && h.temporal == nil {
			h.temporal = devserver.Start(t)
			h.client = h.temporal.Dial(t, client.Options{Logger: quietLogger()})
		}
		if sc.minio && h.minio == nil && !(h.short && sc.name == "crash-after-write") {
			h.minio = miniotest.Start(t)
			h.minio.CreateBucket(t, "chaos")
		}
	}

	start := time.Now()
	for _, sc := range selected {
		n := sc.short
		if !h.short {
			n = sc.full
			if sc.kill {
				n = *trialsFlag
			}
		}
		var trials []int
		for i := range n {
			if *trialFlag < 0 || *trialFlag == i {
				trials = append(trials, i)
			}
		}
		if *trialFlag >= n {
			trials = []int{*trialFlag}
		}
		if len(trials) == 0 {
			continue
		}
		began := time.Now()
		t.Run(sc.name, func(t *testing.T) { sc.run(t, h, trials) })
		h.results.Note(sc.name, "took %s", time.Since(began).Round(time.Second))
	}
	table := h.results.Table()
	fmt.Printf("\nfault harness (%s run, seed %d, %s):\n%s\n", mode, h.seed, time.Since(start).Round(time.Second), table)
	t.Logf("\n%s", table)
	if failed := h.results.Failed(); len(failed) > 0 {
		t.Errorf("%d trials failed", len(failed))
	}
}

func selects(only, name string) bool {
	for _, s := range strings.Split(only, ",") {
		s = strings.TrimSpace(s)
		if s != "" && (s == name || strings.HasPrefix(name, s)) {
			return true
		}
	}
	return false
}

func scenarioNames() string {
	var names []string
	for _, sc := range scenarios {
		names = append(names, sc.name)
	}
	return strings.Join(names, ", ")
}

// trialSeed derives a trial's seed from the run's, so that -chaos.seed and -chaos.trial repeat one
// trial alone.
func (h *harness) trialSeed(scenario string, i int) uint64 {
	f := fnv.New64a()
	fmt.Fprintf(f, "%d/%s/%d", h.seed, scenario, i)
	return f.Sum64() & (1<<53 - 1)
}

// scenarioDir is a directory for what a scenario shares between its trials.
func (h *harness) scenarioDir(t *testing.T, scenario string) string {
	dir := filepath.Join(h.root, scenario, "shared")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dataSpec is the data set of the kill scenarios: about 120 MiB of random and compressible files
// and 2,000 small files.
var dataSpec = chaos.Dataset{RandomFiles: 8, RandomSize: 8 << 20, TextFiles: 6, TextSize: 8 << 20, SmallFiles: 2000, SmallMax: 8 << 10, Symlinks: 5}

// data returns the shared data set, written once per run; trials only read it, and check that it
// is unchanged afterwards.
func (h *harness) data(t *testing.T) (string, chaos.Tree) {
	h.dataOnce.Do(func() {
		h.dataset = filepath.Join(h.root, "dataset")
		if h.dataErr = chaos.WriteDataset(h.dataset, h.seed, dataSpec); h.dataErr != nil {
			return
		}
		h.dataTree, h.dataErr = chaos.ReadTree(h.dataset)
	})
	if h.dataErr != nil {
		t.Fatal(h.dataErr)
	}
	return h.dataset, h.dataTree
}

// trial is one trial of a scenario: its seed and random source, its directory, the processes it
// started, and what it measured.
type trial struct {
	h     *harness
	t     *testing.T
	ctx   context.Context
	name  string
	index int
	seed  uint64
	rng   *rand.Rand
	dir   string
	res   chaos.Trial
	procs []*proc
	// logs lists files whose tails go into the failure message.
	logs []string
}

// trialTimeout bounds one trial.
const trialTimeout = 15 * time.Minute

// runTrial runs fn as trial i of scenario and records its outcome. fn returns the reason the trial
// failed; the message names the scenario, trial and seed, and how to run the trial again.
func (h *harness) runTrial(t *testing.T, scenario string, i int, fn func(tr *trial) error) {
	t.Run(fmt.Sprintf("trial-%02d", i), func(t *testing.T) {
		seed := h.trialSeed(scenario, i)
		dir := filepath.Join(h.root, scenario, fmt.Sprintf("trial-%02d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), trialTimeout)
		defer cancel()
		tr := &trial{h: h, t: t, ctx: ctx, name: scenario, index: i, seed: seed, rng: rand.New(rand.NewPCG(seed, 1)), dir: dir,
			res: chaos.Trial{Scenario: scenario, Index: i, Seed: seed, Reuploaded: -1}}
		var err error
		finished := false
		// Deferred, so that a trial stopped by t.Fatal (a helper that could not start a service) is
		// recorded too.
		defer func() {
			for _, p := range tr.procs {
				_ = p.Stop()
			}
			if !finished && err == nil {
				err = errors.New("the trial stopped before it finished: see the test log")
			}
			tr.res.Passed = err == nil
			if err != nil {
				tr.res.Reason = err.Error()
				var logs strings.Builder
				for _, l := range tr.logs {
					fmt.Fprintf(&logs, "\n--- %s (tail) ---\n%s", filepath.Base(l), tail(l, 6<<10))
				}
				if *keepFlag {
					kept := filepath.Join(h.root, "kept", scenario+"-"+filepath.Base(dir))
					if os.MkdirAll(filepath.Dir(kept), 0o755) == nil && os.Rename(dir, kept) == nil {
						tr.res.Dir = kept
					}
				}
				t.Errorf("%s trial %d (seed %d) failed: %v\nrun it again: go test ./testsuite/chaos -run 'TestChaos/%s/' -chaos.only=%s -chaos.seed=%d -chaos.trial=%d -chaos.keep -v%s%s",
					scenario, i, seed, err, scenario, scenario, h.seed, i, keptNote(tr.res.Dir), logs.String())
			} else {
				_ = os.RemoveAll(dir)
			}
			// A line per trial as it ends, so that a run stopped early still says what it found.
			fmt.Printf("chaos: %s trial %d: %s\n", scenario, i, tr.res.Summary())
			h.results.Add(tr.res)
		}()
		err = func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panic: %v", p)
				}
			}()
			return fn(tr)
		}()
		finished = true
	})
}

func keptNote(dir string) string {
	if dir == "" {
		return ""
	}
	return "\nthe trial's directory is kept in " + dir
}

// note records a figure about the trial.
func (tr *trial) note(format string, args ...any) {
	tr.res.Notes = append(tr.res.Notes, fmt.Sprintf(format, args...))
	tr.t.Logf(format, args...)
}

// count adds n to a figure summed over the scenario's trials.
func (tr *trial) count(key string, n int) {
	if tr.res.Counts == nil {
		tr.res.Counts = map[string]int{}
	}
	tr.res.Counts[key] += n
}

// path is a path inside the trial's directory.
func (tr *trial) path(elem ...string) string {
	return filepath.Join(append([]string{tr.dir}, elem...)...)
}

// fraction picks a point in [lo, hi).
func (tr *trial) fraction(lo, hi float64) float64 { return lo + tr.rng.Float64()*(hi-lo) }

// tail returns the last n bytes of a file.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}

// checkTreeSame fails with the differences between want and the tree at dir.
func checkTreeSame(what, dir string, want chaos.Tree, c chaos.Compare) error {
	got, err := chaos.ReadTree(dir)
	if err != nil {
		return err
	}
	if d := want.Diff(got, c, 10); len(d) > 0 {
		return fmt.Errorf("%s differs: %s", what, strings.Join(d, "; "))
	}
	return nil
}

// checkNoTemps fails when restore or upload temporary files are left under dir.
func checkNoTemps(what, dir string) error {
	temps, err := chaos.TempFiles(dir)
	if err != nil {
		return err
	}
	if len(temps) > 0 {
		return fmt.Errorf("%s holds %d temporary files left behind: %s", what, len(temps), strings.Join(temps[:min(len(temps), 5)], ", "))
	}
	return nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// assetName names an asset for a scenario's trial; RPO watchdogs and workflow IDs are per
// namespace, so trials keep their own.
func assetName(prefix string, i int) string { return fmt.Sprintf("%s-%02d", prefix, i) }
