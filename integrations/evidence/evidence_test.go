package evidence_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

func signer(t *testing.T, name string) *audit.Signer {
	t.Helper()
	seed := sha256.Sum256([]byte(name))
	s, err := audit.NewSigner(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keysOf(signers ...*audit.Signer) map[string]ed25519.PublicKey {
	var pubs []ed25519.PublicKey
	for _, s := range signers {
		pubs = append(pubs, s.PublicKey())
	}
	return audit.Keys(pubs...)
}

func drill(subject, run string, start time.Time) evidence.Record {
	rto := units.Duration(90 * time.Second)
	rec := evidence.Record{
		Version: 1, Kind: evidence.KindDrill, Subject: subject, PlanSHA256: strings.Repeat("ab", 32), ConfigSHA256: strings.Repeat("cd", 32),
		Workflow: "drill-" + subject, Run: run, StartedBy: evidence.Starter{Identity: "alice", Channel: "key", Verified: true},
		Trust: evidence.TrustVerified, StartedAt: start, FinishedAt: start.Add(2 * time.Minute), Status: "succeeded",
		Steps: []evidence.Step{
			{ID: "promote", Type: "action", Action: "postgres.promote", Status: "compensated", Drill: "isolated"},
			{ID: "smoke", Type: "action", Action: "check.http", Status: "succeeded", Drill: "plan targets", DrillNote: "read-only"},
		},
		Checks: []evidence.Check{{Name: "smoke", Result: evidence.CheckPassed}},
		RTO:    evidence.NewMeasure(units.Duration(5*time.Minute), &rto),
	}
	rec.Evaluate()
	return rec
}

func store(t *testing.T, b storage.Backend, s *audit.Signer) *evidence.Store {
	t.Helper()
	st, err := evidence.New(evidence.Config{Backend: b, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func localBackend(t *testing.T) (*local.Backend, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b, dir
}

// The DSSE specification's example: PAE("http://example.com/HelloWorld", "hello world").
func TestPAEMatchesTheSpecificationsExample(t *testing.T) {
	got := evidence.PAE("http://example.com/HelloWorld", []byte("hello world"))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; string(got) != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	// Lengths count bytes, not characters.
	if got, want := evidence.PAE("t", []byte("é")), "DSSEv1 1 t 2 é"; string(got) != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
}

func TestSealedRecordVerifiesAndTamperingIsFound(t *testing.T) {
	s := signer(t, "worker")
	rec := drill("orders", "run-1", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	sealed, err := evidence.Seal(rec, s)
	if err != nil {
		t.Fatal(err)
	}
	got, keyID, err := evidence.Open(sealed, keysOf(s))
	if err != nil || keyID != s.KeyID() || got.Outcome != evidence.OutcomePassed || got.Subject != "orders" {
		t.Fatalf("Open: %+v, %q, %v", got, keyID, err)
	}
	var env evidence.Envelope
	if err := json.Unmarshal(sealed, &env); err != nil {
		t.Fatal(err)
	}
	if env.PayloadType != "application/vnd.lifeboat.evidence+json" || len(env.Signatures) != 1 || env.Signatures[0].KeyID != s.KeyID() {
		t.Fatalf("envelope: %+v", env)
	}
	reseal := func(edit func(*evidence.Envelope)) []byte {
		e := env
		e.Signatures = append([]evidence.Signature(nil), env.Signatures...)
		edit(&e)
		b, _ := json.Marshal(e)
		return b
	}
	body, _ := base64.StdEncoding.DecodeString(env.Payload)
	cases := []struct {
		name string
		data []byte
		keys map[string]ed25519.PublicKey
		want string
	}{
		{"edited payload", reseal(func(e *evidence.Envelope) {
			e.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(body, []byte(`"outcome":"passed"`), []byte(`"outcome":"failed"`), 1))
		}), keysOf(s), "signature does not match the payload"},
		{"edited signature", reseal(func(e *evidence.Envelope) {
			sig, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
			sig[0] ^= 1
			e.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
		}), keysOf(s), "signature does not match the payload"},
		{"edited payload type", reseal(func(e *evidence.Envelope) { e.PayloadType = "application/json" }), keysOf(s), "payload type"},
		{"wrong key", sealed, keysOf(signer(t, "someone else")), "not among the verify keys"},
		{"forged with another key under the worker's key ID", func() []byte {
			forged, _ := evidence.Seal(rec, signer(t, "forger"))
			var e evidence.Envelope
			_ = json.Unmarshal(forged, &e)
			e.Signatures[0].KeyID = s.KeyID()
			b, _ := json.Marshal(e)
			return b
		}(), keysOf(s), "signature does not match the payload"},
		{"not an envelope", []byte("{"), keysOf(s), "not a DSSE envelope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := evidence.Open(c.data, c.keys)
			if !errors.Is(err, evidence.ErrUnverified) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v, want ErrUnverified saying %q", err, c.want)
			}
		})
	}
}

// A record signed before the signing key was rotated verifies with the old key's public key among
// the verify keys.
func TestRotatedKeyVerifiesWithItsPublicKey(t *testing.T) {
	old, current := signer(t, "2025 key"), signer(t, "2026 key")
	b, _ := localBackend(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	idOld, _, err := store(t, b, old).Write(t.Context(), drill("orders", "r1", start))
	if err != nil {
		t.Fatal(err)
	}
	idNew, _, err := store(t, b, current).Write(t.Context(), drill("orders", "r2", start.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	st := store(t, b, nil)
	if _, err := st.Verify(t.Context(), idOld, keysOf(current)); !errors.Is(err, evidence.ErrUnverified) {
		t.Fatalf("the old record without the old key: %v", err)
	}
	for _, id := range []string{idOld, idNew} {
		v, err := st.Verify(t.Context(), id, keysOf(current, old))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{idOld: old.KeyID(), idNew: current.KeyID()}[id]; v.KeyID != want {
			t.Errorf("%s verified by %s, want %s", id, v.KeyID, want)
		}
	}
}

func TestWriteIsIdempotentAndNeverOverwrites(t *testing.T) {
	ctx := t.Context()
	b, dir := localBackend(t)
	s := signer(t, "worker")
	st := store(t, b, s)
	rec := drill("orders failover/eu", "0b6f-run", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	id, existed, err := st.Write(ctx, rec)
	if err != nil || existed {
		t.Fatalf("first write: %v, existed %v", err, existed)
	}
	if want := "20261201T100000Z_drill_orders%20failover%2Feu_0b6f-run"; id != want {
		t.Fatalf("id %q, want %q", id, want)
	}
	path := filepath.Join(dir, "evidence", id+".dsse.json")
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A retry of the same activity writes the same record: it finds its own.
	again, existed, err := st.Write(ctx, rec)
	if err != nil || !existed || again != id {
		t.Fatalf("retried write: %q, existed %v, %v", again, existed, err)
	}
	// Another record under the same name is refused, and the stored one stays.
	other := rec
	other.Status, other.Error = "failed", "promote: timed out"
	other.Evaluate()
	if _, _, err := st.Write(ctx, other); !errors.Is(err, evidence.ErrConflict) {
		t.Fatalf("conflicting write: %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, first) {
		t.Fatal("the stored record changed")
	}
	v, err := st.Verify(ctx, id, keysOf(s))
	if err != nil || v.Record.Subject != "orders failover/eu" || v.Record.Outcome != evidence.OutcomePassed {
		t.Fatalf("Verify: %+v, %v", v, err)
	}
}

// A genuine record copied under another run's name does not pass for that run's evidence.
func TestRecordUnderAnotherNameDoesNotVerify(t *testing.T) {
	ctx := t.Context()
	b, _ := localBackend(t)
	s := signer(t, "worker")
	st := store(t, b, s)
	id, _, err := st.Write(ctx, drill("orders", "run-1", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := st.Read(ctx, id)
	copied := "20261202T100000Z_drill_orders_run-2"
	if err := b.Create(ctx, "evidence/"+copied+".dsse.json", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Verify(ctx, copied, keysOf(s)); !errors.Is(err, evidence.ErrUnverified) || !strings.Contains(err.Error(), copied) {
		t.Fatalf("Verify of a copy: %v", err)
	}
}

func TestEvaluateNeverReadsASkippedCheckAsAPass(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	missed := units.Duration(10 * time.Minute)
	cases := []struct {
		name    string
		edit    func(*evidence.Record)
		outcome string
		reason  string
	}{
		{"all passed", func(*evidence.Record) {}, evidence.OutcomePassed, ""},
		{"a skipped check", func(r *evidence.Record) {
			r.Checks = append(r.Checks, evidence.Check{Name: "dns", Result: evidence.CheckNotProven, Detail: "skipped in drills"})
		}, evidence.OutcomeNotProven, "1 of 2 checks not proven"},
		{"no check", func(r *evidence.Record) { r.Checks = nil }, evidence.OutcomeNotProven, "no check ran"},
		{"objective not measured", func(r *evidence.Record) { r.RPO = evidence.NewMeasure(units.Duration(time.Minute), nil) }, evidence.OutcomeNotProven, "RPO objective set but not measured"},
		{"a failed check and a skipped one", func(r *evidence.Record) {
			r.Checks = []evidence.Check{{Name: "a", Result: evidence.CheckFailed}, {Name: "b", Result: evidence.CheckNotProven}}
		}, evidence.OutcomeFailed, "1 of 2 checks failed"},
		{"RTO missed", func(r *evidence.Record) { r.RTO = evidence.NewMeasure(units.Duration(5*time.Minute), &missed) }, evidence.OutcomeFailed, "RTO 10m0s missed"},
		{"run failed", func(r *evidence.Record) { r.Status = "failed" }, evidence.OutcomeFailed, "the run failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := drill("orders", "r", start)
			c.edit(&r)
			r.Evaluate()
			if r.Outcome != c.outcome || !strings.Contains(strings.Join(r.Reasons, "; "), c.reason) {
				t.Fatalf("outcome %q (%v), want %q saying %q", r.Outcome, r.Reasons, c.outcome, c.reason)
			}
		})
	}
}

func TestListFiltersAndOrdersByTime(t *testing.T) {
	ctx := t.Context()
	b, _ := localBackend(t)
	st := store(t, b, signer(t, "worker"))
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i, subj := range []string{"orders", "billing", "orders"} {
		if _, _, err := st.Write(ctx, drill(subj, "r"+string(rune('a'+i)), day.Add(time.Duration(2-i)*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	ver := drill("orders-db", "v1", day)
	ver.Kind = evidence.KindVerification
	ver.Steps = nil
	if _, _, err := st.Write(ctx, ver); err != nil {
		t.Fatal(err)
	}
	// Objects that are not records are never listed.
	if err := b.Put(ctx, "evidence/README", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	all, err := st.List(ctx, evidence.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range all {
		got = append(got, l.Kind+" "+l.Subject+" "+l.Time.Format("15"))
	}
	if want := "drill orders 00,verification orders-db 00,drill billing 01,drill orders 02"; strings.Join(got, ",") != want {
		t.Fatalf("listed %q, want %q", strings.Join(got, ","), want)
	}
	drills, _ := st.List(ctx, evidence.Filter{Kind: evidence.KindDrill, Subject: "orders", Since: day.Add(time.Hour)})
	if len(drills) != 1 || drills[0].Run != "ra" {
		t.Fatalf("filtered: %+v", drills)
	}
}

// failingDeletes fails every Delete after the first n.
type failingDeletes struct {
	storage.Backend
	n, done int
}

func (f *failingDeletes) Delete(ctx context.Context, name string) error {
	if f.done >= f.n {
		return errors.New("connection reset")
	}
	f.done++
	return f.Backend.Delete(ctx, name)
}

// Prune deletes only records past retention, keeps the last ones of every subject whatever their
// age, never touches anything else, and when it fails part way the records it had not reached are
// intact.
func TestPruneDeletesOnlyExpiredRecordsAndStopsSafely(t *testing.T) {
	ctx := t.Context()
	b, dir := localBackend(t)
	s := signer(t, "worker")
	st := store(t, b, s)
	now := time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 { // orders: 40, 30, 20, 10 and 1 days old
		age := []int{40, 30, 20, 10, 1}[i]
		id, _, err := st.Write(ctx, drill("orders", "o"+string(rune('0'+i)), now.Add(-time.Duration(age)*24*time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// billing's only drill is old, but it is billing's last one.
	billing, _, err := st.Write(ctx, drill("billing", "b0", now.Add(-100*24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	// Something else under the prefix, as old as can be, and outside it.
	for _, name := range []string{"evidence/20200101T000000Z_notes.txt", "other/20200101T000000Z_drill_x_y.dsse.json"} {
		if err := b.Put(ctx, name, strings.NewReader("keep me"), 7); err != nil {
			t.Fatal(err)
		}
	}
	retention := evidence.Retention{Days: 15, Last: 2}
	// Expired: orders 40, 30, 20 days old (older than 15 days and not among the last 2).
	failing, _ := evidence.New(evidence.Config{Backend: &failingDeletes{Backend: b, n: 1}})
	deleted, err := failing.Prune(ctx, retention, now)
	if err == nil || len(deleted) != 1 || deleted[0].ID != ids[0] || !strings.Contains(err.Error(), ids[1]) {
		t.Fatalf("failing prune: deleted %+v, %v", deleted, err)
	}
	for _, id := range append(ids[1:], billing) {
		if _, err := st.Verify(ctx, id, keysOf(s)); err != nil {
			t.Fatalf("after a failed prune: %v", err)
		}
	}
	deleted, err = st.Prune(ctx, retention, now)
	if err != nil || len(deleted) != 2 || deleted[0].ID != ids[1] || deleted[1].ID != ids[2] {
		t.Fatalf("prune: %+v, %v", deleted, err)
	}
	left, _ := st.List(ctx, evidence.Filter{})
	if len(left) != 3 {
		t.Fatalf("left %+v", left)
	}
	for _, name := range []string{"evidence/20200101T000000Z_notes.txt", "other/20200101T000000Z_drill_x_y.dsse.json"} {
		if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name))); err != nil || string(b) != "keep me" {
			t.Fatalf("%s: %q, %v", name, b, err)
		}
	}
	if _, err := st.Prune(ctx, evidence.Retention{Last: 1}, now); err == nil {
		t.Fatal("a prune without retention days deleted")
	}
}
