package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/catalog"
	"github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/integrations/postgres"
	"github.com/lifeboat-dr/lifeboat/integrations/probe"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

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
	// CommandEnv names the variables of the worker's environment that commands see, besides
	// PATH, HOME, LANG, LC_ALL, TZ and TMPDIR; no other reaches them (the worker's credentials stay
	// with the worker).
	CommandEnv []string
	// Poll is how often waits look again (default 5s).
	Poll   time.Duration
	Logger *slog.Logger
}

// AWSFailover returns the AWS client, creating it on first use.
type AWSFailover func(ctx context.Context) (Failover, error)

// boundAction is a declared action and the method that carries it out.
type boundAction struct {
	spec catalog.Spec
	run  func(a *Actions, ctx context.Context, with map[string]any) (contract.ActionResult, error)
}

// bind ties a declaration to its implementation, which receives the step's parameters decoded,
// checked and with their defaults.
func bind[P any](d catalog.Action[P], fn func(*Actions, context.Context, P) (contract.ActionResult, error)) boundAction {
	return boundAction{spec: d.Spec(), run: func(a *Actions, ctx context.Context, with map[string]any) (contract.ActionResult, error) {
		p, err := d.Decode(with)
		if err != nil {
			return contract.ActionResult{}, paramError{err.Error()}
		}
		return fn(a, ctx, p)
	}}
}

// actionFuncs are the actions RunAction carries out: every declared action except those the
// workflow runs itself (catalog.Child, and notify through the notification activity).
var actionFuncs = func() map[string]boundAction {
	m := map[string]boundAction{}
	for _, b := range []boundAction{
		bind(catalog.PostgresReplicationStatus, (*Actions).pgStatus),
		bind(catalog.PostgresFence, (*Actions).pgFence),
		bind(catalog.PostgresUnfence, (*Actions).pgUnfence),
		bind(catalog.PostgresPromote, (*Actions).pgPromote),
		bind(catalog.PostgresWriteProbe, (*Actions).pgWriteProbe),
		bind(catalog.PostgresSQLCheck, (*Actions).pgSQLCheck),
		bind(catalog.Route53Upsert, (*Actions).route53Upsert),
		bind(catalog.RDSPromoteReadReplica, (*Actions).rdsPromote),
		bind(catalog.RDSFailoverGlobalCluster, (*Actions).globalFailover),
		bind(catalog.EC2Start, (*Actions).ec2Start),
		bind(catalog.EC2Stop, (*Actions).ec2Stop),
		bind(catalog.ASGSetCapacity, (*Actions).asgCapacity),
		bind(catalog.CheckHTTP, (*Actions).checkHTTP),
		bind(catalog.CheckTCP, (*Actions).checkTCP),
		bind(catalog.CheckDNS, (*Actions).checkDNS),
		bind(catalog.Exec, (*Actions).execCommand),
	} {
		m[b.spec.Name] = b
	}
	return m
}()

// ActionNames lists the actions RunAction carries out.
func ActionNames() []string {
	names := make([]string, 0, len(actionFuncs))
	for n := range actionFuncs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// outputsSeen, when set (by tests), is told every action's outputs.
var outputsSeen func(action string, outputs map[string]any)

func refused(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeActionRefused, err)
}

