package activities

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
)

func TestAppendAudit(t *testing.T) {
	dir := t.TempDir()
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.ParseSigningKey(audit.GenerateSigningKey())
	ledger, err := audit.New(audit.Config{Backend: b, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	a := &Audit{Ledger: ledger}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	run := func(in contract.AppendAuditInput) (contract.AppendAuditResult, error) {
		t.Helper()
		v, err := env.ExecuteActivity(contract.AppendAudit, in)
		if err != nil {
			return contract.AppendAuditResult{}, err
		}
		var out contract.AppendAuditResult
		return out, v.Get(&out)
	}

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := contract.AppendAuditInput{Time: at, Kind: audit.KindDecision, Actor: "bob", Channel: audit.ChannelSlack, Verified: true,
		Subject: "promote", Details: map[string]string{"choice": "approve"}}
	first, err := run(in)
	if err != nil || first.Skipped || first.Existing || first.Seq != 1 || len(first.Hash) != 64 || !first.Time.Equal(at) {
		t.Fatalf("first append: %+v, %v", first, err)
	}
	// An event with its own ID is its own entry.
	in.ID = "recovery-orders/run/gate-dns"
	other, err := run(in)
	if err != nil || other.Existing || other.Seq != 2 {
		t.Fatalf("append with an ID: %+v, %v", other, err)
	}
	r, err := audit.Verify(context.Background(), b, "", audit.Keys(signer.PublicKey()))
	if err != nil || !r.OK() || r.Entries != 2 {
		t.Fatalf("Verify: %+v, %v", r, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "audit", "entries", "00000000000000000001.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Without a workflow of its own, the entry names the calling workflow, and its ID the activity.
	for _, want := range []string{`"workflow":"default-test-workflow-id"`, `"run":"default-test-run-id"`, `"id":"default-test-workflow-id/default-test-run-id/`, `"verified":true`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("entry 1 does not hold %s:\n%s", want, raw)
		}
	}

	// What the ledger refuses is not retried.
	if _, err := run(contract.AppendAuditInput{Kind: "Not A Word"}); errType(err) != contract.ErrTypeAuditEntryInvalid {
		t.Errorf("bad kind: %v, want a non-retryable %s", err, contract.ErrTypeAuditEntryInvalid)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit", "entries", "00000000000000000003.json"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(contract.AppendAuditInput{Kind: audit.KindStart}); errType(err) != contract.ErrTypeAuditLedgerDamaged {
		t.Errorf("damaged ledger: %v, want a non-retryable %s", err, contract.ErrTypeAuditLedgerDamaged)
	}
}

// failHeadOnce fails the first Put of the ledger's head: the entry is written, the activity fails.
type failHeadOnce struct {
	storage.Backend
	failed atomic.Bool
}

func (f *failHeadOnce) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if strings.HasSuffix(name, "head.json") && f.failed.CompareAndSwap(false, true) {
		return errors.New("connection reset by peer")
	}
	return f.Backend.Put(ctx, name, r, size)
}

// An attempt that wrote its entry and then failed is retried by Temporal: the retry finds the
// entry by the ID it derives from the activity, records nothing twice, and moves the head.
func TestAppendAuditRetriedAfterItsEntryWasWritten(t *testing.T) {
	b, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	flaky := &failHeadOnce{Backend: b}
	signer, _ := audit.ParseSigningKey(audit.GenerateSigningKey())
	ledger, err := audit.New(audit.Config{Backend: flaky, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&Audit{Ledger: ledger})
	attempts := 0
	env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) { attempts++ })
	env.ExecuteWorkflow(func(ctx workflow.Context) (contract.AppendAuditResult, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Millisecond, MaximumAttempts: 3}})
		var out contract.AppendAuditResult
		err := workflow.ExecuteActivity(ctx, contract.AppendAudit, contract.AppendAuditInput{Kind: audit.KindStart, Actor: "ann"}).Get(ctx, &out)
		return out, err
	})
	var out contract.AppendAuditResult
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	if !flaky.failed.Load() || attempts != 2 || !out.Existing || out.Seq != 1 {
		t.Fatalf("after %d attempts (head failed: %v): %+v; want the second attempt to find entry 1", attempts, flaky.failed.Load(), out)
	}
	r, err := audit.Verify(context.Background(), b, "", audit.Keys(signer.PublicKey()))
	if err != nil || !r.OK() || r.Entries != 1 || r.Head == nil || r.Head.Seq != 1 {
		t.Fatalf("Verify: %+v, %v", r, err)
	}
}

func TestAppendAuditWithoutALedgerIsSkipped(t *testing.T) {
	got, err := (&Audit{}).AppendAudit(context.Background(), contract.AppendAuditInput{Kind: audit.KindStart})
	if err != nil || !got.Skipped {
		t.Fatalf("%+v, %v", got, err)
	}
}
