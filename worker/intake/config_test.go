package intake

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

const exampleYAML = `
alertmanager:
  token_secret: alertmanager-token
webhook:
  secret: intake-webhook
  tolerance: 2m
quiet_period: 90m
rules:
  - name: orders-primary-down
    match: {alertname: OrdersPrimaryDown, env: prod}
    match_re: {severity: critical|page}
    plan: orders-db-failover
  - name: dc-drill
    match: {alertname: DRDrillRequested}
    plan: orders-db-failover
    mode: drill
    quiet_period: 10m
`

func TestConfigFromYAML(t *testing.T) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(exampleYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate("intake"); err != nil {
		t.Fatalf("valid configuration refused: %v", err)
	}
	rules, err := c.compile()
	if err != nil {
		t.Fatal(err)
	}
	if rules[0].Mode != "recovery" || rules[0].QuietPeriod.D() != 90*time.Minute || rules[1].QuietPeriod.D() != 10*time.Minute || c.Webhook.Tolerance.D() != 2*time.Minute {
		t.Errorf("defaults: %+v %+v", rules[0].Rule, rules[1].Rule)
	}
	refs := c.SecretRefs()
	if len(refs) != 2 || refs["alertmanager.token_secret"] != "alertmanager-token" || refs["webhook.secret"] != "intake-webhook" {
		t.Errorf("secret refs %v", refs)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"alertname": "OrdersPrimaryDown", "env": "prod", "severity": "page"}, "orders-primary-down"},
		{map[string]string{"alertname": "OrdersPrimaryDown", "env": "prod", "severity": "pager"}, ""}, // anchored
		{map[string]string{"alertname": "OrdersPrimaryDown", "env": "staging", "severity": "critical"}, ""},
		{map[string]string{"alertname": "OrdersPrimaryDown", "env": "prod"}, ""}, // a missing label is ""
		{map[string]string{"alertname": "DRDrillRequested"}, "dc-drill"},
	} {
		got := ""
		for _, m := range rules {
			if m.matches(tc.labels) {
				got = m.Name
				break
			}
		}
		if got != tc.want {
			t.Errorf("labels %v matched %q, want %q", tc.labels, got, tc.want)
		}
	}
}

// TestValidateReportsEveryProblem: one configuration with many mistakes gets one error naming each.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := Config{
		Alertmanager: AlertmanagerConfig{Username: "am:x"},
		Webhook:      WebhookConfig{Secret: "k", Tolerance: units.Duration(2 * time.Hour)},
		QuietPeriod:  units.Duration(time.Millisecond),
		Rules: []Rule{
			{Name: "Orders Down", Match: map[string]string{"alertname": "X"}, Plan: "orders"},
			{Name: "dup", Match: map[string]string{"alertname": "X"}, Plan: "orders", Mode: "rehearsal"},
			{Name: "dup", MatchRE: map[string]string{"severity": "crit(ical", "bad-label": "x"}, Plan: "orders"},
			{Name: "no-plan", Match: map[string]string{"alertname": "X"}},
			{Name: "bad-plan", Match: map[string]string{"alertname": "X"}, Plan: "Orders DB", QuietPeriod: units.Duration(40 * 24 * time.Hour)},
			{Name: "everything", Plan: "orders"},
		},
	}
	err := c.Validate("intake")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"intake.alertmanager: username and password_secret go together",
		"intake.alertmanager.username: must not contain ':'",
		"intake.webhook.tolerance: 2h0m0s is not between 1s and 1h0m0s",
		"intake.quiet_period: 1ms is not between 1s and",
		`intake.rules[0] (Orders Down).name: "Orders Down": use 1-63 lower-case letters`,
		`intake.rules[1] (dup).mode: "rehearsal" is neither recovery nor drill`,
		"intake.rules[2] (dup).name: also the name of rules[1]",
		"intake.rules[2] (dup).match_re.severity: error parsing regexp: missing closing ): `crit(ical`",
		`intake.rules[2] (dup).match_re: "bad-label" is not a label name`,
		"intake.rules[3] (no-plan).plan: required",
		`intake.rules[4] (bad-plan).plan: "Orders DB" is not a plan name`,
		"intake.rules[4] (bad-plan).quiet_period: 960h0m0s is not between 1s and",
		"intake.rules[5] (everything): no match or match_re",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestValidateEndpointsAndRules(t *testing.T) {
	rule := Rule{Name: "r", Match: map[string]string{"alertname": "X"}, Plan: "p"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"off", Config{}, ""},
		{"rules without an endpoint", Config{Rules: []Rule{rule}}, "no endpoint can receive alerts"},
		{"endpoint without rules", Config{Webhook: WebhookConfig{Secret: "k"}}, "intake.rules: none"},
		{"basic auth only", Config{Alertmanager: AlertmanagerConfig{Username: "am", PasswordSecret: "pw"}, Rules: []Rule{rule}}, ""},
	} {
		err := tc.cfg.Validate("intake")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}
