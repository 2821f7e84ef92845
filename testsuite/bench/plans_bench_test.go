package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/searchattr"
	"github.com/lifeboat-dr/lifeboat/testsuite/cluster"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// The plan benchmarks run against a dev server they start, unless LIFEBOAT_BENCH_TEMPORAL_ADDRESS
// names a Temporal frontend (host:port) to use instead, in namespace
// LIFEBOAT_BENCH_TEMPORAL_NAMESPACE (default "default"). The worker and the starting client are
// always this process: eager workflow start hands the first workflow task to a worker of the
// client that starts the workflow. Another server must allow eager start (dynamic config
// system.enableEagerWorkflowStart) for the figures to compare; the server's CPU time is only
// accounted for the dev server and the cluster.
//
// LIFEBOAT_BENCH_CLUSTER=1 runs them on a Temporal cluster they start instead (testsuite/cluster:
// frontend, history, matching and worker processes on PostgreSQL, four history shards), with eager
// start allowed; its services' CPU time is accounted together.
const (
	envAddress   = "LIFEBOAT_BENCH_TEMPORAL_ADDRESS"
	envNamespace = "LIFEBOAT_BENCH_TEMPORAL_NAMESPACE"
	envCluster   = "LIFEBOAT_BENCH_CLUSTER"
)

// planBench is a Temporal frontend, a worker in this process running the Recovery workflow with
// the real activities, and a TCP listener the plans' checks connect to.
type planBench struct {
	c         client.Client
	frontend  string // host:port
	taskQueue string
	dir       string
	addr      string
	// serverPIDs are the dev server's or the cluster's processes, whose CPU time is accounted;
	// none for another frontend.
	serverPIDs []int
	begun      firstSteps
}

// firstSteps notes when each workflow's first step began.
type firstSteps struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (f *firstSteps) mark(id string) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at == nil {
		f.at = map[string]time.Time{}
	}
	if _, seen := f.at[id]; !seen {
		f.at[id] = now
	}
}

func (f *firstSteps) get(id string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.at[id]
	return t, ok
}

func (f *firstSteps) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = nil
}

