package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// errClosed is returned by waits that end because the workflow closed.
var errClosed = errors.New("the workflow closed")

// pendingOf returns the pending activity of type typ of workflow id, if any, and whether the
// workflow still runs.
func pendingOf(ctx context.Context, c client.Client, id, typ string) (*workflowpb.PendingActivityInfo, bool, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return nil, false, err
	}
	running := desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityType().GetName() == typ {
			return pa, running, nil
		}
	}
	return nil, running, nil
}

// waitStarted waits until an activity of type typ of workflow id runs on a worker, and returns its
// attempt.
func (tr *trial) waitStarted(c client.Client, id, typ string) (int32, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		pa, running, err := pendingOf(tr.ctx, c, id, typ)
		if err == nil {
			if pa != nil && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return pa.GetAttempt(), nil
			}
			if !running {
				return 0, fmt.Errorf("wait for %s of %s to start: %w", typ, id, errClosed)
			}
		}
		if time.Now().After(deadline) || tr.ctx.Err() != nil {
			return 0, fmt.Errorf("%s of %s did not start within 5 minutes (last error %v)", typ, id, err)
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// timeStep measures how long the activity typ of workflow id runs, from when it is seen started to
// when it is no longer pending.
func (tr *trial) timeStep(c client.Client, id, typ string) (time.Duration, error) {
	if _, err := tr.waitStarted(c, id, typ); err != nil {
		return 0, err
	}
	began := time.Now()
	for {
		pa, running, err := pendingOf(tr.ctx, c, id, typ)
		if err == nil && (pa == nil || !running) {
			return time.Since(began), nil
		}
		if tr.ctx.Err() != nil {
			return 0, tr.ctx.Err()
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// kill is a worker killed during a step.
type kill struct {
	at      time.Time
	attempt int32
	// hit: the step was still running when its worker died, so its next attempt had to finish it.
	hit bool
	// frac is where in the calibrated duration of the step the kill was aimed.
	frac float64
}

// killDuring waits until activity typ of workflow id runs on worker w, kills w with SIGKILL at a
// random point within cal (the step's duration measured without faults), at once starts another
// worker with restart, and records the kill and the time to resume (measureResume).
func (tr *trial) killDuring(c client.Client, id, typ string, cal time.Duration, w *proc, restart func() (*proc, error)) error {
	k := kill{frac: tr.fraction(0, 0.75)}
	attempt, err := tr.waitStarted(c, id, typ)
	if err != nil {
		return err
	}
	time.Sleep(time.Duration(k.frac * float64(cal)))
	if err := w.Kill(); err != nil {
		return err
	}
	k.at, k.attempt = time.Now(), attempt
	// The worker is gone: if the step is still pending with the attempt it ran, its result never
	// reached the server.
	if pa, _, err := pendingOf(tr.ctx, c, id, typ); err == nil && pa != nil && pa.GetAttempt() == attempt {
		k.hit = true
	}
	if _, err := restart(); err != nil {
		return err
	}
	return tr.measureResume(c, id, typ, k)
}

// resumeAfter measures how long after the kill the step's next attempt first heartbeat: from the
// pending activity while it runs, or from its started event once it has finished.
func (tr *trial) resumeAfter(c client.Client, id, typ string, k kill) (time.Duration, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		pa, running, err := pendingOf(tr.ctx, c, id, typ)
		if err == nil {
			if pa != nil && pa.GetAttempt() > k.attempt && pa.GetLastHeartbeatTime() != nil && pa.GetLastHeartbeatTime().AsTime().After(k.at) {
				return pa.GetLastHeartbeatTime().AsTime().Sub(k.at), nil
			}
			if pa == nil || !running {
				return tr.startedAfter(c, id, typ, k)
			}
		}
		if time.Now().After(deadline) || tr.ctx.Err() != nil {
			return 0, fmt.Errorf("%s of %s did not resume within 5 minutes of the kill (last error %v)", typ, id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startedAfter finds in history when the attempt of activity typ that completed started.
func (tr *trial) startedAfter(c client.Client, id, typ string, k kill) (time.Duration, error) {
	types := map[int64]string{}
	it := c.GetWorkflowHistory(tr.ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return 0, err
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[e.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && types[a.GetScheduledEventId()] == typ && a.GetAttempt() > k.attempt {
			return e.GetEventTime().AsTime().Sub(k.at), nil
		}
	}
	return 0, fmt.Errorf("no later attempt of %s of %s in its history", typ, id)
}

// result waits for workflow id to close and decodes its result; a failed workflow is an error
// that says why.
// While the server is unreachable (restarting), it keeps waiting.
func (tr *trial) result(c client.Client, id string, out any) error {
	ctx, cancel := context.WithTimeout(tr.ctx, 10*time.Minute)
	defer cancel()
	for {
		err := c.GetWorkflow(ctx, id, "").Get(ctx, out)
		if err == nil {
			return nil
		}
		var wfErr *temporal.WorkflowExecutionError
		var notFound *serviceerror.NotFound
		if errors.As(err, &wfErr) || errors.As(err, &notFound) || ctx.Err() != nil {
			return fmt.Errorf("workflow %s: %w", id, err)
		}
		time.Sleep(time.Second) // the server is not answering: try again
	}
}
