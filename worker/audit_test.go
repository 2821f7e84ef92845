package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// The worker registers AppendAudit whether or not a ledger is configured: with an audit section
// it records in the ledger the section names, signed with its key; without one it records
// nothing, and the worker says so once at start.
func TestWorkerRegistersAppendAudit(t *testing.T) {
	dir := t.TempDir()
	env := config.MapEnv(map[string]string{"AUDIT_KEY": audit.GenerateSigningKey()})
	load := func(yaml string) config.Config {
		t.Helper()
		path := filepath.Join(dir, "lifeboat.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, env)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	appendAudit := func(cfg config.Config) (contract.AppendAuditResult, string) {
		t.Helper()
		var logs syncBuffer
		set, err := newActivities(context.Background(), cfg, env, nil, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		// Registered through the set, as the worker registers it.
		var s testsuite.WorkflowTestSuite
		actEnv := s.NewTestActivityEnvironment()
		set.Register(actEnv)
		v, err := actEnv.ExecuteActivity(contract.AppendAudit, contract.AppendAuditInput{
			Kind: audit.KindDecision, Actor: "bob", Channel: audit.ChannelSlack, Verified: true, Subject: "promote",
		})
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		var out contract.AppendAuditResult
		if err := v.Get(&out); err != nil {
			t.Fatal(err)
		}
		return out, logs.String()
	}

	t.Run("with a ledger", func(t *testing.T) {
		cfg := load("secrets:\n  audit-key: ${AUDIT_KEY}\naudit:\n  location: ledger\n  signing_key: audit-key\n")
		out, logs := appendAudit(cfg)
		if out.Skipped || out.Seq != 1 {
			t.Fatalf("AppendAudit: %+v", out)
		}
		keys, err := cfg.Audit.Keys(context.Background(), secrets.Static(cfg.Secrets))
		if err != nil {
			t.Fatal(err)
		}
		b, err := cfg.Audit.Backend(context.Background(), env)
		if err != nil {
			t.Fatal(err)
		}
		r, err := audit.Verify(context.Background(), b, cfg.Audit.Prefix, keys)
		if err != nil || !r.OK() || r.Entries != 1 {
			t.Fatalf("the configured ledger: %+v, %v", r, err)
		}
		if want := "audit ledger\" location=" + filepath.Join(dir, "ledger", "audit"); !strings.Contains(logs, want) || strings.Contains(logs, "is off") {
			t.Errorf("logs do not say %s:\n%s", want, logs)
		}
	})

	t.Run("without a ledger", func(t *testing.T) {
		out, logs := appendAudit(load("log: {level: info}\n"))
		if !out.Skipped || out.Seq != 0 {
			t.Fatalf("AppendAudit without a ledger: %+v", out)
		}
		if n := strings.Count(logs, "audit ledger is off"); n != 1 {
			t.Errorf("%d lines say the audit ledger is off, want 1:\n%s", n, logs)
		}
		if _, err := os.Stat(filepath.Join(dir, "audit")); !os.IsNotExist(err) {
			t.Errorf("something was recorded without a ledger: %v", err)
		}
	})
}