// startPlanBench connects to the frontend (starting a dev server unless envAddress names one) and
// starts a worker with the options and activities of a worker of the default configuration, on
// a task queue of its own; router delivers the plans' messages (nil: the log).
func startPlanBench(b *testing.B, router *notify.Router) *planBench {
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	pb := &planBench{dir: b.TempDir(), taskQueue: fmt.Sprintf("bench-%d", time.Now().UnixNano())}
	if os.Getenv(envCluster) == "1" {
		cl := cluster.Start(b, cluster.WithDynamicConfig("system.enableEagerWorkflowStart", true))
		c := cl.Dial(b)
		if _, err := searchattr.Ensure(context.Background(), c, cl.Namespace(), workflows.SearchAttributes); err != nil {
			b.Fatal(err)
		}
		pb.c, pb.frontend, pb.serverPIDs = c, cl.Address(), cl.PIDs()
		fmt.Printf("\nTemporal cluster %s (frontend, history, matching, worker on PostgreSQL; %s=1)\n", cl.Address(), envCluster)
	} else if addr := os.Getenv(envAddress); addr != "" {
		ns := cmp.Or(os.Getenv(envNamespace), "default")
		c, err := client.Dial(client.Options{HostPort: addr, Namespace: ns, Logger: quiet})
		if err != nil {
			b.Fatalf("%s=%s: %v", envAddress, addr, err)
		}
		b.Cleanup(c.Close)
		if _, err := searchattr.Ensure(context.Background(), c, ns, workflows.SearchAttributes); err != nil {
			b.Fatal(err)
		}
		pb.c, pb.frontend = c, addr
		fmt.Printf("\nTemporal frontend %s, namespace %s (%s)\n", addr, ns, envAddress)
	} else {
		attrs := map[string]string{}
		for _, k := range workflows.SearchAttributes {
			attrs[k.GetName()] = "Keyword"
		}
		srv := devserver.Start(b, devserver.InMemory(), devserver.WithArgs("--dynamic-config-value", "system.enableEagerWorkflowStart=true"),
			devserver.WithSearchAttributes(attrs))
		pb.c, pb.frontend, pb.serverPIDs = srv.Dial(b, client.Options{Logger: quiet}), srv.HostPort, []int{srv.PID()}
		fmt.Printf("\nTemporal dev server %s, in memory (%s names another frontend)\n", srv.HostPort, envAddress)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	pb.addr = ln.Addr().String()

	w := worker.New(pb.c, pb.taskQueue, config.Default().Worker.Options())
	workflows.RegisterWorkflows(w)
	w.RegisterWorkflowWithOptions(bare, workflow.RegisterOptions{Name: bareWorkflow})
	w.RegisterActivityWithOptions(benchLoad, activity.RegisterOptions{Name: benchLoadActivity})
	activities.Set{
		Plans:         &activities.Plans{Dir: pb.dir},
		Notifications: &activities.Notifications{Router: router, Logger: slog.New(slog.DiscardHandler)},
	}.Register(w)
	// The real action, wrapped to note when each workflow's first step begins.
	actions := &activities.Actions{}
	w.RegisterActivityWithOptions(func(ctx context.Context, in contract.ActionInput) (contract.ActionResult, error) {
		pb.begun.mark(activity.GetInfo(ctx).WorkflowExecution.ID)
		return actions.RunAction(ctx, in)
	}, activity.RegisterOptions{Name: contract.RunAction})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	return pb
}

func (pb *planBench) writePlan(b *testing.B, name, rto, steps string) {
	src := fmt.Sprintf("apiVersion: lifeboat.dev/v1\nkind: RecoveryPlan\nmetadata: {name: %s}\nspec:\n  scenario: benchmark\n  objectives: {rto: %s}\n  steps:\n%s", name, rto, steps)
	if err := os.WriteFile(filepath.Join(pb.dir, name+".yaml"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
}

// check is a plan step: a TCP check of the bench's listener after the steps needs names.
func (pb *planBench) check(id, needs string) string {
	s := fmt.Sprintf("    - {id: %s, action: check.tcp, with: {address: %q}", id, pb.addr)
	if needs != "" {
		s += ", needs: [" + needs + "]"
	}
	return s + "}\n"
}

// startRecovery starts plan as `lifeboat recover` does, but under a workflow ID of its own, and
// eagerly.
func (pb *planBench) startRecovery(ctx context.Context, id, plan string) (client.WorkflowRun, error) {
	return pb.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: pb.taskQueue, EnableEagerStart: true,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            recoverySummary(plan),
		TypedSearchAttributes:                    recoveryAttributes(plan),
	}, workflows.RecoveryWorkflow, workflows.RecoveryInput{Plan: plan, Requester: "bench"})
}

func recoverySummary(plan string) string { return "Recovery: " + plan + ", started by bench" }

func recoveryAttributes(plan string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(workflows.KindKey.ValueSet("recovery"), workflows.AssetKey.ValueSet(plan))
}

// recoveryDone waits for a recovery and checks that it succeeded.
func recoveryDone(ctx context.Context, run client.WorkflowRun) error {
	var r workflows.RecoveryResult
	if err := run.Get(ctx, &r); err != nil {
		return err
	}
	if r.Status != "succeeded" {
		return fmt.Errorf("recovery %s: %s: %s", run.GetID(), r.Status, r.Error)
	}
	return nil
}

// bareWorkflow is what the Recovery workflow is measured against: a plan's steps and nothing else.
const (
	bareWorkflow      = "BenchBare"
	benchLoadActivity = "BenchLoad"
)

// bareInput is what the bare workflow runs: the check of every step; without Hold, the five-step
// plan's steps (a and b at once, then c, d, e), with it, the steady plan's (a check, a timer of
// Hold, a check). With History, it also records what a recovery's history holds besides its steps
// (and does nothing of what a recovery does): a version marker, a local activity returning 2 KB (a
// recovery's plan and identity directory), a timer (its RTO), the final search attributes and a
// result of 3 KB; it is then started with a recovery's search attributes and summary.
type bareInput struct {
	Check   contract.ActionInput `json:"check"`
	Hold    time.Duration        `json:"hold,omitempty"`
	History bool                 `json:"history,omitempty"`
}

// bare runs in's steps as local activities with the options the Recovery workflow gives check.tcp.
func bare(ctx workflow.Context, in bareInput) (string, error) {
	if in.History {
		workflow.GetVersion(ctx, "bench", workflow.DefaultVersion, 1)
		var loaded string
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
		if err := workflow.ExecuteLocalActivity(lctx, benchLoadActivity).Get(ctx, &loaded); err != nil {
			return "", err
		}
		workflow.Go(ctx, func(ctx workflow.Context) { _ = workflow.NewTimer(ctx, time.Hour).Get(ctx, nil) })
	}
	spec := catalog.CheckTCP.Spec()
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: spec.Timeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: max(spec.Retry.Backoff, time.Second), BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: int32(max(spec.Retry.Attempts, 1)), NonRetryableErrorTypes: []string{contract.ErrTypeActionRefused}}})
	step := func(id string) workflow.Future {
		check := in.Check
		check.Step = id
		return workflow.ExecuteLocalActivity(ctx, contract.RunAction, check)
	}
	var err error
	if in.Hold > 0 {
		err = step("a").Get(ctx, nil)
		if err == nil {
			err = workflow.NewTimer(ctx, in.Hold).Get(ctx, nil)
		}
		if err == nil {
			err = step("b").Get(ctx, nil)
		}
	} else {
		a, b := step("a"), step("b")
		err = errors.Join(a.Get(ctx, nil), b.Get(ctx, nil))
		for _, id := range []string{"c", "d", "e"} {
			if err == nil {
				err = step(id).Get(ctx, nil)
			}
		}
	}
	if err != nil || !in.History {
		return "", err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, workflows.PhaseKey.ValueSet("done"), workflows.ResultKey.ValueSet("succeeded")); err != nil {
		return "", err
	}
	return strings.Repeat("r", 3000), nil
}

