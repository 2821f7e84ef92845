package evidence_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/gcs"
	"github.com/lifeboat-dr/lifeboat/testsuite/gcstest"
)

// On GCS a record is created with a DoesNotExist precondition: a retried write finds its own
// record, another record of that name is refused, and prune deletes only expired records.
func TestStoreOnFakeGCS(t *testing.T) {
	srv := gcstest.Start(t)
	srv.CreateBucket("lifeboat")
	ctx := t.Context()
	b, err := gcs.New(ctx, gcs.Config{Bucket: "lifeboat", Prefix: "dr", Endpoint: srv.URL, WithoutAuthentication: true})
	if err != nil {
		t.Fatal(err)
	}
	s := signer(t, "worker")
	st := store(t, b, s)
	now := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	old, newer := drill("orders", "a", now.Add(-30*24*time.Hour)), drill("orders", "b", now.Add(-24*time.Hour))
	var ids []string
	for _, rec := range []evidence.Record{old, newer} {
		id, existed, err := st.Write(ctx, rec)
		if err != nil || existed {
			t.Fatalf("write: %v, existed %v", err, existed)
		}
		ids = append(ids, id)
	}
	if _, existed, err := st.Write(ctx, old); err != nil || !existed {
		t.Fatalf("retried write: existed %v, %v", existed, err)
	}
	conflicting := old
	conflicting.Status = "failed"
	conflicting.Evaluate()
	if _, _, err := st.Write(ctx, conflicting); !errors.Is(err, evidence.ErrConflict) {
		t.Fatalf("conflicting write: %v", err)
	}
	for _, id := range ids {
		if v, err := st.Verify(ctx, id, keysOf(s)); err != nil || v.Record.Status != "succeeded" {
			t.Fatalf("verify %s: %+v, %v", id, v.Record, err)
		}
	}
	deleted, err := st.Prune(ctx, evidence.Retention{Days: 7}, now)
	if err != nil || len(deleted) != 1 || deleted[0].ID != ids[0] {
		t.Fatalf("prune: %+v, %v", deleted, err)
	}
	if left, _ := st.List(ctx, evidence.Filter{}); len(left) != 1 || left[0].ID != ids[1] {
		t.Fatalf("left: %+v", left)
	}
}
