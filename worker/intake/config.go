package intake

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Config is the worker configuration's intake section. Intake is off until an endpoint has
// credentials; an endpoint without them is never served.
type Config struct {
	// Alertmanager authenticates Prometheus Alertmanager at POST /alerts/alertmanager.
	Alertmanager AlertmanagerConfig `yaml:"alertmanager"`
	// Webhook authenticates the generic signed webhook at POST /alerts/webhook.
	Webhook WebhookConfig `yaml:"webhook"`
	// QuietPeriod is how long an alert must stay resolved before its Alert workflow completes,
	// for rules that do not say (default 1h). A new firing after that starts a new recovery.
	QuietPeriod units.Duration `yaml:"quiet_period"`
	// Rules decide which alerts start which plan. The first rule that matches an alert wins; an
	// alert no rule matches is logged and counted, and starts nothing.
	Rules []Rule `yaml:"rules"`
}

// AlertmanagerConfig says how Alertmanager authenticates: with a bearer token (its receiver's
// http_config.authorization), with basic auth (http_config.basic_auth), or either.
type AlertmanagerConfig struct {
	// TokenSecret names the worker secret holding the bearer token.
	TokenSecret string `yaml:"token_secret"`
	// Username and PasswordSecret (the name of the worker secret holding the password) are the
	// basic-auth credentials.
	Username       string `yaml:"username"`
	PasswordSecret string `yaml:"password_secret"`
}

// Enabled reports whether the Alertmanager endpoint has credentials, and so is served.
func (c AlertmanagerConfig) Enabled() bool { return c.TokenSecret != "" || c.PasswordSecret != "" }

// WebhookConfig configures the generic webhook, signed the way Lifeboat signs its own webhooks:
// X-Lifeboat-Timestamp and X-Lifeboat-Signature, an HMAC-SHA256 of "timestamp.body".
type WebhookConfig struct {
	// Secret names the worker secret holding the signing key.
	Secret string `yaml:"secret"`
	// Tolerance is how far the timestamp may be from the worker's clock (default 5m, at most 1h).
	// A request seen once is refused for as long as its timestamp is within it.
	Tolerance units.Duration `yaml:"tolerance"`
}

// Enabled reports whether the webhook has a secret, and so is served.
func (c WebhookConfig) Enabled() bool { return c.Secret != "" }

// Rule maps alerts to a recovery plan.
type Rule struct {
	// Name identifies the rule: in workflow IDs (alert-NAME-FINGERPRINT) and as the recovery's
	// requester (alert:NAME). 1-63 lower-case letters, digits and '-'.
	Name string `yaml:"name"`
	// Match lists labels the alert must have, with these exact values.
	Match map[string]string `yaml:"match"`
	// MatchRE lists labels whose value must match these regular expressions (RE2, anchored at both
	// ends, as in Alertmanager's routes). A label the alert lacks matches as "".
	MatchRE map[string]string `yaml:"match_re"`
	// Plan is the recovery plan to run, by its metadata.name.
	Plan string `yaml:"plan"`
	// Mode is recovery (default) or drill.
	Mode string `yaml:"mode"`
	// QuietPeriod overrides the section's quiet_period for this rule.
	QuietPeriod units.Duration `yaml:"quiet_period"`
}

// Limits of the configuration.
const (
	MaxQuietPeriod = 30 * 24 * time.Hour
	MaxTolerance   = time.Hour
)

