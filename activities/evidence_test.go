package activities

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
)

// failingCreate fails every Create with err.
type failingCreate struct {
	storage.Backend
	err error
}

func (f failingCreate) Create(context.Context, string, io.Reader, int64) error { return f.err }

// WriteEvidence writes once however often it is retried, refuses without retrying what retrying
// cannot fix, retries storage errors, and writes nothing without a store.
func TestWriteEvidence(t *testing.T) {
	ctx := t.Context()
	b, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte("worker"))
	s, _ := audit.NewSigner(seed[:])
	st, _ := evidence.New(evidence.Config{Backend: b, Signer: s})
	a := &Evidence{Store: st, ConfigSHA256: "c0ffee"}
	rec := evidence.Record{Version: 1, Kind: evidence.KindDrill, Subject: "orders", Workflow: "drill-orders", Run: "r1",
		StartedAt: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), Status: "succeeded", Checks: []evidence.Check{}}
	rec.Evaluate()

	first, err := a.WriteEvidence(ctx, contract.WriteEvidenceInput{Record: rec})
	if err != nil || first.Existing || first.ID == "" {
		t.Fatalf("first write: %+v, %v", first, err)
	}
	again, err := a.WriteEvidence(ctx, contract.WriteEvidenceInput{Record: rec})
	if err != nil || !again.Existing || again.ID != first.ID {
		t.Fatalf("retried write: %+v, %v", again, err)
	}
	v, err := st.Verify(ctx, first.ID, audit.Keys(s.PublicKey()))
	if err != nil || v.Record.ConfigSHA256 != "c0ffee" {
		t.Fatalf("stored: %+v, %v", v.Record, err)
	}

	other := rec
	other.Status = "failed"
	other.Evaluate()
	invalid := rec
	invalid.Kind = "rehearsal"
	for _, c := range []struct {
		name      string
		a         *Evidence
		rec       evidence.Record
		errType   string
		retryable bool
	}{
		{"another record under its name", a, other, contract.ErrTypeEvidenceConflict, false},
		{"an invalid record", a, invalid, contract.ErrTypeEvidenceInvalid, false},
		{"storage down", &Evidence{Store: func() *evidence.Store {
			st, _ := evidence.New(evidence.Config{Backend: failingCreate{b, errors.New("connection reset")}, Signer: s})
			return st
		}()}, rec, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.a.WriteEvidence(ctx, contract.WriteEvidenceInput{Record: c.rec})
			var appErr *temporal.ApplicationError
			switch {
			case err == nil:
				t.Fatal("no error")
			case c.retryable:
				if errors.As(err, &appErr) && appErr.NonRetryable() {
					t.Fatalf("%v: not retried", err)
				}
			case !errors.As(err, &appErr) || appErr.Type() != c.errType || !appErr.NonRetryable():
				t.Fatalf("%v: want non-retryable %s", err, c.errType)
			}
		})
	}

	if res, err := (&Evidence{}).WriteEvidence(ctx, contract.WriteEvidenceInput{Record: rec}); err != nil || !res.Skipped {
		t.Fatalf("without a store: %+v, %v", res, err)
	}
	if res, _ := (&Evidence{ScheduleRequester: "schedule:prod"}).LoadDrillSchedules(ctx, contract.LoadDrillSchedulesInput{}); res.Requester != "" {
		t.Fatalf("a requester without drills: %+v", res)
	}
}