// RunAction carries out one action. Actions are idempotent: promoting a primary, fencing a fenced
// server or upserting a record again succeeds without a second effect. A check that fails is a
// result with ok false, not an error; an error means the action could not be carried out.
func (a *Actions) RunAction(ctx context.Context, in contract.ActionInput) (contract.ActionResult, error) {
	b, ok := actionFuncs[in.Action]
	if !ok {
		return contract.ActionResult{}, refused("step %s: unknown action %q (known: %s)", in.Step, in.Action, strings.Join(ActionNames(), ", "))
	}
	// Every action may run as an activity that must heartbeat, however short its class.
	defer keepAlive(ctx)()
	res, err := b.run(a, ctx, in.Params)
	if outputsSeen != nil {
		outputsSeen(in.Action, res.Outputs)
	}
	for k := range res.Outputs {
		if _, declared := b.spec.Output(k); !declared {
			// Conditions can only test declared outputs; one that is not is a mistake here.
			a.logger().Error("action produced an output it does not declare; dropped", "action", in.Action, "output", k)
			delete(res.Outputs, k)
		}
	}
	if err != nil {
		var p paramError
		if errors.As(err, &p) {
			return res, refused("step %s: %v", in.Step, err)
		}
		if aws.IsPermanent(err) {
			return res, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeActionRefused, err)
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

type paramError struct{ msg string }

func (e paramError) Error() string { return e.msg }

func (a *Actions) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// dsn resolves a dsn_secret parameter.
func (a *Actions) dsn(ctx context.Context, name catalog.SecretName) (string, error) {
	v, err := a.Secrets.Secret(ctx, string(name))
	if err != nil {
		return "", paramError{fmt.Sprintf("dsn_secret: %v", err)}
	}
	return v, nil
}

func (a *Actions) pgStatus(ctx context.Context, p catalog.DSN) (contract.ActionResult, error) {
	dsn, err := a.dsn(ctx, p.DSNSecret)
	if err != nil {
		return contract.ActionResult{}, err
	}
	st, err := postgres.ReplicationStatus(ctx, dsn)
	if errors.Is(err, postgres.ErrUnreachable) {
		// Unreachable is what a failover plan looks for: an outcome, not a failed step.
		return contract.ActionResult{Outputs: map[string]any{"role": "unreachable", "reachable": false}, Summary: err.Error()}, nil
	}
	if err != nil {
		return contract.ActionResult{}, err
	}
	return contract.ActionResult{
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

func (a *Actions) pgFence(ctx context.Context, p catalog.DSN) (contract.ActionResult, error) {
	dsn, err := a.dsn(ctx, p.DSNSecret)
	if err != nil {
		return contract.ActionResult{}, err
	}
	res, err := postgres.Fence(ctx, dsn)
	if errors.Is(err, postgres.ErrUnreachable) {
		// A server that cannot be reached takes no writes either; the step says so.
		return contract.ActionResult{Outputs: map[string]any{"fenced": true, "reachable": false}, Summary: "unreachable, so taking no writes: " + err.Error()}, nil
	}
	if err != nil {
		return contract.ActionResult{}, err
	}
	return contract.ActionResult{Outputs: map[string]any{"fenced": true, "reachable": true, "sessions_terminated": len(res.Terminated)},
		Summary: fmt.Sprintf("read-only, %d sessions ended", len(res.Terminated))}, nil
}

func (a *Actions) pgUnfence(ctx context.Context, p catalog.DSN) (contract.ActionResult, error) {
	dsn, err := a.dsn(ctx, p.DSNSecret)
	if err != nil {
		return contract.ActionResult{}, err
	}
	if err := postgres.Unfence(ctx, dsn); err != nil {
		return contract.ActionResult{}, err
	}
	return contract.ActionResult{Outputs: map[string]any{"fenced": false}, Summary: "takes writes again"}, nil
}

func (a *Actions) pgPromote(ctx context.Context, p catalog.PromoteParams) (contract.ActionResult, error) {
	dsn, err := a.dsn(ctx, p.DSNSecret)
	if err != nil {
		return contract.ActionResult{}, err
	}
	res, err := postgres.Promote(ctx, dsn, p.Wait)
	if err != nil {
		return contract.ActionResult{}, err
	}
	summary := fmt.Sprintf("promoted in %s, timeline %d", units.Duration(res.Duration).Human(), res.Timeline)
	if res.AlreadyPrimary {
		summary = fmt.Sprintf("already primary, timeline %d", res.Timeline)
	}
	out := map[string]any{"promoted": true, "timeline": res.Timeline, "lsn": res.LSN, "promote_ms": res.Duration.Milliseconds()}
	if !res.RecoveryPoint.IsZero() {
		out[contract.OutputRecoveryPoint] = res.RecoveryPoint.Format(time.RFC3339Nano)
		summary += ", newest data from " + res.RecoveryPoint.Format(time.RFC3339)
	}
	return contract.ActionResult{Outputs: out, Summary: summary}, nil
}

func (a *Actions) pgWriteProbe(ctx context.Context, p catalog.DSN) (contract.ActionResult, error) {
	dsn, err := a.dsn(ctx, p.DSNSecret)
	if err != nil {
		return contract.ActionResult{}, err
	}
	res, err := postgres.WriteProbe(ctx, dsn, postgres.ProbeOptions{})
	if errors.Is(err, postgres.ErrReadOnly) || errors.Is(err, postgres.ErrUnreachable) {
		return contract.ActionResult{Outputs: map[string]any{"ok": false}, Summary: err.Error()}, nil
	}
	if err != nil {
		return contract.ActionResult{}, err
	}
	return contract.ActionResult{Outputs: map[string]any{"ok": true, "latency_ms": res.Latency.Milliseconds()},
		Summary: "write and read back in " + units.Duration(res.Latency).Human()}, nil
}

func (a *Actions) pgSQLCheck(ctx context.Context, p catalog.SQLCheckParams) (contract.ActionResult, error) {
	dsn, err := a.dsn(ctx, p.DSNSecret)
	if err != nil {
		return contract.ActionResult{}, err
	}
	results, err := postgres.Tools{}.Check(ctx, dsn, []postgres.SQLCheck{{Name: "check", Query: p.Query, Expect: p.Expect}})
	if len(results) == 1 {
		r := results[0]
		summary := "value " + r.Value
		if !r.Passed {
			summary = r.Error
		}
		return contract.ActionResult{Outputs: map[string]any{"ok": r.Passed, "value": r.Value}, Summary: summary}, nil
	}
	return contract.ActionResult{}, err
}

func (a *Actions) aws(ctx context.Context) (Failover, error) {
	if a.AWS == nil {
		return nil, paramError{"this worker has no AWS access configured (aws: in its configuration)"}
	}
	return a.AWS(ctx)
}

func (a *Actions) route53Upsert(ctx context.Context, p catalog.Route53Params) (contract.ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return contract.ActionResult{}, err
	}
	defer keepAlive(ctx)()
	id, err := f.UpsertRecord(ctx, p.ZoneID, aws.Record{Name: p.Record, Type: p.Type, TTL: p.TTL, Values: []string{p.Value}})
	if err != nil {
		return contract.ActionResult{}, err
	}
	if err := f.WaitChange(ctx, id, a.poll()); err != nil {
		return contract.ActionResult{}, err
	}
	return contract.ActionResult{Outputs: map[string]any{"change_id": id}, Summary: fmt.Sprintf("%s %s → %s, in sync", p.Record, p.Type, p.Value)}, nil
}

func (a *Actions) rdsPromote(ctx context.Context, p catalog.RDSInstanceParams) (contract.ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return contract.ActionResult{}, err
	}
	id, region := p.Instance, p.Region
	defer keepAlive(ctx)()
	already, err := f.PromoteReadReplica(ctx, region, id)
	if err != nil {
		return contract.ActionResult{}, err
	}
	inst, err := f.WaitInstanceAvailable(ctx, region, id, a.poll())
	if err != nil {
		return contract.ActionResult{}, err
	}
	summary := "promoted, available at " + inst.Address
	if already {
		summary = "already standalone, available at " + inst.Address
	}
	return contract.ActionResult{Outputs: map[string]any{"endpoint": fmt.Sprintf("%s:%d", inst.Address, inst.Port)}, Summary: summary}, nil
}

func (a *Actions) globalFailover(ctx context.Context, p catalog.GlobalClusterParams) (contract.ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return contract.ActionResult{}, err
	}
	global, target := p.GlobalCluster, p.TargetClusterARN
	defer keepAlive(ctx)()
	if p.AllowDataLoss {
		err = f.FailoverGlobalCluster(ctx, global, target)
	} else {
		err = f.SwitchoverGlobalCluster(ctx, global, target)
	}
	if err != nil {
		return contract.ActionResult{}, err
	}
	gc, err := f.WaitGlobalClusterAvailable(ctx, global, target, a.poll())
	if err != nil {
		return contract.ActionResult{}, err
	}
	return contract.ActionResult{Outputs: map[string]any{"writer_cluster_arn": gc.Writer}, Summary: "writer is now " + gc.Writer}, nil
}

func (a *Actions) ec2(ctx context.Context, p catalog.EC2Params, start bool) (contract.ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return contract.ActionResult{}, err
	}
	id, region := p.InstanceID, p.Region
	defer keepAlive(ctx)()
	state := aws.StateRunning
	if start {
		err = f.StartInstances(ctx, region, []string{id})
	} else {
		state = aws.StateStopped
		err = f.StopInstances(ctx, region, []string{id})
	}
	if err != nil {
		return contract.ActionResult{}, err
	}
	if err := f.WaitInstancesState(ctx, region, []string{id}, state, a.poll()); err != nil {
		return contract.ActionResult{}, err
	}
	return contract.ActionResult{Outputs: map[string]any{"state": state}, Summary: id + " " + state}, nil
}

