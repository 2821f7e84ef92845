package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/proto"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// planBench is a dev server and an in-process worker running the Recovery workflow with the real
// actions, and a TCP listener the plans' checks connect to.
type planBench struct {
	c         client.Client
	dir       string
	addr      string
	mu        sync.Mutex
	firstStep map[string]time.Time
}

// startPlanBench starts the dev server and the worker; router delivers the plans' messages (nil:
// the log).
func startPlanBench(b *testing.B, router *notify.Router) *planBench {
	srv := devserver.Start(b, devserver.InMemory(), devserver.WithArgs("--dynamic-config-value", "system.enableEagerWorkflowStart=true"), devserver.WithSearchAttributes(map[string]string{
		"LifeboatKind": "Keyword", "LifeboatAsset": "Keyword", "LifeboatPhase": "Keyword", "LifeboatResult": "Keyword",
	}))
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	pb := &planBench{c: srv.Dial(b, client.Options{Logger: quiet}), dir: b.TempDir(), firstStep: map[string]time.Time{}}
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
	w := worker.New(pb.c, "bench", worker.Options{MaxConcurrentLocalActivityExecutionSize: 500})
	workflows.RegisterWorkflows(w)
	w.RegisterActivity(&activities.Plans{Dir: pb.dir})
	w.RegisterActivity(&activities.Identities{})
	w.RegisterActivity(&activities.Notifications{Router: router, Logger: slog.New(slog.DiscardHandler)})
	// The real action, wrapped to note when each recovery's first step begins.
	actions := &activities.Actions{}
	w.RegisterActivityWithOptions(func(ctx context.Context, in contract.ActionInput) (contract.ActionResult, error) {
		id := activity.GetInfo(ctx).WorkflowExecution.ID
		pb.mu.Lock()
		if _, seen := pb.firstStep[id]; !seen {
			pb.firstStep[id] = time.Now()
		}
		pb.mu.Unlock()
		return actions.RunAction(ctx, in)
	}, activity.RegisterOptions{Name: "RunAction"})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	return pb
}

func (pb *planBench) writePlan(b *testing.B, name, steps string) {
	src := fmt.Sprintf("apiVersion: lifeboat.dev/v1\nkind: RecoveryPlan\nmetadata: {name: %s}\nspec:\n  scenario: benchmark\n  objectives: {rto: 1m}\n  steps:\n%s", name, steps)
	if err := os.WriteFile(filepath.Join(pb.dir, name+".yaml"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRecoveryPlans starts 1,000 recoveries of a five-step plan at once (two checks in
// parallel, then three in a row; every step a real TCP check run as a local activity) and reports
// throughput and the initiation latency: from the start request to the first step running.
func BenchmarkRecoveryPlans(b *testing.B) {
	const concurrent = 1000
	pb := startPlanBench(b, nil)
	step := func(id, needs string) string {
		s := fmt.Sprintf("    - {id: %s, action: check.tcp, with: {address: %q}", id, pb.addr)
		if needs != "" {
			s += ", needs: [" + needs + "]"
		}
		return s + "}\n"
	}
	pb.writePlan(b, "five-steps", step("a", "")+step("b", "")+step("c", "a, b")+step("d", "c")+step("e", "d"))
	for b.Loop() {
		ctx := context.Background()
		initiation := make([]time.Duration, concurrent)
		started := make([]time.Duration, concurrent)
		total := make([]time.Duration, concurrent)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		start := time.Now()
		for i := range concurrent {
			wg.Go(func() {
				t0 := time.Now()
				id := fmt.Sprintf("bench-recovery-%d-%d", start.UnixNano(), i)
				run, err := pb.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
					ID: id, TaskQueue: "bench", EnableEagerStart: true,
					TypedSearchAttributes: temporal.NewSearchAttributes(workflows.KindKey.ValueSet("recovery"), workflows.AssetKey.ValueSet("five-steps")),
				}, workflows.RecoveryWorkflow, workflows.RecoveryInput{Plan: "five-steps", Requester: "bench"})
				started[i] = time.Since(t0)
				var r workflows.RecoveryResult
				if err == nil {
					err = run.Get(ctx, &r)
				}
				total[i] = time.Since(t0)
				pb.mu.Lock()
				initiation[i] = pb.firstStep[id].Sub(t0)
				pb.mu.Unlock()
				if err == nil && r.Status != "succeeded" {
					err = fmt.Errorf("recovery %d: %s", i, r.Status)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		slices.Sort(initiation)
		slices.Sort(total)
		slices.Sort(started)
		p := func(d []time.Duration, q int) time.Duration { return d[len(d)*q/100].Round(time.Millisecond) }
		b.ReportMetric(float64(concurrent)/elapsed.Seconds(), "recoveries/s")
		b.ReportMetric(p(initiation, 99).Seconds(), "p99-initiation-s")
		b.Logf("%d concurrent recoveries of 5 steps in %s: %.0f/s; start request answered p50 %s p99 %s; initiation (start → first step) p50 %s p99 %s; start to end p50 %s p99 %s",
			concurrent, elapsed.Round(time.Millisecond), float64(concurrent)/elapsed.Seconds(),
			p(started, 50), p(started, 99), p(initiation, 50), p(initiation, 99), p(total, 50), p(total, 99))
	}
}

// BenchmarkRecoveryPlan10kSteps runs one plan of 10,000 steps (100 waves of 100 parallel TCP
// checks) and reports its wall time and its history's event count and size.
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
	pb.writePlan(b, "ten-thousand", steps.String())
	for b.Loop() {
		ctx := context.Background()
		id := fmt.Sprintf("bench-10k-%d", time.Now().UnixNano())
		start := time.Now()
		run, err := pb.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "bench", EnableEagerStart: true},
			workflows.RecoveryWorkflow, workflows.RecoveryInput{Plan: "ten-thousand", Requester: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		var r workflows.RecoveryResult
		if err := run.Get(ctx, &r); err != nil {
			desc, _ := pb.c.DescribeWorkflowExecution(ctx, id, "")
			it := pb.c.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
			var last string
			for it.HasNext() {
				e, _ := it.Next()
				last = fmt.Sprint(e)
			}
			b.Fatalf("%v after %s; %d events; close event: %s", err, time.Since(start), desc.GetWorkflowExecutionInfo().GetHistoryLength(), last)
		}
		elapsed := time.Since(start)
		events, size := 0, 0
		it := pb.c.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				b.Fatal(err)
			}
			events++
			size += proto.Size(e)
		}
		if r.Status != "succeeded" || r.Counts["succeeded"] != waves*width {
			b.Fatalf("10k plan: %s, steps %v", r.Status, r.Counts)
		}
		b.ReportMetric(elapsed.Seconds(), "wall-s")
		b.ReportMetric(float64(events), "history-events")
		b.ReportMetric(float64(size)/(1<<20), "history-MiB")
		b.Logf("10,000-step plan: %s wall time, history %d events, %.1f MiB", elapsed.Round(time.Millisecond), events, float64(size)/(1<<20))
	}
}
