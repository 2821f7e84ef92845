package config

import (
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
)

func TestEvidenceValidate(t *testing.T) {
	seed := audit.GenerateSigningKey()
	signer, _ := audit.ParseSigningKey(seed)
	pub := audit.EncodePublicKey(signer.PublicKey())
	secretValues := map[string]string{"evidence-key": seed}
	tests := []struct {
		name string
		e    Evidence
		want []string
	}{
		{"off", Evidence{}, nil},
		{"local with retention and a former key", Evidence{Location: "/srv/evidence", SigningKey: "evidence-key", VerifyKeys: []string{pub},
			Retention: evidence.Retention{Days: 400, Last: 3}}, nil},
		{"keys without a location", Evidence{SigningKey: "evidence-key"}, []string{"evidence.location: required when the other evidence keys are set"}},
		{"every problem at once", Evidence{Location: "s3://", Prefix: "../up", SigningKey: "nope", VerifyKeys: []string{"short"},
			Retention: evidence.Retention{Days: -1}}, []string{
			"evidence.retention: days and last are counts", "evidence.location:", "evidence.prefix:", `evidence.signing_key: secret "nope"`,
			"evidence.verify_keys[0]:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Validate(secretValues)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("valid, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nwant %q", err, w)
				}
			}
			if strings.Contains(err.Error(), seed) {
				t.Error("the error repeats the key")
			}
		})
	}
	keys, err := Evidence{Location: "/x", VerifyKeys: []string{pub}}.Keys(t.Context(), secrets.Static(nil))
	if err != nil || keys[signer.KeyID()] == nil {
		t.Fatalf("verify keys without the secret: %v, %v", keys, err)
	}
}

func TestDrillsValidate(t *testing.T) {
	c := Default()
	c.Recovery.Drills = []Drill{{Plan: "orders", Schedule: asset.Schedule{Cron: "0 3 * * 1"}}, {Plan: "orders", Schedule: asset.Schedule{}}}
	err := c.validateDrills()
	for _, w := range []string{"recovery.drills[1].plan: orders is drilled by an earlier entry", "recovery.drills[1].schedule: set cron or every",
		"schedules.owner is required", "recovery.plans_dir is required"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("%v\nwant %q", err, w)
		}
	}
	c.Recovery.Drills, c.Schedules.Owner, c.Recovery.PlansDir = c.Recovery.Drills[:1], "prod-eu", "/plans"
	if err := c.validateDrills(); err != nil {
		t.Fatal(err)
	}
	if got := ScheduleRequester("prod-eu"); got != "schedule:prod-eu" {
		t.Fatal(got)
	}
}
