package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/integrations/postgres"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// ErrTypeActionRefused is the type of the non-retryable error of an action that must not run as
// asked: an unknown action, bad parameters, a command outside the worker's allow-list.
const ErrTypeActionRefused = "ActionRefused"

// Failover is the part of *aws.Failover the recovery actions use.
type Failover interface {
	UpsertRecord(ctx context.Context, zoneID string, rec aws.Record) (string, error)
	WaitChange(ctx context.Context, changeID string, poll time.Duration) error
	PromoteReadReplica(ctx context.Context, region, instanceID string) (bool, error)
	WaitInstanceAvailable(ctx context.Context, region, id string, poll time.Duration) (aws.Instance, error)
	FailoverGlobalCluster(ctx context.Context, globalClusterID, targetDBClusterARN string) error
	SwitchoverGlobalCluster(ctx context.Context, globalClusterID, targetDBClusterARN string) error
	WaitGlobalClusterAvailable(ctx context.Context, globalClusterID, writerARN string, poll time.Duration) (aws.GlobalCluster, error)
	StartInstances(ctx context.Context, region string, ids []string) error
	StopInstances(ctx context.Context, region string, ids []string) error
	WaitInstancesState(ctx context.Context, region string, ids []string, state string, poll time.Duration) error
	SetDesiredCapacity(ctx context.Context, region, group string, n int32) error
	WaitGroupCapacity(ctx context.Context, region, group string, n int32, poll time.Duration) error
}

var _ Failover = (*aws.Failover)(nil)

// Actions carries out the steps of recovery plans: checks, PostgreSQL failover, AWS failover and
// commands from the worker's allow-list. Plans name actions and give their parameters; secrets and
// command lines stay in the worker's configuration.
type Actions struct {
	Secrets secrets.Resolver
	// AWS is nil when the worker has no AWS access configured.
	AWS AWSFailover
	// Commands is the allow-list: a name a plan may use, and the argv it runs (without a shell).
	Commands map[string][]string
	// Poll is how often waits look again (default 5s).
	Poll   time.Duration
	Logger *slog.Logger
}

// AWSFailover returns the AWS client, creating it on first use.
type AWSFailover func(ctx context.Context) (Failover, error)

// ActionInput is one action of a plan step.
type ActionInput struct {
	Action string         `json:"action"`
	Params map[string]any `json:"params,omitempty"`
	// Step names the plan step, for logs and errors.
	Step string `json:"step,omitempty"`
}

// ActionResult is what the action observed; Outputs are what `when:` conditions of later steps read.
type ActionResult struct {
	Outputs map[string]any `json:"outputs,omitempty"`
	Summary string         `json:"summary"`
}

type actionFunc func(a *Actions, ctx context.Context, p params) (ActionResult, error)

var actionFuncs = map[string]actionFunc{
	"postgres.replication_status":     (*Actions).pgStatus,
	"postgres.fence":                  (*Actions).pgFence,
	"postgres.unfence":                (*Actions).pgUnfence,
	"postgres.promote":                (*Actions).pgPromote,
	"postgres.write_probe":            (*Actions).pgWriteProbe,
	"postgres.sql_check":              (*Actions).pgSQLCheck,
	"aws.route53_upsert":              (*Actions).route53Upsert,
	"aws.rds_promote_read_replica":    (*Actions).rdsPromote,
	"aws.rds_failover_global_cluster": (*Actions).globalFailover,
	"aws.ec2_start":                   (*Actions).ec2Start,
	"aws.ec2_stop":                    (*Actions).ec2Stop,
	"aws.asg_set_capacity":            (*Actions).asgCapacity,
	"check.http":                      (*Actions).checkHTTP,
	"check.tcp":                       (*Actions).checkTCP,
	"check.dns":                       (*Actions).checkDNS,
	"exec":                            (*Actions).execCommand,
}

// ActionNames lists the actions RunAction carries out.
func ActionNames() []string {
	names := make([]string, 0, len(actionFuncs))
	for n := range actionFuncs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// OutputRecoveryPoint is the output (an RFC 3339 time) of an action that brought back data as of a
// point in time: a promoted replica's last replayed transaction, a restored snapshot's time. A
// recovery measures its RPO — the data-loss window — from it.
const OutputRecoveryPoint = "recovery_point"

func refused(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeActionRefused, err)
}

