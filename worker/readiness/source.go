package readiness

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// DrillSource lists the drills the evidence holds.
type DrillSource interface {
	Drills(ctx context.Context) ([]Drill, error)
}

// Source gathers the inputs of readiness: the configuration and its plans (read afresh each time,
// as runs read them), every asset's protection from its RPO watchdog, and the drills.
type Source struct {
	Config config.Config
	// Client returns the Temporal client, or nil while there is none.
	Client func() client.Client
	// Drills is where drills are read from; nil: no evidence store is configured.
	Drills DrillSource
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Inputs reads everything readiness is computed from. What cannot be read is reported in the
// inputs (PlanErrors, DrillsError, a Protection's Error), never silently left out.
func (s *Source) Inputs(ctx context.Context) Inputs {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	in := Inputs{Now: now().UTC(), Config: s.Config, Protection: map[string]Protection{}}
	plans, err := s.Config.Plans()
	in.Plans = plans
	if err != nil {
		in.PlanErrors = splitErr(err)
	}
	in.Versions = PlanVersions(s.Config, plans)

	var wg sync.WaitGroup
	var mu sync.Mutex
	if s.Drills == nil {
		in.DrillsError = "no evidence store is configured (evidence.location): no drill can be vouched for"
	} else {
		wg.Go(func() {
			d, err := s.Drills.Drills(ctx)
			mu.Lock()
			defer mu.Unlock()
			in.Drills = d
			if err != nil {
				in.DrillsError = err.Error()
			}
		})
	}
	var c client.Client
	if s.Client != nil {
		c = s.Client()
	}
	sem := make(chan struct{}, 8)
	for _, a := range s.Config.Assets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p := protection(ctx, c, a.Name)
			mu.Lock()
			defer mu.Unlock()
			in.Protection[a.Name] = p
		})
	}
	wg.Wait()
	return in
}

// protection asks the asset's RPO watchdog for its status.
func protection(ctx context.Context, c client.Client, asset string) Protection {
	if c == nil {
		return Protection{Error: "not connected to Temporal"}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(ctx, workflows.WatchdogID(asset), "", workflows.QueryStatus)
	if err != nil {
		return Protection{Error: fmt.Sprintf("its RPO watchdog %s did not answer: %v", workflows.WatchdogID(asset), err)}
	}
	var st workflows.RPOStatus
	if err := v.Get(&st); err != nil {
		return Protection{Error: fmt.Sprintf("its RPO watchdog's answer: %v", err)}
	}
	p := Protection{LastBackup: st.LastBackup, WatchingSince: st.WatchingSince, RPO: st.RPO.D()}
	if st.LastVerified != nil {
		p.LastVerified, p.LastVerifiedSnapshot = st.LastVerified.FinishedAt, st.LastVerified.Snapshot.Time
	}
	for _, b := range st.Breaches {
		p.Breaches = append(p.Breaches, Period{From: b.From, To: b.To})
	}
	return p
}