func benchLoad(context.Context) (string, error) { return strings.Repeat("p", 2000), nil }

// kinds are the bare workflow, the same with a recovery's history, and the Recovery workflow of plan,
// whose steps are the bare workflow's with hold (0: the five-step plan).
func (pb *planBench) kinds(plan string, hold time.Duration) (bareKind, history, recovery kind) {
	wait := func(ctx context.Context, run client.WorkflowRun) error { return run.Get(ctx, nil) }
	in := bareInput{Check: contract.ActionInput{Action: catalog.CheckTCP.Name(), Params: map[string]any{"address": pb.addr}}, Hold: hold}
	bareKind = kind{name: "bare", done: wait, start: func(ctx context.Context, id string) (client.WorkflowRun, error) {
		return pb.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: pb.taskQueue, EnableEagerStart: true}, bareWorkflow, in)
	}}
	history = kind{name: "bare+history", done: wait, start: func(ctx context.Context, id string) (client.WorkflowRun, error) {
		in := in
		in.History = true
		return pb.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: pb.taskQueue, EnableEagerStart: true,
			StaticSummary: recoverySummary(plan), TypedSearchAttributes: recoveryAttributes(plan)}, bareWorkflow, in)
	}}
	recovery = kind{name: "lifeboat", done: recoveryDone, start: func(ctx context.Context, id string) (client.WorkflowRun, error) {
		return pb.startRecovery(ctx, id, plan)
	}}
	return bareKind, history, recovery
}

// phaseTimeout bounds a phase of a benchmark.
const phaseTimeout = 10 * time.Minute

// kind is what a phase starts: its name, how to start one under an ID, and how to wait for it.
type kind struct {
	name  string
	start func(ctx context.Context, id string) (client.WorkflowRun, error)
	done  func(ctx context.Context, run client.WorkflowRun) error
}

// maxStartAttempts bounds how often a start is sent.
const maxStartAttempts = 5

