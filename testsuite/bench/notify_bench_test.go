package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/route"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/twilio"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// deliveries records when each run's "recovery.started" message reached a channel, by the run's
// marker.
type deliveries struct {
	mu sync.Mutex
	at map[string]time.Time
}

var runMarker = regexp.MustCompile(`bench-run-\d+`)

func (d *deliveries) record(body []byte) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range runMarker.FindAll(body, -1) {
		if _, seen := d.at[string(m)]; !seen {
			d.at[string(m)] = now
		}
	}
}

// fakeSlack answers chat.postMessage and chat.update as Slack does, or with 500 while failing is set.
func fakeSlack(b *testing.B, got *deliveries, failing *atomic.Bool) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if failing.Load() {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		got.record(body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"channel":"C0BENCH","ts":"1700000000.%06d"}`, n.Add(1))
	}))
	b.Cleanup(srv.Close)
	return srv
}

// fakeTwilio answers the Messages API as Twilio does.
func fakeTwilio(b *testing.B, got *deliveries) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got.record([]byte(r.PostForm.Get("Body")))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"sid":"SM00000000000000000000000000000000","status":"queued"}`)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkNotificationLatency starts recoveries of a plan with stakeholder updates, 20 a second,
// and reports the latency from each run's start (its first phase change) to its "started" message
// accepted by Slack; then the same with Slack answering 500, where the route falls back to SMS.
func BenchmarkNotificationLatency(b *testing.B) {
	const runs, every = 200, 50 * time.Millisecond
	got := &deliveries{at: map[string]time.Time{}}
	var slackDown atomic.Bool
	slackAPI, twilioAPI := fakeSlack(b, got, &slackDown), fakeTwilio(b, got)
	secrets := map[string]string{"slack-bot": "xoxb-bench", "twilio-token": "0123456789abcdef0123456789abcdef"}
	router, err := route.Build([]route.Config{{
		Name:     notify.DefaultRoute,
		Delivery: "fallback",
		Order:    []string{route.KindSlack, route.KindSMS},
		Slack:    []route.SlackChannel{{Config: slack.Config{Channel: "C0BENCH", TokenRef: "slack-bot", APIURL: slackAPI.URL + "/", Attempts: 2}}},
		SMS: []twilio.SMSConfig{{Config: twilio.Config{AccountSID: "AC0123456789abcdef0123456789abcdef", AuthTokenRef: "twilio-token",
			From: "+15555550100", To: []string{"+15555550199"}, APIURL: twilioAPI.URL}}},
	}}, func(_ context.Context, name string) (string, error) { return secrets[name], nil }, nil)
	if err != nil {
		b.Fatal(err)
	}
	pb := startPlanBench(b, router)
	src := fmt.Sprintf("apiVersion: lifeboat.dev/v1\nkind: RecoveryPlan\nmetadata: {name: announced}\nspec:\n  scenario: benchmark\n"+
		"  people: [{id: ops, name: Ops, channels: {email: ops@example.com}}]\n  updates: {to: [ops]}\n"+
		"  steps:\n    - {id: check, action: check.tcp, with: {address: %q}}\n", pb.addr)
	if err := os.WriteFile(filepath.Join(pb.dir, "announced.yaml"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for _, phase := range []struct {
			name string
			down bool
		}{{"slack", false}, {"fallback to sms (slack answers 500)", true}} {
			slackDown.Store(phase.down)
			latency := make([]time.Duration, runs)
			var wg sync.WaitGroup
			var failed atomic.Int64
			start := time.Now()
			tick := time.NewTicker(every)
			for i := range runs {
				<-tick.C
				wg.Go(func() {
					marker := fmt.Sprintf("bench-run-%d", start.UnixNano()+int64(i))
					t0 := time.Now()
					run, err := pb.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
						ID: "bench-notify-" + marker, TaskQueue: pb.taskQueue, EnableEagerStart: true,
						TypedSearchAttributes: temporal.NewSearchAttributes(workflows.KindKey.ValueSet("recovery"), workflows.AssetKey.ValueSet("announced")),
					}, workflows.RecoveryWorkflow, workflows.RecoveryInput{Plan: "announced", Requester: "bench", Reason: marker})
					if err == nil {
						err = run.Get(context.Background(), nil)
					}
					got.mu.Lock()
					at, ok := got.at[marker]
					got.mu.Unlock()
					if err != nil || !ok {
						failed.Add(1)
						return
					}
					latency[i] = at.Sub(t0)
				})
			}
			tick.Stop()
			wg.Wait()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%s: %d of %d runs failed or sent nothing", phase.name, n, runs)
			}
			slices.Sort(latency)
			p := func(q int) time.Duration { return latency[len(latency)*q/100].Round(time.Millisecond) }
			b.Logf("%s: %d recoveries at %.0f/s: start → message accepted p50 %s p99 %s max %s", phase.name, runs, float64(time.Second)/float64(every), p(50), p(99), latency[len(latency)-1].Round(time.Millisecond))
			metric := "p99-slack-s"
			if phase.down {
				metric = "p99-fallback-s"
			}
			b.ReportMetric(p(99).Seconds(), metric)
		}
	}
}