var (
	ruleNamePattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	planPattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	labelNamePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Enabled reports whether any endpoint is served.
func (c Config) Enabled() bool { return c.Alertmanager.Enabled() || c.Webhook.Enabled() }

// SecretRefs returns the worker secrets the section names, by field ("alertmanager.token_secret"),
// so that the configuration can check they exist.
func (c Config) SecretRefs() map[string]string {
	refs := map[string]string{}
	for field, name := range map[string]string{
		"alertmanager.token_secret":    c.Alertmanager.TokenSecret,
		"alertmanager.password_secret": c.Alertmanager.PasswordSecret,
		"webhook.secret":               c.Webhook.Secret,
	} {
		if name != "" {
			refs[field] = name
		}
	}
	return refs
}

// Validate returns every problem with the section, each prefixed with path ("intake.rules[1]
// (orders-down).plan: …" for path "intake"), joined, or nil. A section with neither credentials nor
// rules is valid: intake is off.
func (c Config) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if !c.Enabled() {
		if len(c.Rules) > 0 {
			errs = append(errs, fmt.Errorf("%s: rules are set but no endpoint can receive alerts: set alertmanager.token_secret, alertmanager.username and password_secret, or webhook.secret", path))
		}
	} else if len(c.Rules) == 0 {
		bad("rules", "none: alerts would be received but could never start a plan")
	}
	am := c.Alertmanager
	if (am.Username == "") != (am.PasswordSecret == "") {
		bad("alertmanager", "username and password_secret go together")
	}
	if strings.Contains(am.Username, ":") {
		bad("alertmanager.username", "must not contain ':'")
	}
	if tol := c.Webhook.Tolerance.D(); tol < 0 || tol > MaxTolerance {
		bad("webhook.tolerance", "%s is not between 1s and %s (0 means 5m)", c.Webhook.Tolerance, MaxTolerance)
	} else if tol > 0 && tol < time.Second {
		bad("webhook.tolerance", "%s is less than 1s", c.Webhook.Tolerance)
	}
	checkQuiet := func(field string, d units.Duration) {
		if d != 0 && (d.D() < time.Second || d.D() > MaxQuietPeriod) {
			bad(field, "%s is not between 1s and %s (0 means the default)", d, units.Duration(MaxQuietPeriod).Human())
		}
	}
	checkQuiet("quiet_period", c.QuietPeriod)
	seen := map[string]int{}
	for i, r := range c.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		if r.Name != "" {
			p += " (" + r.Name + ")"
		}
		if !ruleNamePattern.MatchString(r.Name) {
			bad(p+".name", "%q: use 1-63 lower-case letters, digits and '-', starting with a letter or digit", r.Name)
		} else if j, dup := seen[r.Name]; dup {
			bad(p+".name", "also the name of rules[%d]", j)
		} else {
			seen[r.Name] = i
		}
		switch {
		case r.Plan == "":
			bad(p+".plan", "required: name the recovery plan to run")
		case !planPattern.MatchString(r.Plan):
			bad(p+".plan", "%q is not a plan name: use 1-63 lower-case letters, digits and '-'", r.Plan)
		}
		if r.Mode != "" && r.Mode != workflows.ModeRecovery && r.Mode != workflows.ModeDrill {
			bad(p+".mode", "%q is neither recovery nor drill", r.Mode)
		}
		checkQuiet(p+".quiet_period", r.QuietPeriod)
		if len(r.Match) == 0 && len(r.MatchRE) == 0 {
			bad(p, "no match or match_re: a rule must say which alerts it takes")
		}
		for _, name := range slices.Sorted(maps.Keys(r.Match)) {
			if !labelNamePattern.MatchString(name) {
				bad(p+".match", "%q is not a label name", name)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(r.MatchRE)) {
			if !labelNamePattern.MatchString(name) {
				bad(p+".match_re", "%q is not a label name", name)
			}
			if _, err := compileAnchored(r.MatchRE[name]); err != nil {
				bad(p+".match_re."+name, "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// compileAnchored compiles a label regular expression that must match the whole value.
func compileAnchored(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		// Report the expression as written, not the anchored one.
		if _, plain := regexp.Compile(expr); plain != nil {
			return nil, plain
		}
		return nil, err
	}
	return re, nil
}

// matcher is a compiled rule.
type matcher struct {
	Rule
	re map[string]*regexp.Regexp
}

// matches reports whether the labels satisfy every matcher of the rule.
func (m *matcher) matches(labels map[string]string) bool {
	for name, want := range m.Match {
		if labels[name] != want {
			return false
		}
	}
	for name, re := range m.re {
		if !re.MatchString(labels[name]) {
			return false
		}
	}
	return true
}

// compile validates the section and compiles its rules, in order.
func (c Config) compile() ([]*matcher, error) {
	if err := c.Validate("intake"); err != nil {
		return nil, err
	}
	out := make([]*matcher, 0, len(c.Rules))
	for _, r := range c.Rules {
		m := &matcher{Rule: r, re: map[string]*regexp.Regexp{}}
		if m.Mode == "" {
			m.Mode = workflows.ModeRecovery
		}
		if m.QuietPeriod == 0 {
			m.QuietPeriod = units.Duration(c.QuietPeriod.Or(workflows.DefaultAlertQuietPeriod))
		}
		for name, expr := range r.MatchRE {
			re, err := compileAnchored(expr)
			if err != nil {
				return nil, err // Validate reported it already
			}
			m.re[name] = re
		}
		out = append(out, m)
	}
	return out, nil
}

// Targets are the plan and mode each rule starts, by rule name: what the Alert workflow accepts.
func (c Config) Targets() map[string]contract.AlertRule {
	out := make(map[string]contract.AlertRule, len(c.Rules))
	for _, r := range c.Rules {
		out[r.Name] = contract.AlertRule{Plan: r.Plan, Mode: r.Mode}
	}
	return out
}