// startIdempotent starts a workflow of k under id and, when the server does not answer in time
// (the SDK gives a start 10 s), sends the start again, as a caller would: the workflow ID makes a
// second start of a workflow the first one started a no-op that the caller then joins. It returns
// how many starts it sent.
func (pb *planBench) startIdempotent(ctx context.Context, k kind, id string) (client.WorkflowRun, int, error) {
	for attempt := 1; ; attempt++ {
		run, err := k.start(ctx, id)
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		var late *serviceerror.DeadlineExceeded
		switch {
		case err == nil:
			return run, attempt, nil
		case attempt > 1 && errors.As(err, &started):
			return pb.c.GetWorkflow(ctx, id, ""), attempt, nil
		case (errors.As(err, &late) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil && attempt < maxStartAttempts:
			continue
		}
		return nil, attempt, err
	}
}

// waitDone waits for run with k.done, asking again when the server does not answer a wait in time:
// only the workflow's own failure is a failure.
func (pb *planBench) waitDone(ctx context.Context, k kind, run client.WorkflowRun) error {
	for {
		err := k.done(ctx, run)
		var late *serviceerror.DeadlineExceeded
		if (errors.As(err, &late) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil {
			run = pb.c.GetWorkflow(ctx, run.GetID(), run.GetRunID())
			continue
		}
		return err
	}
}

// usage is the CPU time of this process (worker and starting client) and of the server, and this
// process's peak resident set, over a phase.
type usage struct {
	cpuSelf, cpuServer time.Duration
	peakRSS            int64 // bytes; 0 where it cannot be read
}

// meter measures usage from the moment it is made; stop returns it. It first returns what memory
// it can to the system, so that one phase's peak RSS does not carry the last one's garbage.
func (pb *planBench) meter() (stop func() usage) {
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	self, server := selfCPU(), pb.serverCPU()
	return func() usage {
		return usage{cpuSelf: selfCPU() - self, cpuServer: pb.serverCPU() - server, peakRSS: peakRSS()}
	}
}

// settle lets the server finish what the last phase left it (visibility updates, history
// clean-up) and the disk write back what it holds, so that the next phase starts from quiet: it
// waits until the server uses less than a fifth of a core, at most 20 s.
func (pb *planBench) settle() {
	syscall.Sync()
	if len(pb.serverPIDs) == 0 {
		time.Sleep(3 * time.Second)
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		before := pb.serverCPU()
		time.Sleep(500 * time.Millisecond)
		if pb.serverCPU()-before < 100*time.Millisecond {
			return
		}
	}
}

// burst is one round of a kind: n started at once.
type burst struct {
	kind string
	n    int
	// allBegun and allEnded run from the burst to the last first step and to the last end.
	allBegun, allEnded time.Duration
	// begun runs from the burst to each first step; initiation from each start request to its
	// workflow's first step; answered from each start request to its answer.
	begun50, begun99, initiation50, initiation99, answered99 time.Duration
	// resent counts starts sent again because the server did not answer the first in time.
	resent int
	usage  usage
}

func (r burst) begunPerSecond() float64 { return float64(r.n) / r.allBegun.Seconds() }
func (r burst) endedPerSecond() float64 { return float64(r.n) / r.allEnded.Seconds() }

// runBurst starts n workflows of k at once — every start is due at the same moment — each from a
// goroutine of its own, with at most inFlight start requests waiting for their answer, and waits
// for them all to end.
func (pb *planBench) runBurst(b *testing.B, k kind, n, inFlight int) burst {
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	pb.begun.reset()
	stop := pb.meter()
	ids := make([]string, n)
	sent := make([]time.Time, n)
	answered := make([]time.Duration, n)
	ended := make([]time.Time, n)
	slots := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	var resent atomic.Int64
	t0 := time.Now()
	for i := range n {
		ids[i] = fmt.Sprintf("bench-%s-%d-%d", strings.ReplaceAll(k.name, "+", "-"), t0.UnixNano(), i)
		wg.Go(func() {
			slots <- struct{}{}
			sent[i] = time.Now()
			run, attempts, err := pb.startIdempotent(ctx, k, ids[i])
			answered[i] = time.Since(sent[i])
			<-slots
			resent.Add(int64(attempts - 1))
			if err != nil {
				err = fmt.Errorf("start %s (%d sent, the last answered after %s): %w", ids[i], attempts, answered[i].Round(time.Millisecond), err)
			} else if err = pb.waitDone(ctx, k, run); err != nil {
				err = fmt.Errorf("%s: %w", ids[i], err)
			}
			ended[i] = time.Now()
			if err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res := burst{kind: k.name, n: n, resent: int(resent.Load()), usage: stop()}
	if firstErr != nil {
		b.Fatalf("%s: %v", k.name, firstErr)
	}
	begun := make([]time.Duration, n)
	initiation := make([]time.Duration, n)
	for i, id := range ids {
		at, ok := pb.begun.get(id)
		if !ok {
			b.Fatalf("%s %s ended without running a step", k.name, id)
		}
		begun[i], initiation[i] = at.Sub(t0), at.Sub(sent[i])
		res.allEnded = max(res.allEnded, ended[i].Sub(t0))
	}
	for _, d := range [][]time.Duration{begun, initiation, answered} {
		slices.Sort(d)
	}
	res.allBegun = begun[n-1]
	res.begun50, res.begun99 = pct(begun, 50), pct(begun, 99)
	res.initiation50, res.initiation99, res.answered99 = pct(initiation, 50), pct(initiation, 99), pct(answered, 99)
	return res
}

// BenchmarkRecoveryPlans measures the Recovery workflow against the ceiling of this server and
// machine. Each round starts 1,000 workflows (LIFEBOAT_BENCH_BURST) due at the same moment, each
// from a goroutine of its own, eagerly, at most 64 start requests in flight
// (LIFEBOAT_BENCH_IN_FLIGHT): first the bare workflow (five checks as local activities and nothing
// else), then the same with what a recovery's history holds besides its steps (bare+history), then
// the Recovery workflow running the same five checks as a plan (two checks in parallel, then three
// in a row; every step a real TCP check). Three rounds of each (LIFEBOAT_BENCH_ROUNDS), alternating,
// the order reversed every other round, with sync(2) and a quiet server before each round. It
// reports, per round and as medians, the time until every workflow had begun its first step and
// until all had ended, throughput, the latency from the burst and from each start request to the
// first step, CPU time per workflow of this process (worker and client) and of the dev server,
// and the peak RSS of this process; and the Recovery workflow's throughput as a fraction of the
// bare one's, with the target of 0.9.
func BenchmarkRecoveryPlans(b *testing.B) {
	size, rounds := envInt(b, "LIFEBOAT_BENCH_BURST", 1000), envInt(b, "LIFEBOAT_BENCH_ROUNDS", 3)
	inFlight := envInt(b, "LIFEBOAT_BENCH_IN_FLIGHT", 64)
	pb := startPlanBench(b, nil)
	pb.writePlan(b, "five-steps", "1h", pb.check("a", "")+pb.check("b", "")+pb.check("c", "a, b")+pb.check("d", "c")+pb.check("e", "d"))
	bare, history, recovery := pb.kinds("five-steps", 0)
	kinds := []kind{bare, history, recovery}
	for b.Loop() {
		// A small round of each first: connections, caches and the plan's parse.
		for _, k := range kinds {
			pb.runBurst(b, k, 50, inFlight)
		}
		// The server slows as it keeps what it has run, so the order turns every other round
		// (bare, bare+history, lifeboat; then lifeboat, bare+history, bare): no kind always runs
		// on the fullest server.
		var all []burst
		for r := range rounds {
			order := slices.Clone(kinds)
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, k := range order {
				pb.settle()
				all = append(all, pb.runBurst(b, k, size, inFlight))
			}
		}
		meds := make([]burst, len(kinds))
		for i, k := range kinds {
			meds[i] = medianBurst(all, k.name)
		}
		printBursts(pb, size, inFlight, all, meds)
		bareMed, lbMed := meds[0], meds[2]
		b.ReportMetric(lbMed.endedPerSecond(), "recoveries/s")
		b.ReportMetric(bareMed.endedPerSecond(), "bare/s")
		b.ReportMetric(lbMed.endedPerSecond()/bareMed.endedPerSecond(), "of-bare")
		b.ReportMetric(lbMed.allBegun.Seconds(), "all-begun-s")
		b.ReportMetric(lbMed.begun99.Seconds(), "p99-begun-s")
		b.ReportMetric(lbMed.initiation99.Seconds(), "p99-initiation-s")
	}
}

// medianBurst is the median of the rounds of a kind, figure by figure.
func medianBurst(all []burst, k string) burst {
	var of []burst
	for _, r := range all {
		if r.kind == k {
			of = append(of, r)
		}
	}
	med := func(f func(burst) time.Duration) time.Duration {
		v := make([]time.Duration, len(of))
		for i, r := range of {
			v[i] = f(r)
		}
		return median(v)
	}
	return burst{kind: k, n: of[0].n,
		allBegun:     med(func(r burst) time.Duration { return r.allBegun }),
		allEnded:     med(func(r burst) time.Duration { return r.allEnded }),
		begun50:      med(func(r burst) time.Duration { return r.begun50 }),
		begun99:      med(func(r burst) time.Duration { return r.begun99 }),
		initiation50: med(func(r burst) time.Duration { return r.initiation50 }),
		initiation99: med(func(r burst) time.Duration { return r.initiation99 }),
		answered99:   med(func(r burst) time.Duration { return r.answered99 }),
		resent:       int(med(func(r burst) time.Duration { return time.Duration(r.resent) })),
		usage: usage{
			cpuSelf:   med(func(r burst) time.Duration { return r.usage.cpuSelf }),
			cpuServer: med(func(r burst) time.Duration { return r.usage.cpuServer }),
			peakRSS:   int64(med(func(r burst) time.Duration { return time.Duration(r.usage.peakRSS) })),
		},
	}
}

func median(v []time.Duration) time.Duration {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// pct is the q-th percentile of sorted d.
func pct(d []time.Duration, q int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)*q/100, len(d)-1)]
}

func printBursts(pb *planBench, size, inFlight int, all, meds []burst) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "\n%d workflows due at once per round, started eagerly, at most %d start requests in flight; rounds alternate, every other one in reverse order, with sync(2) and a quiet server before each\n", size, inFlight)
	fmt.Fprintf(w, "bare: five checks as local activities and nothing else; bare+history: the same recording what a recovery's history holds besides its steps;\n")
	fmt.Fprintf(w, "lifeboat: the Recovery workflow running the five checks as a plan\n")
	fmt.Fprintf(w, "begun: from the burst to a workflow's first step; initiation: from its start request to its first step; answered: from its start request to the answer\n\n")
	fmt.Fprintln(w, "round\tall begun\tbegun/s\tall ended\tended/s\tbegun p50\tp99\tinitiation p50\tp99\tanswered p99\tresent\tCPU ms/wf: self\tserver\tpeak RSS\t")
	row := func(label string, r burst) {
		fmt.Fprintf(w, "%s\t%.2fs\t%.0f\t%.2fs\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%.2f\t%s\t%s\t\n", label, r.allBegun.Seconds(), r.begunPerSecond(), r.allEnded.Seconds(), r.endedPerSecond(),
			ms(r.begun50), ms(r.begun99), ms(r.initiation50), ms(r.initiation99), ms(r.answered99), r.resent, perWorkflow(r.usage.cpuSelf, r.n),
			serverCPU(pb, r.usage.cpuServer, r.n), rss(r.usage.peakRSS))
	}
	for i, r := range all {
		row(fmt.Sprintf("%d %s", i/len(meds)+1, r.kind), r)
	}
	for _, m := range meds {
		row("median "+m.kind, m)
	}
	bare, history, lb := meds[0], meds[1], meds[2]
	ratio := lb.endedPerSecond() / bare.endedPerSecond()
	fmt.Fprintf(w, "\nlifeboat / bare: throughput (ended/s) %.2f — target ≥ 0.90: %s; all begun %.2f (bare's time / lifeboat's)\n",
		ratio, met(ratio >= 0.9), bare.allBegun.Seconds()/lb.allBegun.Seconds())
	fmt.Fprintf(w, "bare+history / bare: throughput %.2f (what a recovery's history costs this server); lifeboat / bare+history: %.2f (what its code costs)\n",
		history.endedPerSecond()/bare.endedPerSecond(), lb.endedPerSecond()/history.endedPerSecond())
}

// BenchmarkRecoveryPlansSteady offers recoveries at a steady rate — 50 a second for 60 s
// (LIFEBOAT_BENCH_RATE, LIFEBOAT_BENCH_STEADY) — of a plan that checks, waits 30 s
// (LIFEBOAT_BENCH_HOLD) and checks again, so that over a thousand run at once: first the same
// steps as a bare workflow, this server and machine's ceiling, then the same recording what a
// recovery's history holds, then the Recovery workflow, each on a server of its own. Each start is
// sent at its scheduled time from a goroutine of its own, and its initiation is measured from that
// time, not from when the request actually left: a start held up by an earlier one counts the wait
// (no coordinated omission). Target: the Recovery workflow's initiation p99 under a second.
func BenchmarkRecoveryPlansSteady(b *testing.B) {
	rate, span := envInt(b, "LIFEBOAT_BENCH_RATE", 50), envDuration(b, "LIFEBOAT_BENCH_STEADY", 60*time.Second)
	hold := envDuration(b, "LIFEBOAT_BENCH_HOLD", 30*time.Second)
	var all []steady
	// Each kind on a server of its own: one that has run the others' thousands of workflows is
	// slower, and a steady load cannot alternate in rounds as a burst does.
	for i, name := range []string{"bare", "bare+history", "lifeboat"} {
		b.Run(name, func(b *testing.B) {
			pb := startPlanBench(b, nil)
			pb.writePlan(b, "steady", "1h", pb.check("a", "")+fmt.Sprintf("    - {id: hold, needs: [a], wait: {duration: %s}}\n", hold)+pb.check("b", "hold"))
			bare, history, recovery := pb.kinds("steady", hold)
			k := []kind{bare, history, recovery}[i]
			for b.Loop() {
				pb.runBurst(b, k, 50, 50) // warm up
				pb.settle()
				r := pb.runSteady(b, k, rate, span)
				r.server = serverCPU(pb, r.usage.cpuServer, r.n)
				all = append(all, r)
				b.ReportMetric(pct(r.initiation, 50).Seconds(), "p50-initiation-s")
				b.ReportMetric(pct(r.initiation, 95).Seconds(), "p95-initiation-s")
				b.ReportMetric(pct(r.initiation, 99).Seconds(), "p99-initiation-s")
				b.ReportMetric(float64(r.maxRunning), "max-running")
			}
		})
	}
	if len(all) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "\n%d workflows offered at %d/s for %s (check, wait %s, check), each sent at its scheduled time; latencies from that time\n",
		all[0].n, rate, span, hold)
	fmt.Fprintf(w, "bare: the same steps and nothing else; bare+history: the same recording what a recovery's history holds besides its steps;\n")
	fmt.Fprintf(w, "lifeboat: the Recovery workflow running them as a plan; each kind on a new server (dev server or cluster) of its own\n\n")
	fmt.Fprintln(w, "\tinitiation p50\tp95\tp99\tmax\tanswered p99\tsent late > 50ms\tresent\trunning at once (max)\tCPU ms/wf: self\tserver\tpeak RSS\t")
	for _, r := range all {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.2f\t%s\t%s\t\n", r.kind, ms(pct(r.initiation, 50)), ms(pct(r.initiation, 95)), ms(pct(r.initiation, 99)),
			ms(r.initiation[len(r.initiation)-1]), ms(pct(r.answered, 99)), r.late, r.resent, r.maxRunning, perWorkflow(r.usage.cpuSelf, r.n),
			r.server, rss(r.usage.peakRSS))
	}
	if lb := all[len(all)-1]; lb.kind == "lifeboat" {
		fmt.Fprintf(w, "\nlifeboat initiation p99 %s — target < 1s: %s\n", ms(pct(lb.initiation, 99)), met(pct(lb.initiation, 99) < time.Second))
	}
}

