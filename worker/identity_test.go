package main

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// Slack members become people through the identity directory; a member mapped to someone else in
// slack.users is refused; with the worker's key, a click's decision is signed for its person and
// verifies against the directory as the workflow resolves it.
func TestSlackDeciderMapsMembersThroughTheDirectory(t *testing.T) {
	seed, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Slack = &slack.Config{Users: map[string]string{"U0LEGACY": "legacy"}}
	cfg.Secrets = map[string]string{"identity-key": string(seed)}
	cfg.Identity = config.Identity{SigningKey: "identity-key", Directory: identity.Directory{Mode: identity.Verified,
		People: []identity.Person{{ID: "alice", Name: "Alice", Slack: "U0ALICE"}}}}

	d, scfg, err := slackDecider(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if scfg.Users["U0ALICE"] != "alice" || scfg.Users["U0LEGACY"] != "legacy" {
		t.Errorf("users %v", scfg.Users)
	}
	if d.Sign == nil {
		t.Fatal("no signer with identity.signing_key set")
	}
	run := slack.Run{WorkflowID: "recovery-x", RunID: "r1"}
	tok, err := d.Sign(run, approval.Decision{Gate: "approve", Approve: true, Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := cfg.Identity.Resolved(cfg.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	a, err := dir.Verify(tok, time.Now(), identity.Expect{Act: identity.ActDecide, Workflow: "recovery-x", Run: "r1", Gate: "approve", Approve: true})
	if err != nil || a.Person != "alice" || a.Channel != "slack" || a.Issuer != config.WorkerIssuer {
		t.Fatalf("the worker's assertion: %+v, %v", a, err)
	}
	if _, err := dir.Verify(tok, time.Now(), identity.Expect{Act: identity.ActDecide, Workflow: "recovery-x", Run: "r1", Gate: "approve", Approve: false}); err == nil {
		t.Error("an approval's assertion verified as a rejection")
	}

	cfg.Slack.Users["U0ALICE"] = "mallory"
	if _, _, err := slackDecider(cfg, nil); err == nil || !strings.Contains(err.Error(), `U0ALICE is "mallory" there but "alice" in the identity directory`) {
		t.Errorf("a member mapped to two people: %v", err)
	}

	cfg.Identity = config.Identity{}
	if d, scfg, err := slackDecider(cfg, nil); err != nil || d.Sign != nil || scfg.Users["U0ALICE"] != "mallory" {
		t.Errorf("without a directory: signer %v, users %v, %v", d.Sign != nil, scfg.Users, err)
	}
}
