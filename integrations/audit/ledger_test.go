package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/local"
)

// signer returns a signer whose seed is derived from name, so that tests are repeatable.
func signer(t *testing.T, name string) *audit.Signer {
	t.Helper()
	seed := sha256.Sum256([]byte(name))
	s, err := audit.NewSigner(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func backend(t *testing.T, dir string) *local.Backend {
	t.Helper()
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newLedger(t *testing.T, b storage.Backend, s *audit.Signer) *audit.Ledger {
	t.Helper()
	l, err := audit.New(audit.Config{Backend: b, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// entryPath is where the local backend under dir keeps entry seq of the ledger at the default prefix.
func entryPath(dir string, seq uint64) string {
	return filepath.Join(dir, "audit", "entries", fmt.Sprintf("%020d.json", seq))
}

func appendOK(t *testing.T, l *audit.Ledger, e audit.Entry) audit.Entry {
	t.Helper()
	got, existed, err := l.Append(context.Background(), e)
	if err != nil || existed {
		t.Fatalf("Append(%+v) = existed %v, %v", e, existed, err)
	}
	return got
}

func verify(t *testing.T, b storage.Backend, keys ...*audit.Signer) audit.Report {
	t.Helper()
	r, err := audit.Verify(context.Background(), b, "", keysOf(keys...))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

func keysOf(signers ...*audit.Signer) map[string]ed25519.PublicKey {
	out := map[string]ed25519.PublicKey{}
	for _, s := range signers {
		out[s.KeyID()] = s.PublicKey()
	}
	return out
}

// decision is a typical entry: someone approved a gate of a recovery.
func decision(actor, gate string) audit.Entry {
	return audit.Entry{
		Kind: audit.KindDecision, Actor: actor, Channel: audit.ChannelSlack, Verified: true,
		Workflow: "recovery-orders-20260102T030405Z", Run: "0195f0c2", Subject: gate,
		Details: map[string]string{"choice": "approve", "reason": "primary is gone"},
	}
}

func TestAppendChainsSignsAndVerifies(t *testing.T) {
	dir := t.TempDir()
	b := backend(t, dir)
	s := signer(t, "worker")
	at := time.Date(2026, 1, 2, 4, 4, 5, 123456789, time.FixedZone("CET", 3600))
	l, err := audit.New(audit.Config{Backend: b, Signer: s, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.Location(), dir+"/audit"; got != want {
		t.Errorf("Location() = %q, want %q", got, want)
	}

	var entries []audit.Entry
	entries = append(entries, appendOK(t, l, audit.Entry{Kind: audit.KindStart, Channel: audit.ChannelCLI, Actor: "ann", Subject: "orders-failover"}))
	entries = append(entries, appendOK(t, l, decision("bob", "promote")))
	entries = append(entries, appendOK(t, l, audit.Entry{Kind: audit.KindRefusal, Actor: "mallory", Channel: audit.ChannelSlack,
		Subject: "promote", Time: at.Add(time.Minute), Details: map[string]string{}}))
	for i, e := range entries {
		if e.Seq != uint64(i+1) || e.KeyID != s.KeyID() || len(e.Hash) != 64 || e.Sig == "" {
			t.Errorf("entry %d: %+v", i+1, e)
		}
		if i == 0 && e.Prev != "" || i > 0 && e.Prev != entries[i-1].Hash {
			t.Errorf("entry %d: prev %q does not chain to the entry before", i+1, e.Prev)
		}
		if e.Time.Location() != time.UTC {
			t.Errorf("entry %d: time %s is not in UTC", i+1, e.Time)
		}
	}
	if !entries[0].Time.Equal(at) || !entries[2].Time.Equal(at.Add(time.Minute)) {
		t.Errorf("times %s, %s: want now for an entry without one, and the entry's own otherwise", entries[0].Time, entries[2].Time)
	}
	if entries[2].Details != nil {
		t.Errorf("empty details stored as %#v, want nil", entries[2].Details)
	}

	// The object is the entry's canonical JSON and a newline, named so that listing sorts it.
	raw, err := os.ReadFile(entryPath(dir, 2))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(entries[1])
	if !bytes.Equal(raw, append(want, '\n')) {
		t.Errorf("stored entry 2:\n%s\nwant:\n%s", raw, want)
	}
	if !bytes.Contains(raw, []byte(`"details":{"choice":"approve","reason":"primary is gone"}`)) {
		t.Errorf("details not stored with sorted keys: %s", raw)
	}

	r := verify(t, b, s)
	if !r.OK() || r.Entries != 3 || r.First != 1 || r.Last != 3 || r.Keys[s.KeyID()] != 3 {
		t.Fatalf("report of an intact ledger: %+v", r)
	}
	if !r.FirstTime.Equal(at) || !r.LastTime.Equal(at.Add(time.Minute)) {
		t.Errorf("report times %s, %s", r.FirstTime, r.LastTime)
	}
	if r.Head == nil || r.Head.Seq != 3 || r.Head.Hash != entries[2].Hash {
		t.Errorf("head %+v, want entry 3's", r.Head)
	}
}

func TestAppendRefusesBadEntries(t *testing.T) {
	b := backend(t, t.TempDir())
	l := newLedger(t, b, signer(t, "worker"))
	tests := []struct {
		name  string
		entry audit.Entry
		want  []string
	}{
		{"no kind", audit.Entry{Actor: "ann"}, []string{`kind ""`}},
		{"kind and channel not words", audit.Entry{Kind: "Decision!", Channel: "Slack DM"}, []string{`kind "Decision!"`, `channel "Slack DM"`}},
		{"fields Append sets", audit.Entry{Kind: "start", Seq: 7, Hash: "ab"}, []string{"set by Append"}},
		{"invalid UTF-8", audit.Entry{Kind: "start", Details: map[string]string{"reason": "\xff"}}, []string{"details[reason] is not valid UTF-8"}},
		{"a long ID", audit.Entry{Kind: "start", ID: strings.Repeat("x", audit.MaxIDLength+1)}, []string{"id is 513 bytes"}},
		{"too large", audit.Entry{Kind: "start", Details: map[string]string{"log": strings.Repeat("x", audit.MaxEntrySize)}}, []string{"record large evidence elsewhere"}},
		{"time out of range", audit.Entry{Kind: "start", Time: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)}, []string{"between the years 1970 and 9999"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := l.Append(context.Background(), tt.entry)
			if !errors.Is(err, audit.ErrInvalid) {
				t.Fatalf("Append = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if r := verify(t, b); r.Entries != 0 || !r.OK() {
		t.Fatalf("refused entries left something: %+v", r)
	}
}

// An activity retried after its entry was written must not write it twice, whether the retry runs
// in the same process or in another (a fresh Ledger, which reads the window back from storage).
func TestAppendIsIdempotentByID(t *testing.T) {
	ctx := context.Background()
	b := backend(t, t.TempDir())
	s := signer(t, "worker")
	l := newLedger(t, b, s)
	e := decision("bob", "promote")
	e.ID = "recovery-orders/0195f0c2/gate-promote"
	first := appendOK(t, l, e)
	for i := range 5 {
		appendOK(t, l, audit.Entry{Kind: audit.KindAcknowledgement, Actor: fmt.Sprint("p", i)})
	}
	for name, ledger := range map[string]*audit.Ledger{"same ledger": l, "another process": newLedger(t, b, s)} {
		again, existed, err := ledger.Append(ctx, e)
		if err != nil || !existed || again.Seq != first.Seq || again.Hash != first.Hash {
			t.Fatalf("%s: Append again = %+v, existed %v, %v; want entry %d", name, again, existed, err, first.Seq)
		}
	}
	if r := verify(t, b, s); !r.OK() || r.Entries != 6 {
		t.Fatalf("%+v", r)
	}

	// The window is bounded: once IdempotencyWindow entries followed, the ID is appended anew.
	for range audit.IdempotencyWindow {
		appendOK(t, l, audit.Entry{Kind: audit.KindSilence})
	}
	late, existed, err := newLedger(t, b, s).Append(ctx, e)
	if err != nil || existed || late.Seq != 6+audit.IdempotencyWindow+1 {
		t.Fatalf("Append after the window = entry %d, existed %v, %v", late.Seq, existed, err)
	}
}

// Several workers, each with several activities at once, append to one ledger: every entry is
// stored exactly once, each number goes to one of them, and the chain verifies.
func TestConcurrentAppendsLoseNothing(t *testing.T) {
	dir := t.TempDir()
	s := signer(t, "worker")
	const writers, goroutines, each = 3, 3, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*goroutines*each)
	var lost atomic.Int64
	for w := range writers {
		l := newLedger(t, racing{backend(t, dir), &lost}, s) // a backend and ledger per process
		for g := range goroutines {
			wg.Go(func() {
				for n := range each {
					_, _, err := l.Append(context.Background(), audit.Entry{Kind: audit.KindAcknowledgement,
						Details: map[string]string{"writer": fmt.Sprint(w), "goroutine": fmt.Sprint(g), "n": fmt.Sprint(n)}})
					if err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if lost.Load() == 0 {
		t.Error("no Create ever lost a race: the test did not exercise contention")
	}
	t.Logf("%d Creates lost the race for a number", lost.Load())
	b := backend(t, dir)
	r := verify(t, b, s)
	const total = writers * goroutines * each
	if !r.OK() || r.Entries != total || r.Last != total {
		t.Fatalf("report: %+v", r)
	}
	var out bytes.Buffer
	if _, err := audit.Export(context.Background(), b, "", time.Time{}, audit.FormatJSONL, &out); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for line := range strings.Lines(out.String()) {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		seen[e.Details["writer"]+"/"+e.Details["goroutine"]+"/"+e.Details["n"]]++
	}
	if len(seen) != total {
		t.Errorf("%d distinct entries, want %d", len(seen), total)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("entry %s stored %d times", k, n)
		}
	}
}

// racing counts the Creates that found their object taken.
type racing struct {
	storage.Backend
	lost *atomic.Int64
}

func (r racing) Create(ctx context.Context, name string, rd io.Reader, size int64) error {
	err := r.Backend.Create(ctx, name, rd, size)
	if errors.Is(err, storage.ErrExists) {
		r.lost.Add(1)
	}
	return err
}

func TestNewRefusesWhatCannotWork(t *testing.T) {
	b := backend(t, t.TempDir())
	for _, tt := range []struct {
		cfg  audit.Config
		want string
	}{
		{audit.Config{Signer: signer(t, "x")}, "no backend"},
		{audit.Config{Backend: b}, "no signing key"},
		{audit.Config{Backend: b, Signer: signer(t, "x"), Prefix: "../elsewhere"}, `prefix "../elsewhere"`},
		{audit.Config{Backend: b, Signer: signer(t, "x"), Prefix: "/abs"}, `prefix "/abs"`},
	} {
		if _, err := audit.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error saying %q", tt.cfg, err, tt.want)
		}
	}
}

func TestCleanPrefix(t *testing.T) {
	for in, want := range map[string]string{"": "audit/", "audit": "audit/", "audit/": "audit/", "dr/ledger/": "dr/ledger/"} {
		if got, err := audit.CleanPrefix(in); err != nil || got != want {
			t.Errorf("CleanPrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/", "./a", "a/../b", "a//b", "..", `a\b`} {
		if got, err := audit.CleanPrefix(bad); err == nil {
			t.Errorf("CleanPrefix(%q) = %q, want an error", bad, got)
		}
	}
}

// A prefix keeps ledgers apart in one backend.
func TestPrefixesKeepLedgersApart(t *testing.T) {
	ctx := context.Background()
	b := backend(t, t.TempDir())
	s := signer(t, "worker")
	for _, p := range []string{"prod/audit", "staging/audit/"} {
		l, err := audit.New(audit.Config{Backend: b, Signer: s, Prefix: p})
		if err != nil {
			t.Fatal(err)
		}
		appendOK(t, l, audit.Entry{Kind: audit.KindStart, Subject: p})
	}
	for _, p := range []string{"prod/audit", "staging/audit/"} {
		r, err := audit.Verify(ctx, b, p, keysOf(s))
		if err != nil || !r.OK() || r.Entries != 1 {
			t.Errorf("Verify(%s) = %+v, %v", p, r, err)
		}
	}
	if r := verify(t, b, s); r.Entries != 0 {
		t.Errorf("the default prefix holds %d entries", r.Entries)
	}
}

func TestAppendStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l := newLedger(t, backend(t, t.TempDir()), signer(t, "w"))
	if _, _, err := l.Append(ctx, audit.Entry{Kind: audit.KindStart}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: %v", err)
	}
}

// Latest finds the newest matching entry within the scan, also from a ledger that did not write
// the entries, and passes over a damaged one.
func TestLatestFindsTheNewestMatch(t *testing.T) {
	dir := t.TempDir()
	s := signer(t, "latest")
	w := newLedger(t, backend(t, dir), s)
	for i, subject := range []string{"a", "b", "a", "c"} {
		appendOK(t, w, audit.Entry{Kind: "config-change", Subject: subject, Details: map[string]string{"n": fmt.Sprint(i)}})
	}
	r := newLedger(t, backend(t, dir), s)
	is := func(subject string) func(audit.Entry) bool {
		return func(e audit.Entry) bool { return e.Subject == subject }
	}
	if e, ok, err := r.Latest(context.Background(), is("a"), 100); err != nil || !ok || e.Seq != 3 {
		t.Fatalf("latest a: %+v %v %v", e, ok, err)
	}
	if _, ok, err := r.Latest(context.Background(), is("a"), 1); err != nil || ok {
		t.Fatalf("a within the last entry only: found %v, %v", ok, err)
	}
	if _, ok, err := r.Latest(context.Background(), is("z"), 100); err != nil || ok {
		t.Fatalf("no match: found %v, %v", ok, err)
	}
	if err := os.WriteFile(entryPath(dir, 3), []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := newLedger(t, backend(t, dir), s)
	if e, ok, err := fresh.Latest(context.Background(), is("a"), 100); err != nil || !ok || e.Seq != 1 {
		t.Fatalf("past a damaged entry: %+v %v %v", e, ok, err)
	}
}