type steady struct {
	kind                 string
	n                    int
	initiation, answered []time.Duration
	late, resent         int
	maxRunning           int
	usage                usage
	server               string // CPU ms per workflow of the server, as printed
}

// runSteady offers workflows of k at rate per second for span, each at its scheduled time from a
// goroutine of its own, and waits for them all.
func (pb *planBench) runSteady(b *testing.B, k kind, rate int, span time.Duration) steady {
	ctx, cancel := context.WithTimeout(context.Background(), span+phaseTimeout)
	defer cancel()
	pb.begun.reset()
	stop := pb.meter()
	n := int(span.Seconds() * float64(rate))
	every := time.Second / time.Duration(rate)
	res := steady{kind: k.name, n: n, initiation: make([]time.Duration, n), answered: make([]time.Duration, n)}
	ids := make([]string, n)
	scheduled := make([]time.Time, n)
	var running, maxRunning, late, resent atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	t0 := time.Now().Add(100 * time.Millisecond)
	for i := range n {
		ids[i] = fmt.Sprintf("bench-steady-%s-%d-%d", k.name, t0.UnixNano(), i)
		scheduled[i] = t0.Add(time.Duration(i) * every)
		time.Sleep(time.Until(scheduled[i]))
		wg.Go(func() {
			if time.Since(scheduled[i]) > 50*time.Millisecond {
				late.Add(1)
			}
			run, attempts, err := pb.startIdempotent(ctx, k, ids[i])
			res.answered[i] = time.Since(scheduled[i])
			resent.Add(int64(attempts - 1))
			if err != nil {
				err = fmt.Errorf("start %s (%d sent, answered %s after its time): %w", ids[i], attempts, res.answered[i].Round(time.Millisecond), err)
			} else {
				now := running.Add(1)
				for m := maxRunning.Load(); now > m && !maxRunning.CompareAndSwap(m, now); m = maxRunning.Load() {
				}
				if err = pb.waitDone(ctx, k, run); err != nil {
					err = fmt.Errorf("%s: %w", ids[i], err)
				}
				running.Add(-1)
			}
			if err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.usage = stop()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	for i, id := range ids {
		at, ok := pb.begun.get(id)
		if !ok {
			b.Fatalf("%s ended without running a step", id)
		}
		res.initiation[i] = at.Sub(scheduled[i])
	}
	slices.Sort(res.initiation)
	slices.Sort(res.answered)
	res.late, res.resent, res.maxRunning = int(late.Load()), int(resent.Load()), int(maxRunning.Load())
	return res
}

// BenchmarkRecoveryPlan10kSteps runs one plan of 10,000 steps (100 waves of 100 parallel TCP
// checks) and reports its wall time, its history's event count and size, and the CPU time and
// peak RSS it took.
func BenchmarkRecoveryPlan10kSteps(b *testing.B) {
	const waves, width = 100, 100
	pb := startPlanBench(b, nil)
	var steps strings.Builder
	for w := range waves {
		for i := range width {
			needs := ""
			if w > 0 {
				needs = fmt.Sprintf(", needs: [w%d-%d]", w-1, i)
			}
			fmt.Fprintf(&steps, "    - {id: w%d-%d, action: check.tcp, with: {address: %q}%s}\n", w, i, pb.addr, needs)
		}
	}
	pb.writePlan(b, "ten-thousand", "1h", steps.String())
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
		id := fmt.Sprintf("bench-10k-%d", time.Now().UnixNano())
		stop := pb.meter()
		start := time.Now()
		run, err := pb.startRecovery(ctx, id, "ten-thousand")
		if err != nil {
			b.Fatal(err)
		}
		var r workflows.RecoveryResult
		if err := run.Get(ctx, &r); err != nil {
			desc, _ := pb.c.DescribeWorkflowExecution(ctx, id, "")
			b.Fatalf("%v after %s; %d events", err, time.Since(start), desc.GetWorkflowExecutionInfo().GetHistoryLength())
		}
		elapsed := time.Since(start)
		u := stop()
		events, size := 0, 0
		it := pb.c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				b.Fatal(err)
			}
			events++
			size += proto.Size(e)
		}
		cancel()
		if r.Status != "succeeded" || r.Counts["succeeded"] != waves*width {
			b.Fatalf("10k plan: %s, steps %v", r.Status, r.Counts)
		}
		b.ReportMetric(elapsed.Seconds(), "wall-s")
		b.ReportMetric(float64(events), "history-events")
		b.ReportMetric(float64(size), "history-bytes")
		fmt.Printf("\n10,000-step plan (100 waves of 100 checks): %s wall time; history %d events, %d bytes (%s); CPU self %.1fs, server %s; peak RSS %s\n",
			elapsed.Round(time.Millisecond), events, size, sizeHuman(int64(size)), u.cpuSelf.Seconds(), serverSeconds(pb, u.cpuServer), rss(u.peakRSS))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func met(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}

func perWorkflow(d time.Duration, n int) float64 {
	return float64(d.Microseconds()) / 1000 / float64(n)
}

func serverCPU(pb *planBench, d time.Duration, n int) string {
	if len(pb.serverPIDs) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", perWorkflow(d, n))
}

func serverSeconds(pb *planBench, d time.Duration) string {
	if len(pb.serverPIDs) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func rss(n int64) string {
	if n == 0 {
		return "—"
	}
	return sizeHuman(n)
}

// serverCPU is the CPU time the server's processes have used.
func (pb *planBench) serverCPU() time.Duration {
	var d time.Duration
	for _, pid := range pb.serverPIDs {
		d += procCPU(pid)
	}
	return d
}

// selfCPU is the CPU time, user and system, this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time, user and system, process pid has used, from /proc (Linux); 0 for pid 0
// or where it cannot be read.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may hold spaces: utime and
	// stime are the 12th and 13th, in clock ticks of 1/100 s.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// resetPeakRSS starts this process's peak resident set afresh (Linux 4.0 and later).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is this process's peak resident set since it started or since resetPeakRSS, in bytes;
// 0 where it cannot be read.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// envInt reads a positive whole number from the environment variable name, def when it is unset.
func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a whole number of at least 1", name, v)
	}
	return n
}

// envDuration reads a positive duration (such as 90s) from the environment variable name, def
// when it is unset.
func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a duration such as 60s", name, v)
	}
	return d
}