func (a *Actions) ec2Start(ctx context.Context, p catalog.EC2Params) (contract.ActionResult, error) {
	return a.ec2(ctx, p, true)
}
func (a *Actions) ec2Stop(ctx context.Context, p catalog.EC2Params) (contract.ActionResult, error) {
	return a.ec2(ctx, p, false)
}

func (a *Actions) asgCapacity(ctx context.Context, p catalog.ASGParams) (contract.ActionResult, error) {
	f, err := a.aws(ctx)
	if err != nil {
		return contract.ActionResult{}, err
	}
	group, region, n := p.Group, p.Region, p.Desired
	defer keepAlive(ctx)()
	if err := f.SetDesiredCapacity(ctx, region, group, int32(n)); err != nil {
		return contract.ActionResult{}, err
	}
	if err := f.WaitGroupCapacity(ctx, region, group, int32(n), a.poll()); err != nil {
		return contract.ActionResult{}, err
	}
	return contract.ActionResult{Outputs: map[string]any{"in_service": n}, Summary: fmt.Sprintf("%s: %d in service", group, n)}, nil
}

func probeResult(out probe.Outcome) contract.ActionResult {
	summary := out.Detail
	if !out.OK {
		summary = out.Reason
	}
	res := contract.ActionResult{Outputs: map[string]any{"ok": out.OK, "latency_ms": out.Latency.D().Milliseconds()}, Summary: summary}
	if out.Status != 0 {
		res.Outputs["status"] = out.Status
	}
	return res
}