// RunAction carries out one action. Actions are idempotent: promoting a primary, fencing a fenced
// server or upserting a record again succeeds without a second effect. A check that fails is a
// result with ok false, not an error; an error means the action could not be carried out.
func (a *Actions) RunAction(ctx context.Context, in ActionInput) (ActionResult, error) {
	fn, ok := actionFuncs[in.Action]
	if !ok {
		return ActionResult{}, refused("step %s: unknown action %q (known: %s)", in.Step, in.Action, strings.Join(ActionNames(), ", "))
	}
	res, err := fn(a, ctx, params{m: in.Params, action: in.Action})
	if err != nil {
		var p paramError
		if errors.As(err, &p) {
			return res, refused("step %s: %v", in.Step, err)
		}
		if aws.IsPermanent(err) {
			return res, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeActionRefused, err)
		}
		return res, fmt.Errorf("step %s: %s: %w", in.Step, in.Action, err)
	}
	return res, nil
}

func (a *Actions) poll() time.Duration {
	if a.Poll > 0 {
		return a.Poll
	}
	return 5 * time.Second
}

// keepAlive heartbeats while a long action waits on something outside.
func keepAlive(ctx context.Context) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if activity.IsActivity(ctx) {
					activity.RecordHeartbeat(ctx)
				}
			}
		}
	}()
	return func() { close(done) }
}

// params reads an action's parameters with the types the plan schema gives them.
type params struct {
	m      map[string]any
	action string
}

type paramError struct{ msg string }

func (e paramError) Error() string { return e.msg }

