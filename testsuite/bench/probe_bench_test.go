package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// BenchmarkHealthProbeThroughput starts 1,000 single-check probes at once on a real dev server, with a
// worker in the same process (so starts are eager), and reports completed probes per second and the
// start-to-verdict latency percentiles. Each probe is one TCP attempt, run as a local activity.
func BenchmarkHealthProbeThroughput(b *testing.B) {
	const concurrent = 1000
	srv := devserver.Start(b, devserver.InMemory(), devserver.WithArgs("--dynamic-config-value", "system.enableEagerWorkflowStart=true"), devserver.WithSearchAttributes(map[string]string{
		"LifeboatKind": "Keyword", "LifeboatAsset": "Keyword", "LifeboatPhase": "Keyword", "LifeboatResult": "Keyword",
	}))
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	c := srv.Dial(b, client.Options{Logger: quiet})
	w := worker.New(c, "bench", worker.Options{MaxConcurrentLocalActivityExecutionSize: 500})
	workflows.RegisterWorkflows(w)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	// The real activity, wrapped to note when each probe's first attempt begins.
	check := probe.Check{Name: "bench-port", Kind: probe.TCP, Address: ln.Addr().String()}
	probes := &activities.Probes{Prober: &probe.Prober{}, Checks: map[string]probe.Check{check.Name: check}}
	var firstMu sync.Mutex
	firstStep := map[string]time.Time{}
	w.RegisterActivityWithOptions(func(ctx context.Context, in contract.ProbeCheckInput) (contract.ProbeCheckResult, error) {
		id := activity.GetInfo(ctx).WorkflowExecution.ID
		firstMu.Lock()
		if _, seen := firstStep[id]; !seen {
			firstStep[id] = time.Now()
		}
		firstMu.Unlock()
		return probes.ProbeCheck(ctx, in)
	}, activity.RegisterOptions{Name: "ProbeCheck"})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()

	in := workflows.HealthProbeInput{Target: "bench", Checks: []probe.Check{{Name: check.Name}}}

	for b.Loop() {
		ctx := context.Background()
		latencies := make([]time.Duration, concurrent)
		toFirstStep := make([]time.Duration, concurrent)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		start := time.Now()
		for i := range concurrent {
			wg.Go(func() {
				t0 := time.Now()
				id := fmt.Sprintf("bench-%d-%d", start.UnixNano(), i)
				run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
					ID: id, TaskQueue: "bench", EnableEagerStart: true,
					// As lifeboat starts probes: findable from the start without an upsert.
					TypedSearchAttributes: temporal.NewSearchAttributes(workflows.KindKey.ValueSet("probe"), workflows.AssetKey.ValueSet(in.Target)),
				}, workflows.HealthProbeWorkflow, in)
				if err == nil {
					var r workflows.HealthProbeResult
					err = run.Get(ctx, &r)
					if err == nil && !r.Healthy {
						err = fmt.Errorf("probe %d unhealthy: %+v", i, r.Checks)
					}
				}
				latencies[i] = time.Since(t0)
				firstMu.Lock()
				toFirstStep[i] = firstStep[id].Sub(t0)
				firstMu.Unlock()
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
		slices.Sort(latencies)
		slices.Sort(toFirstStep)
		p := func(d []time.Duration, q int) time.Duration { return d[len(d)*q/100].Round(time.Millisecond) }
		b.ReportMetric(float64(concurrent)/elapsed.Seconds(), "probes/s")
		b.ReportMetric(p(toFirstStep, 99).Seconds(), "p99-first-step-s")
		b.ReportMetric(p(latencies, 99).Seconds(), "p99-verdict-s")
		b.Logf("%d concurrent probes in %s: %.0f/s; start to first attempt p50 %s p99 %s; start to verdict p50 %s p99 %s",
			concurrent, elapsed.Round(time.Millisecond), float64(concurrent)/elapsed.Seconds(),
			p(toFirstStep, 50), p(toFirstStep, 99), p(latencies, 50), p(latencies, 99))
	}
}
