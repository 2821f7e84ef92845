package plan

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// ParamType is the type of an action's parameter.
type ParamType string

// The parameter types.
const (
	ParamString   ParamType = "string"
	ParamInt      ParamType = "int"
	ParamBool     ParamType = "bool"
	ParamDuration ParamType = "duration" // a string such as "30s"
	ParamSecret   ParamType = "secret"   // the name of a worker secret, never its value
)

// ParamSpec describes one parameter of an action.
type ParamSpec struct {
	Type     ParamType `json:"type"`
	Required bool      `json:"required,omitempty"`
	Doc      string    `json:"doc,omitempty"`
}

// ActionSpec describes an action the worker can run: the parameters a step gives it in with:, and the
// outputs later steps' conditions can test.
type ActionSpec struct {
	Name    string               `json:"name"`
	Doc     string               `json:"doc,omitempty"`
	Params  map[string]ParamSpec `json:"params"`
	Outputs []string             `json:"outputs,omitempty"`
}

var secretNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidateWith validates the plan (as Validate does) and checks it against the actions the worker
// offers: every action step's and compensation's action exists, its with: parameters are known, of
// the right type and the required ones present, and conditions test only outputs the action
// declares. The error is Problems.
func ValidateWith(p *Plan, actions map[string]ActionSpec) error {
	var problems Problems
	if err := p.Validate(); err != nil {
		problems = append(problems, err.(Problems)...)
	}
	bad := func(path, format string, args ...any) {
		problems = append(problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	checkCall := func(path, name string, with map[string]any) {
		spec, ok := actions[name]
		if !ok {
			bad(path+".action", "unknown action %q", name)
			return
		}
		for _, k := range sortedKeys(with) {
			ps, ok := spec.Params[k]
			if !ok {
				bad(path+".with."+k, "%s has no parameter %q (it has %s)", name, k, listOrNone(sortedKeys(spec.Params)))
				continue
			}
			if msg := checkParam(ps.Type, with[k]); msg != "" {
				bad(path+".with."+k, "%s", msg)
			}
		}
		for _, k := range sortedKeys(spec.Params) {
			if _, set := with[k]; spec.Params[k].Required && !set {
				bad(path+".with."+k, "required by %s", name)
			}
		}
	}
	index := make(map[string]int, len(p.Spec.Steps))
	for i, s := range p.Spec.Steps {
		if _, dup := index[s.ID]; !dup {
			index[s.ID] = i
		}
	}
	for i, s := range p.Spec.Steps {
		path := stepPath(i, s)
		if s.EffectiveType() == TypeAction && s.Action != "" {
			checkCall(path, s.Action, s.With)
		}
		if c := s.Compensate; c != nil && c.Action != "" {
			checkCall(path+".compensate", c.Action, c.With)
		}
		if d := s.Drill; d != nil && s.EffectiveType() == TypeAction {
			checkDrill(path+".drill.with", s, d.With, actions, bad)
		}
		e, err := s.Condition()
		if err != nil || e == nil {
			continue
		}
		for _, r := range e.refCols() {
			if r.ref.Field != FieldOutputs {
				continue
			}
			j, ok := index[r.ref.Step]
			if !ok || p.Spec.Steps[j].EffectiveType() != TypeAction {
				continue
			}
			target := p.Spec.Steps[j]
			spec, ok := actions[target.Action]
			if ok && !contains(spec.Outputs, r.ref.Key) {
				bad(path+".when", "column %d: %s: %s has no output %q (it has %s)", r.col, r.ref, target.Action, r.ref.Key, listOrNone(spec.Outputs))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	problems.sort()
	return problems
}

// checkDrill checks a step's drill parameters: each one replaces a parameter of the step's action or
// of its compensation, of the same type.
func checkDrill(path string, s Step, with map[string]any, actions map[string]ActionSpec, bad func(path, format string, args ...any)) {
	calls := []string{s.Action}
	if s.Compensate != nil {
		calls = append(calls, s.Compensate.Action)
	}
	for _, k := range sortedKeys(with) {
		found := false
		for _, name := range calls {
			ps, ok := actions[name].Params[k]
			if !ok {
				continue
			}
			found = true
			if msg := checkParam(ps.Type, with[k]); msg != "" {
				bad(path+"."+k, "%s", msg)
				break
			}
		}
		if !found {
			bad(path+"."+k, "neither %s nor its compensation has a parameter %q", s.Action, k)
		}
	}
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// checkParam returns what is wrong with a parameter's value, as YAML decodes it, or "".
func checkParam(t ParamType, v any) string {
	switch t {
	case ParamString:
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("want a string, not %s (quote it)", describeValue(v))
		}
	case ParamInt:
		switch v.(type) {
		case int, int64, uint64:
		default:
			return fmt.Sprintf("want a whole number, not %s", describeValue(v))
		}
	case ParamBool:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("want true or false, not %s", describeValue(v))
		}
	case ParamDuration:
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("want a duration such as \"30s\", not %s", describeValue(v))
		}
		var d units.Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return err.Error()
		}
	case ParamSecret:
		s, ok := v.(string)
		if !ok || !secretNamePattern.MatchString(s) {
			return fmt.Sprintf("want the name of a worker secret, not %s: plans name secrets, never hold their values", describeValue(v))
		}
	default:
		return fmt.Sprintf("the action declares an unknown parameter type %q", t)
	}
	return ""
}

func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		if len(v) > 40 {
			return "a longer string"
		}
		return fmt.Sprintf("%q", v)
	case bool, int, int64, uint64, float64:
		return fmt.Sprintf("%v", v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}

// DefaultActions describes the actions lifeboat-worker offers.
func DefaultActions() map[string]ActionSpec {
	str := func(doc string) ParamSpec { return ParamSpec{Type: ParamString, Doc: doc} }
	req := func(ps ParamSpec) ParamSpec { ps.Required = true; return ps }
	secret := func(doc string) ParamSpec { return ParamSpec{Type: ParamSecret, Required: true, Doc: doc} }
	integer := func(doc string) ParamSpec { return ParamSpec{Type: ParamInt, Doc: doc} }
	boolean := func(doc string) ParamSpec { return ParamSpec{Type: ParamBool, Doc: doc} }
	duration := func(doc string) ParamSpec { return ParamSpec{Type: ParamDuration, Doc: doc} }
	dsn := secret("worker secret holding the PostgreSQL DSN")
	region := req(str("AWS region"))
	list := []ActionSpec{
		{Name: "postgres.replication_status", Doc: "Report a PostgreSQL server's role and replication lag.",
			Params:  map[string]ParamSpec{"dsn_secret": dsn},
			Outputs: []string{"role", "lag_seconds", "lag_bytes", "reachable"}},
		{Name: "postgres.fence", Doc: "Stop a PostgreSQL server from accepting writes (default_transaction_read_only, terminate writers).",
			Params:  map[string]ParamSpec{"dsn_secret": dsn},
			Outputs: []string{"fenced", "reachable", "sessions_terminated"}},
		{Name: "postgres.unfence", Doc: "Let a fenced PostgreSQL server accept writes again (the compensation of postgres.fence).",
			Params:  map[string]ParamSpec{"dsn_secret": dsn},
			Outputs: []string{"fenced"}},
		{Name: "postgres.promote", Doc: "Promote a PostgreSQL standby to primary and wait until it accepts writes.",
			Params:  map[string]ParamSpec{"dsn_secret": dsn, "wait": duration("how long to wait for the promotion (default 60s)")},
			Outputs: []string{"promoted", "timeline", "lsn", "promote_ms", "recovery_point"}},
		{Name: "postgres.write_probe", Doc: "Write and read back a row, proving the server takes writes.",
			Params:  map[string]ParamSpec{"dsn_secret": dsn},
			Outputs: []string{"ok", "latency_ms"}},
		{Name: "postgres.sql_check", Doc: "Run a read-only query returning one value and compare it with expect.",
			Params: map[string]ParamSpec{"dsn_secret": dsn, "query": req(str("query returning a single value")),
				"expect": str("expected value; without it the check passes when the query succeeds")},
			Outputs: []string{"ok", "value"}},
		{Name: "aws.route53_upsert", Doc: "Create or update a Route 53 record and wait until the change is in sync.",
			Params: map[string]ParamSpec{"zone_id": req(str("hosted zone ID")), "record": req(str("record name")),
				"type": str("record type (default CNAME)"), "value": req(str("record value")), "ttl": integer("TTL in seconds (default 60)")},
			Outputs: []string{"change_id"}},
		{Name: "aws.rds_promote_read_replica", Doc: "Promote an RDS read replica to a standalone instance.",
			Params:  map[string]ParamSpec{"instance": req(str("read replica instance identifier")), "region": region},
			Outputs: []string{"endpoint"}},
		{Name: "aws.rds_failover_global_cluster", Doc: "Fail an Aurora global database over to another region's cluster.",
			Params: map[string]ParamSpec{"global_cluster": req(str("global cluster identifier")),
				"target_cluster_arn": req(str("ARN of the secondary cluster to promote")), "region": region,
				"allow_data_loss": boolean("switch over even if the secondary lags (a failover rather than a switchover)")},
			Outputs: []string{"writer_cluster_arn"}},
		{Name: "aws.ec2_start", Doc: "Start an EC2 instance and wait until it runs.",
			Params:  map[string]ParamSpec{"instance_id": req(str("instance ID (i-…)")), "region": region},
			Outputs: []string{"state"}},
		{Name: "aws.ec2_stop", Doc: "Stop an EC2 instance and wait until it has stopped.",
			Params:  map[string]ParamSpec{"instance_id": req(str("instance ID (i-…)")), "region": region},
			Outputs: []string{"state"}},
		{Name: "aws.asg_set_capacity", Doc: "Set an Auto Scaling group's capacity and wait until the instances are in service.",
			Params: map[string]ParamSpec{"group": req(str("Auto Scaling group name")), "region": region,
				"desired": req(integer("desired capacity within the group's minimum and maximum"))},
			Outputs: []string{"in_service"}},
		{Name: "check.http", Doc: "Request a URL and check the status code.",
			Params: map[string]ParamSpec{"url": req(str("URL to request")), "expect_status": integer("expected status (default any 2xx)"),
				"timeout": duration("request timeout (default 10s)")},
			Outputs: []string{"ok", "status", "latency_ms"}},
		{Name: "check.tcp", Doc: "Open a TCP connection.",
			Params:  map[string]ParamSpec{"address": req(str("host:port")), "timeout": duration("connect timeout (default 5s)")},
			Outputs: []string{"ok", "latency_ms"}},
		{Name: "check.dns", Doc: "Resolve a name and optionally compare the answer.",
			Params: map[string]ParamSpec{"name": req(str("name to resolve")), "type": str("record type (default A)"),
				"expect": str("a value the answer must contain"), "resolver": str("resolver host:port (default the system's)")},
			Outputs: []string{"ok", "answer"}},
		{Name: "restore.asset", Doc: "Restore a snapshot of a protected asset.",
			Params: map[string]ParamSpec{"asset": req(str("asset name")), "snapshot": str("snapshot ID or latest (default latest)"),
				"target_dir": str("directory to restore files into"), "database": str("database to restore a PostgreSQL asset into"),
				"in_place": boolean("restore over the asset's own source")},
			Outputs: []string{"snapshot", "target_dir", "database", "recovery_point"}},
		{Name: "exec", Doc: "Run a command from the worker's allow-list; plans name the command, never its arguments.",
			Params:  map[string]ParamSpec{"command": req(str("name of a command in the worker's allow-list"))},
			Outputs: []string{"exit_code"}},
		{Name: "notify", Doc: "Send a message through the worker's notification routes.",
			Params:  map[string]ParamSpec{"message": req(str("the message")), "route": str("notification route (default all)")},
			Outputs: []string{"delivered"}},
	}
	out := make(map[string]ActionSpec, len(list))
	for _, a := range list {
		out[a.Name] = a
	}
	return out
}
