package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

const changePlan = `apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: %s}
spec:
  scenario: %s
  steps:
    - {id: wait, wait: {duration: 1s}}
`

// The configuration and each plan are recorded in the audit ledger when they first appear and
// whenever they change, once however many workers or restarts see them; a secret's value changing
// is not a configuration change.
func TestConfigurationAndPlanChangesReachTheLedger(t *testing.T) {
	dir := t.TempDir()
	plans := filepath.Join(dir, "plans")
	if err := os.Mkdir(plans, 0o755); err != nil {
		t.Fatal(err)
	}
	writePlan := func(file, name, scenario string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(plans, file), []byte(fmt.Sprintf(changePlan, name, scenario)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePlan("a.yaml", "alpha", "first")
	writePlan("b.yaml", "beta", "first")

	b, err := local.New(filepath.Join(dir, "ledger"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.ParseSigningKey(audit.GenerateSigningKey())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Recovery.PlansDir = plans
	cfg.Secrets = map[string]string{"db": "postgres://one"}
	recorder := func(cfg config.Config) *changeRecorder {
		l, err := audit.New(audit.Config{Backend: b, Signer: signer})
		if err != nil {
			t.Fatal(err)
		}
		return &changeRecorder{ledger: l, cfg: cfg, logger: slog.New(slog.DiscardHandler)}
	}
	entries := func() []string {
		t.Helper()
		var out strings.Builder
		if _, err := audit.Export(context.Background(), b, "", time.Time{}, "jsonl", &out); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			for _, k := range []string{`"subject":"configuration of task queue lifeboat"`, `"subject":"plan alpha"`, `"subject":"plan beta"`, `"sha256":"removed"`, `"previous"`} {
				if strings.Contains(line, k) {
					got = append(got, k)
				}
			}
		}
		return got
	}

	first := recorder(cfg)
	if err := first.record(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := entries(); len(got) != 3 {
		t.Fatalf("first start: %v", got)
	}
	// Another worker, or a restart, with the same configuration and plans: nothing new; nor when
	// only a secret's value differs.
	same := cfg
	same.Secrets = map[string]string{"db": "postgres://rotated"}
	if err := recorder(same).record(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := entries(); len(got) != 3 {
		t.Fatalf("after a restart: %v", got)
	}
	// A changed plan, a removed plan and a changed configuration.
	writePlan("a.yaml", "alpha", "second")
	if err := os.Remove(filepath.Join(plans, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := first.record(context.Background()); err != nil {
		t.Fatal(err)
	}
	changed := cfg
	changed.Worker.MaxConcurrentActivities = 3
	if err := recorder(changed).record(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(entries(), " ")
	for _, want := range []string{`"subject":"plan alpha" "previous"`, `"subject":"plan beta" "sha256":"removed" "previous"`,
		`"subject":"configuration of task queue lifeboat" "previous"`} {
		if !strings.Contains(got, want) {
			t.Errorf("entries %s\nlack %s", got, want)
		}
	}
	if r, err := audit.Verify(context.Background(), b, "", audit.Keys(signer.PublicKey())); err != nil || !r.OK() || r.Entries != 6 {
		t.Errorf("the ledger: %+v, %v", r, err)
	}
}