func (p params) str(name string, required bool) (string, error) {
	v, ok := p.m[name]
	if !ok || v == nil {
		if required {
			return "", paramError{fmt.Sprintf("%s: parameter %s is required", p.action, name)}
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", paramError{fmt.Sprintf("%s: parameter %s must be a string", p.action, name)}
	}
	return s, nil
}

func (p params) num(name string, def int64) (int64, error) {
	v, ok := p.m[name]
	if !ok || v == nil {
		return def, nil
	}
	switch n := v.(type) {
	case float64:
		return int64(n), nil
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case json.Number:
		return n.Int64()
	}
	return 0, paramError{fmt.Sprintf("%s: parameter %s must be a number", p.action, name)}
}

func (p params) flag(name string) (bool, error) {
	v, ok := p.m[name]
	if !ok || v == nil {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, paramError{fmt.Sprintf("%s: parameter %s must be true or false", p.action, name)}
	}
	return b, nil
}

func (p params) duration(name string, def time.Duration) (time.Duration, error) {
	v, ok := p.m[name]
	if !ok || v == nil {
		return def, nil
	}
	b, _ := json.Marshal(v)
	var d units.Duration
	if err := json.Unmarshal(b, &d); err != nil {
		return 0, paramError{fmt.Sprintf("%s: parameter %s: %v", p.action, name, err)}
	}
	return d.D(), nil
}

// dsn resolves the dsn_secret parameter.
func (a *Actions) dsn(ctx context.Context, p params) (string, error) {
	name, err := p.str("dsn_secret", true)
	if err != nil {
		return "", err
	}
	v, err := a.Secrets.Secret(ctx, name)
	if err != nil {
		return "", paramError{fmt.Sprintf("%s: %v", p.action, err)}
	}
	return v, nil
}

func (a *Actions) pgStatus(ctx context.Context, p params) (ActionResult, error) {
	dsn, err := a.dsn(ctx, p)
	if err != nil {
		return ActionResult{}, err
	}
	st, err := postgres.ReplicationStatus(ctx, dsn)
	if errors.Is(err, postgres.ErrUnreachable) {
		// Unreachable is what a failover plan looks for: an outcome, not a failed step.
		return ActionResult{Outputs: map[string]any{"role": "unreachable", "reachable": false}, Summary: err.Error()}, nil
	}
	if err != nil {
		return ActionResult{}, err
	}
	return ActionResult{
		Outputs: map[string]any{"role": string(st.Role), "reachable": true, "lag_seconds": st.LagSeconds, "lag_bytes": st.LagBytes,
			"streaming": st.Streaming, "timeline": st.Timeline, "lsn": firstNonEmpty(st.CurrentLSN, st.ReplayLSN)},
		Summary: fmt.Sprintf("%s, timeline %d, lag %d bytes / %.1fs", st.Role, st.Timeline, st.LagBytes, st.LagSeconds),
	}, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (a *Actions) pgFence(ctx context.Context, p params) (ActionResult, error) {
	dsn, err := a.dsn(ctx, p)
	if err != nil {
		return ActionResult{}, err
	}
	res, err := postgres.Fence(ctx, dsn)
	if errors.Is(err, postgres.ErrUnreachable) {
		// A server that cannot be reached takes no writes either; the step says so.
		return ActionResult{Outputs: map[string]any{"fenced": true, "reachable": false}, Summary: "unreachable, so taking no writes: " + err.Error()}, nil
	}
	if err != nil {
		return ActionResult{}, err
	}
	return ActionResult{Outputs: map[string]any{"fenced": true, "reachable": true, "sessions_terminated": len(res.Terminated)},
		Summary: fmt.Sprintf("read-only, %d sessions ended", len(res.Terminated))}, nil
}

func (a *Actions) pgUnfence(ctx context.Context, p params) (ActionResult, error) {
	dsn, err := a.dsn(ctx, p)
	if err != nil {
		return ActionResult{}, err
	}
	if err := postgres.Unfence(ctx, dsn); err != nil {
		return ActionResult{}, err
	}
	return ActionResult{Outputs: map[string]any{"fenced": false}, Summary: "takes writes again"}, nil
}

func (a *Actions) pgPromote(ctx context.Context, p params) (ActionResult, error) {
	dsn, err := a.dsn(ctx, p)
	if err != nil {
		return ActionResult{}, err
	}
	wait, err := p.duration("wait", time.Minute)
	if err != nil {
		return ActionResult{}, err
	}
	res, err := postgres.Promote(ctx, dsn, wait)
	if err != nil {
		return ActionResult{}, err
	}
	summary := fmt.Sprintf("promoted in %s, timeline %d", units.Duration(res.Duration).Human(), res.Timeline)
	if res.AlreadyPrimary {
		summary = fmt.Sprintf("already primary, timeline %d", res.Timeline)
	}
	out := map[string]any{"promoted": true, "timeline": res.Timeline, "lsn": res.LSN, "promote_ms": res.Duration.Milliseconds()}
	if !res.RecoveryPoint.IsZero() {
		out[OutputRecoveryPoint] = res.RecoveryPoint.Format(time.RFC3339Nano)
		summary += ", newest data from " + res.RecoveryPoint.Format(time.RFC3339)
	}
	return ActionResult{Outputs: out, Summary: summary}, nil
}

func (a *Actions) pgWriteProbe(ctx context.Context, p params) (ActionResult, error) {
	dsn, err := a.dsn(ctx, p)
	if err != nil {
		return ActionResult{}, err
	}
	res, err := postgres.WriteProbe(ctx, dsn, postgres.ProbeOptions{})
	if errors.Is(err, postgres.ErrReadOnly) || errors.Is(err, postgres.ErrUnreachable) {
		return ActionResult{Outputs: map[string]any{"ok": false}, Summary: err.Error()}, nil
	}
	if err != nil {
		return ActionResult{}, err
	}
	return ActionResult{Outputs: map[string]any{"ok": true, "latency_ms": res.Latency.Milliseconds()},
		Summary: "write and read back in " + units.Duration(res.Latency).Human()}, nil
}

func (a *Actions) pgSQLCheck(ctx context.Context, p params) (ActionResult, error) {
	dsn, err := a.dsn(ctx, p)
	if err != nil {
		return ActionResult{}, err
	}
	query, err := p.str("query", true)
	if err != nil {
		return ActionResult{}, err
	}
	expect, err := p.str("expect", false)
	if err != nil {
		return ActionResult{}, err
	}
	results, err := postgres.Tools{}.Check(ctx, dsn, []postgres.SQLCheck{{Name: "check", Query: query, Expect: expect}})
	if len(results) == 1 {
		r := results[0]
		summary := "value " + r.Value
		if !r.Passed {
			summary = r.Error
		}
		return ActionResult{Outputs: map[string]any{"ok": r.Passed, "value": r.Value}, Summary: summary}, nil
	}
	return ActionResult{}, err
}

func (a *Actions) aws(ctx context.Context) (Failover, error) {
	if a.AWS == nil {
		return nil, paramError{"this worker has no AWS access configured (aws: in its configuration)"}
	}
	return a.AWS(ctx)
}

func (a *Actions) route53Upsert(ctx context.Context, p params) (ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	zone, err := p.str("zone_id", true)
	if err != nil {
		return ActionResult{}, err
	}
	name, err := p.str("record", true)
	if err != nil {
		return ActionResult{}, err
	}
	value, err := p.str("value", true)
	if err != nil {
		return ActionResult{}, err
	}
	typ, err := p.str("type", false)
	if err != nil {
		return ActionResult{}, err
	}
	if typ == "" {
		typ = aws.RecordCNAME
	}
	ttl, err := p.num("ttl", 60)
	if err != nil {
		return ActionResult{}, err
	}
	defer keepAlive(ctx)()
	id, err := f.UpsertRecord(ctx, zone, aws.Record{Name: name, Type: typ, TTL: ttl, Values: []string{value}})
	if err != nil {
		return ActionResult{}, err
	}
	if err := f.WaitChange(ctx, id, a.poll()); err != nil {
		return ActionResult{}, err
	}
	return ActionResult{Outputs: map[string]any{"change_id": id}, Summary: fmt.Sprintf("%s %s → %s, in sync", name, typ, value)}, nil
}

func (a *Actions) rdsPromote(ctx context.Context, p params) (ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	id, err := p.str("instance", true)
	if err != nil {
		return ActionResult{}, err
	}
	region, err := p.str("region", true)
	if err != nil {
		return ActionResult{}, err
	}
	defer keepAlive(ctx)()
	already, err := f.PromoteReadReplica(ctx, region, id)
	if err != nil {
		return ActionResult{}, err
	}
	inst, err := f.WaitInstanceAvailable(ctx, region, id, a.poll())
	if err != nil {
		return ActionResult{}, err
	}
	summary := "promoted, available at " + inst.Address
	if already {
		summary = "already standalone, available at " + inst.Address
	}
	return ActionResult{Outputs: map[string]any{"endpoint": fmt.Sprintf("%s:%d", inst.Address, inst.Port)}, Summary: summary}, nil
}

func (a *Actions) globalFailover(ctx context.Context, p params) (ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	global, err := p.str("global_cluster", true)
	if err != nil {
		return ActionResult{}, err
	}
	target, err := p.str("target_cluster_arn", true)
	if err != nil {
		return ActionResult{}, err
	}
	lossy, err := p.flag("allow_data_loss")
	if err != nil {
		return ActionResult{}, err
	}
	defer keepAlive(ctx)()
	if lossy {
		err = f.FailoverGlobalCluster(ctx, global, target)
	} else {
		err = f.SwitchoverGlobalCluster(ctx, global, target)
	}
	if err != nil {
		return ActionResult{}, err
	}
	gc, err := f.WaitGlobalClusterAvailable(ctx, global, target, a.poll())
	if err != nil {
		return ActionResult{}, err
	}
	return ActionResult{Outputs: map[string]any{"writer_cluster_arn": gc.Writer}, Summary: "writer is now " + gc.Writer}, nil
}

func (a *Actions) ec2(ctx context.Context, p params, start bool) (ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	id, err := p.str("instance_id", true)
	if err != nil {
		return ActionResult{}, err
	}
	region, err := p.str("region", true)
	if err != nil {
		return ActionResult{}, err
	}
	defer keepAlive(ctx)()
	state := aws.StateRunning
	if start {
		err = f.StartInstances(ctx, region, []string{id})
	} else {
		state = aws.StateStopped
		err = f.StopInstances(ctx, region, []string{id})
	}
	if err != nil {
		return ActionResult{}, err
	}
	if err := f.WaitInstancesState(ctx, region, []string{id}, state, a.poll()); err != nil {
		return ActionResult{}, err
	}
	return ActionResult{Outputs: map[string]any{"state": state}, Summary: id + " " + state}, nil
}

func (a *Actions) ec2Start(ctx context.Context, p params) (ActionResult, error) {
	return a.ec2(ctx, p, true)
}
func (a *Actions) ec2Stop(ctx context.Context, p params) (ActionResult, error) {
	return a.ec2(ctx, p, false)
}

func (a *Actions) asgCapacity(ctx context.Context, p params) (ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	group, err := p.str("group", true)
	if err != nil {
		return ActionResult{}, err
	}
	region, err := p.str("region", true)
	if err != nil {
		return ActionResult{}, err
	}
	n, err := p.num("desired", -1)
	if err != nil || n < 0 {
		return ActionResult{}, paramError{"aws.asg_set_capacity: parameter desired must be a number of at least 0"}
	}
	defer keepAlive(ctx)()
	if err := f.SetDesiredCapacity(ctx, region, group, int32(n)); err != nil {
		return ActionResult{}, err
	}
	if err := f.WaitGroupCapacity(ctx, region, group, int32(n), a.poll()); err != nil {
		return ActionResult{}, err
	}
	return ActionResult{Outputs: map[string]any{"in_service": n}, Summary: fmt.Sprintf("%s: %d in service", group, n)}, nil
}

func probeResult(out probe.Outcome) ActionResult {
	summary := out.Detail
	if !out.OK {
		summary = out.Reason
	}
	return ActionResult{Outputs: map[string]any{"ok": out.OK, "latency_ms": out.Latency.D().Milliseconds()}, Summary: summary}
}

func (a *Actions) checkHTTP(ctx context.Context, p params) (ActionResult, error) {
	url, err := p.str("url", true)
	if err != nil {
		return ActionResult{}, err
	}
	status, err := p.num("expect_status", 0)
	if err != nil {
		return ActionResult{}, err
	}
	timeout, err := p.duration("timeout", 10*time.Second)
	if err != nil {
		return ActionResult{}, err
	}
	c := probe.Check{Kind: probe.HTTP, URL: url, Timeout: units.Duration(timeout)}
	if status != 0 {
		c.ExpectStatus = []int{int(status)}
	}
	out, err := (&probe.Prober{Secrets: a.Secrets}).Run(ctx, c)
	if errors.Is(err, probe.ErrMisconfigured) {
		return ActionResult{}, paramError{err.Error()}
	}
	if err != nil {
		return ActionResult{}, err
	}
	return probeResult(out), nil
}

func (a *Actions) checkTCP(ctx context.Context, p params) (ActionResult, error) {
	addr, err := p.str("address", true)
	if err != nil {
		return ActionResult{}, err
	}
	timeout, err := p.duration("timeout", 5*time.Second)
	if err != nil {
		return ActionResult{}, err
	}
	out, err := (&probe.Prober{}).Run(ctx, probe.Check{Kind: probe.TCP, Address: addr, Timeout: units.Duration(timeout)})
	if errors.Is(err, probe.ErrMisconfigured) {
		return ActionResult{}, paramError{err.Error()}
	}
	if err != nil {
		return ActionResult{}, err
	}
	return probeResult(out), nil
}

func (a *Actions) checkDNS(ctx context.Context, p params) (ActionResult, error) {
	name, err := p.str("name", true)
	if err != nil {
		return ActionResult{}, err
	}
	typ, err := p.str("type", false)
	if err != nil {
		return ActionResult{}, err
	}
	expect, err := p.str("expect", false)
	if err != nil {
		return ActionResult{}, err
	}
	server, err := p.str("resolver", false)
	if err != nil {
		return ActionResult{}, err
	}
	r := net.DefaultResolver
	if server != "" {
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var answer []string
	switch strings.ToUpper(typ) {
	case "", "A", "AAAA":
		ips, err := r.LookupIPAddr(ctx, name)
		if err != nil {
			return ActionResult{Outputs: map[string]any{"ok": false}, Summary: err.Error()}, nil
		}
		for _, ip := range ips {
			if (strings.ToUpper(typ) == "AAAA") == (ip.IP.To4() == nil) {
				answer = append(answer, ip.IP.String())
			}
		}
	case "CNAME":
		cname, err := r.LookupCNAME(ctx, name)
		if err != nil {
			return ActionResult{Outputs: map[string]any{"ok": false}, Summary: err.Error()}, nil
		}
		answer = []string{strings.TrimSuffix(cname, ".")}
	default:
		return ActionResult{}, paramError{fmt.Sprintf("check.dns: type %q: use A, AAAA or CNAME", typ)}
	}
	sort.Strings(answer)
	ok := len(answer) > 0
	if expect != "" {
		ok = false
		for _, v := range answer {
			ok = ok || strings.EqualFold(strings.TrimSuffix(v, "."), strings.TrimSuffix(expect, "."))
		}
	}
	summary := name + " → " + strings.Join(answer, ", ")
	if !ok && expect != "" {
		summary += ", not " + expect
	}
	return ActionResult{Outputs: map[string]any{"ok": ok, "answer": strings.Join(answer, ",")}, Summary: summary}, nil
}

func (a *Actions) execCommand(ctx context.Context, p params) (ActionResult, error) {
	name, err := p.str("command", true)
	if err != nil {
		return ActionResult{}, err
	}
	argv, ok := a.Commands[name]
	if !ok || len(argv) == 0 {
		known := make([]string, 0, len(a.Commands))
		for n := range a.Commands {
			known = append(known, n)
		}
		sort.Strings(known)
		return ActionResult{}, paramError{fmt.Sprintf("exec: %q is not in this worker's command allow-list (commands: %s)", name, strings.Join(known, ", "))}
	}
	defer keepAlive(ctx)()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out := &tailBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return ActionResult{Outputs: map[string]any{"exit_code": exitErr.ExitCode()}}, fmt.Errorf("exec %s: %w; output: %s", name, err, bytes.TrimSpace([]byte(out.String())))
	case err != nil:
		return ActionResult{}, paramError{fmt.Sprintf("exec %s: %v", name, err)}
	}
	return ActionResult{Outputs: map[string]any{"exit_code": 0}, Summary: strings.TrimSpace(out.String())}, nil
}