func (a *Actions) checkHTTP(ctx context.Context, p catalog.HTTPCheckParams) (contract.ActionResult, error) {
	c := probe.Check{Kind: probe.HTTP, URL: p.URL, Timeout: units.Duration(p.Timeout)}
	if p.ExpectStatus != 0 {
		c.ExpectStatus = []int{int(p.ExpectStatus)}
	}
	out, err := (&probe.Prober{Secrets: a.Secrets}).Run(ctx, c)
	if errors.Is(err, probe.ErrMisconfigured) {
		return contract.ActionResult{}, paramError{err.Error()}
	}
	if err != nil {
		return contract.ActionResult{}, err
	}
	return probeResult(out), nil
}

func (a *Actions) checkTCP(ctx context.Context, p catalog.TCPCheckParams) (contract.ActionResult, error) {
	out, err := (&probe.Prober{}).Run(ctx, probe.Check{Kind: probe.TCP, Address: p.Address, Timeout: units.Duration(p.Timeout)})
	if errors.Is(err, probe.ErrMisconfigured) {
		return contract.ActionResult{}, paramError{err.Error()}
	}
	if err != nil {
		return contract.ActionResult{}, err
	}
	return probeResult(out), nil
}

func (a *Actions) checkDNS(ctx context.Context, p catalog.DNSCheckParams) (contract.ActionResult, error) {
	name, typ, expect, server := p.Name, p.Type, p.Expect, p.Resolver
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
	switch typ {
	case "A", "AAAA":
		ips, err := r.LookupIPAddr(ctx, name)
		if err != nil {
			return contract.ActionResult{Outputs: map[string]any{"ok": false}, Summary: err.Error()}, nil
		}
		for _, ip := range ips {
			if (typ == "AAAA") == (ip.IP.To4() == nil) {
				answer = append(answer, ip.IP.String())
			}
		}
	case "CNAME":
		cname, err := r.LookupCNAME(ctx, name)
		if err != nil {
			return contract.ActionResult{Outputs: map[string]any{"ok": false}, Summary: err.Error()}, nil
		}
		answer = []string{strings.TrimSuffix(cname, ".")}
	default:
		return contract.ActionResult{}, paramError{fmt.Sprintf("check.dns: type %q: use A, AAAA or CNAME", typ)}
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
	return contract.ActionResult{Outputs: map[string]any{"ok": ok, "answer": strings.Join(answer, ",")}, Summary: summary}, nil
}

func (a *Actions) execCommand(ctx context.Context, p catalog.ExecParams) (contract.ActionResult, error) {
	name := p.Command
	argv, ok := a.Commands[name]
	if !ok || len(argv) == 0 {
		known := make([]string, 0, len(a.Commands))
		for n := range a.Commands {
			known = append(known, n)
		}
		sort.Strings(known)
		return contract.ActionResult{}, paramError{fmt.Sprintf("exec: %q is not in this worker's command allow-list (commands: %s)", name, strings.Join(known, ", "))}
	}
	defer keepAlive(ctx)()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = a.commandEnv()
	out := &tailBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	stopGroup(cmd, 5*time.Second)
	err := cmd.Run()
	// Only the output's end reaches the workflow's history, and no secret value in it.
	output := strings.TrimSpace(out.String())
	if r, ok := a.Secrets.(secrets.Redactor); ok {
		output = r.Redact(ctx, output)
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil && err != nil:
		return contract.ActionResult{}, fmt.Errorf("exec %s: stopped (%w) and its processes killed; output: %s", name, ctx.Err(), output)
	case errors.As(err, &exitErr):
		return contract.ActionResult{Outputs: map[string]any{"exit_code": exitErr.ExitCode()}}, fmt.Errorf("exec %s: %w; output: %s", name, err, output)
	case err != nil:
		return contract.ActionResult{}, paramError{fmt.Sprintf("exec %s: %v", name, err)}
	}
	return contract.ActionResult{Outputs: map[string]any{"exit_code": 0}, Summary: output}, nil
}

// commandEnvAlways are the variables every command sees, when the worker has them.
var commandEnvAlways = []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// commandEnv is the environment of an allow-listed command: the worker's variables named in
// commandEnvAlways and CommandEnv, and no other.
func (a *Actions) commandEnv() []string {
	env := []string{}
	for _, name := range append(slices.Clone(commandEnvAlways), a.CommandEnv...) {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}
