package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
)

// sixEntries writes a ledger of six entries into dir, signed by s.
func sixEntries(t *testing.T, dir string, s *audit.Signer) {
	t.Helper()
	l := newLedger(t, backend(t, dir), s)
	appendOK(t, l, audit.Entry{Kind: audit.KindStart, Actor: "ann", Channel: audit.ChannelCLI, Subject: "orders-failover"})
	for _, gate := range []string{"freeze", "promote", "dns", "traffic"} {
		appendOK(t, l, decision("bob", gate))
	}
	appendOK(t, l, audit.Entry{Kind: audit.KindOverride, Actor: "ann", Subject: "quorum", Details: map[string]string{"from": "2", "to": "1"}})
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}

// want is a problem Verify must report: its kind, the entry it names and words of its message.
type want struct {
	kind string
	seq  uint64
	says string
}

// Each way of tampering with the ledger's storage is reported as what it is, naming the entry, and
// nothing else is reported.
func TestVerifyNamesEachKindOfTampering(t *testing.T) {
	worker := signer(t, "worker")
	// other writes a second ledger of three entries, signed by s, and returns its folder.
	other := func(t *testing.T, s *audit.Signer) string {
		dir := t.TempDir()
		l := newLedger(t, backend(t, dir), s)
		for _, gate := range []string{"freeze", "promote", "dns"} {
			appendOK(t, l, decision("mallory", gate))
		}
		return dir
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   []want
	}{
		{"one byte of an entry's details changed", func(t *testing.T, dir string) {
			raw := read(t, entryPath(dir, 3))
			i := bytes.Index(raw, []byte(`"approve"`))
			raw[i+7] = 'f' // approve → approvf
			write(t, entryPath(dir, 3), raw)
		}, []want{{audit.ProblemChanged, 3, "entry 3 was changed: its content does not match its hash"}}},

		{"an entry removed from the middle", func(t *testing.T, dir string) {
			remove(t, entryPath(dir, 3))
		}, []want{{audit.ProblemMissing, 3, "entry 3 is missing (between 2 and 4)"}}},

		{"entries removed from the middle", func(t *testing.T, dir string) {
			remove(t, entryPath(dir, 2), entryPath(dir, 3), entryPath(dir, 4))
		}, []want{{audit.ProblemMissing, 2, "entries 2 to 4 are missing (between 1 and 5)"}}},

		{"the first entry removed", func(t *testing.T, dir string) {
			remove(t, entryPath(dir, 1))
		}, []want{{audit.ProblemMissing, 1, "entry 1 is missing (before 2)"}}},

		{"the last entries removed", func(t *testing.T, dir string) {
			remove(t, entryPath(dir, 5), entryPath(dir, 6))
		}, []want{{audit.ProblemMissing, 5, "entries 5 to 6 are missing: removed from the end (the head records entry 6, the last entry is 4)"}}},

		{"the last entry removed", func(t *testing.T, dir string) {
			remove(t, entryPath(dir, 6))
		}, []want{{audit.ProblemMissing, 6, "entry 6 is missing: removed from the end"}}},

		{"every entry removed", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "audit", "entries")); err != nil {
				t.Fatal(err)
			}
		}, []want{{audit.ProblemMissing, 1, "entries 1 to 6 are missing: removed from the end (the head records entry 6, the last entry is 0)"}}},

		{"two entries swapped", func(t *testing.T, dir string) {
			two, four := read(t, entryPath(dir, 2)), read(t, entryPath(dir, 4))
			write(t, entryPath(dir, 2), four)
			write(t, entryPath(dir, 4), two)
		}, []want{
			{audit.ProblemReordered, 2, "entry 2 was moved: its object holds entry 4"},
			{audit.ProblemReordered, 4, "entry 4 was moved: its object holds entry 2"},
		}},

		{"an entry re-signed with an unknown key", func(t *testing.T, dir string) {
			write(t, entryPath(dir, 3), read(t, entryPath(other(t, signer(t, "mallory")), 3)))
		}, []want{
			{audit.ProblemUnknownKey, 3, "entry 3 is signed with unknown key"},
			{audit.ProblemReordered, 3, "entry 3 does not follow entry 2"},
			{audit.ProblemReordered, 4, "entry 4 does not follow entry 3"},
		}},

		{"an entry of another ledger spliced in", func(t *testing.T, dir string) {
			write(t, entryPath(dir, 3), read(t, entryPath(other(t, worker), 3)))
		}, []want{
			{audit.ProblemReordered, 3, "entry 3 does not follow entry 2"},
			{audit.ProblemReordered, 4, "entry 4 does not follow entry 3"},
		}},

		{"the last entry replaced by another ledger's", func(t *testing.T, dir string) {
			o := other(t, worker)
			l := newLedger(t, backend(t, o), worker)
			for range 3 {
				appendOK(t, l, decision("mallory", "x"))
			}
			write(t, entryPath(dir, 6), read(t, entryPath(o, 6)))
		}, []want{
			{audit.ProblemReordered, 6, "entry 6 does not follow entry 5"},
			{audit.ProblemChanged, 6, "entry 6 was replaced: the head records its hash as"},
		}},

		{"an entry reformatted, its content intact", func(t *testing.T, dir string) {
			raw := read(t, entryPath(dir, 3))
			write(t, entryPath(dir, 3), append([]byte("{ "), raw[1:]...))
		}, []want{{audit.ProblemChanged, 3, "entry 3 was changed: its stored bytes are not the form that was signed"}}},

		{"a field added to an entry", func(t *testing.T, dir string) {
			raw := read(t, entryPath(dir, 3))
			write(t, entryPath(dir, 3), append([]byte(`{"approved_by":"carol",`), raw[1:]...))
		}, []want{{audit.ProblemChanged, 3, `entry 3 was changed: not JSON of a ledger object: json: unknown field "approved_by"`}}},

		{"an entry overwritten with something else", func(t *testing.T, dir string) {
			write(t, entryPath(dir, 3), []byte("hello\n"))
		}, []want{{audit.ProblemChanged, 3, "entry 3 was changed: not JSON of a ledger object"}}},

		{"a stray object among the entries", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "audit", "entries", "notes.txt"), []byte("x"))
		}, []want{{audit.ProblemStray, 0, "audit/entries/notes.txt is not an entry of the ledger"}}},

		{"the head removed", func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, "audit", "head.json"))
		}, []want{{audit.ProblemHead, 0, "the head (audit/head.json) is missing"}}},

		{"the head moved back by hand", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "audit", "head.json")
			write(t, p, bytes.Replace(read(t, p), []byte(`"seq":6`), []byte(`"seq":4`), 1))
		}, []want{{audit.ProblemChanged, 0, "the head was changed: its signature does not verify"}}},

		{"the head made unreadable", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "audit", "head.json"), []byte("{"))
		}, []want{{audit.ProblemChanged, 0, "the head was changed: not JSON"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sixEntries(t, dir, worker)
			tt.tamper(t, dir)
			r := verify(t, backend(t, dir), worker)
			checkProblems(t, r, tt.want)
		})
	}
}

func checkProblems(t *testing.T, r audit.Report, wants []want) {
	t.Helper()
	if r.OK() != (len(wants) == 0) {
		t.Errorf("OK() = %v with %d problems", r.OK(), len(r.Problems))
	}
	var got, expected []string
	for _, p := range r.Problems {
		got = append(got, fmt.Sprint(p.Kind, " ", p.Seq))
	}
	for _, w := range wants {
		expected = append(expected, fmt.Sprint(w.kind, " ", w.seq))
	}
	slices.Sort(got)
	slices.Sort(expected)
	if !slices.Equal(got, expected) {
		t.Errorf("problems (kind, entry) = %q, want %q", got, expected)
	}
	for _, w := range wants {
		if !slices.ContainsFunc(r.Problems, func(p audit.Problem) bool {
			return p.Kind == w.kind && p.Seq == w.seq && strings.Contains(p.Message, w.says)
		}) {
			t.Errorf("no %s problem of entry %d saying %q", w.kind, w.seq, w.says)
		}
	}
	if t.Failed() {
		for _, p := range r.Problems {
			t.Logf("  %s %d %s: %s", p.Kind, p.Seq, p.Object, p.Message)
		}
	}
}

// A head that lags behind the entries is what a writer leaves between an entry and its head, or a
// slower writer's head: not a problem.
func TestVerifyAcceptsAHeadBehind(t *testing.T) {
	dir := t.TempDir()
	s := signer(t, "worker")
	l := newLedger(t, backend(t, dir), s)
	for range 3 {
		appendOK(t, l, decision("bob", "promote"))
	}
	head := filepath.Join(dir, "audit", "head.json")
	old := read(t, head)
	for range 2 {
		appendOK(t, l, decision("bob", "dns"))
	}
	write(t, head, old)
	r := verify(t, backend(t, dir), s)
	if !r.OK() || r.Head.Seq != 3 || r.Last != 5 {
		t.Fatalf("%+v", r)
	}
}

// After entries were removed from the end, writers go on appending, and the evidence stays: the
// head, which names a removed entry, is not moved past the entries written in its place.
func TestTruncationStaysVisibleAfterLaterAppends(t *testing.T) {
	dir := t.TempDir()
	s := signer(t, "worker")
	sixEntries(t, dir, s)
	remove(t, entryPath(dir, 5), entryPath(dir, 6))
	l := newLedger(t, backend(t, dir), s)
	for range 3 {
		appendOK(t, l, decision("ann", "after"))
	}
	r := verify(t, backend(t, dir), s)
	checkProblems(t, r, []want{{audit.ProblemChanged, 6, "entry 6 was replaced: the head records its hash as"}})
	if r.Head.Seq != 6 || r.Last != 7 {
		t.Errorf("head %d, last %d: want the head left at 6", r.Head.Seq, r.Last)
	}
}

// A rotated key: entries of the old key verify when its public key is given besides the new one,
// and are named as signed by an unknown key when it is not.
func TestVerifyAcrossKeyRotation(t *testing.T) {
	dir := t.TempDir()
	old, cur := signer(t, "2025"), signer(t, "2026")
	for _, s := range []*audit.Signer{old, cur} {
		l := newLedger(t, backend(t, dir), s)
		appendOK(t, l, decision("bob", "a"))
		appendOK(t, l, decision("bob", "b"))
	}
	r := verify(t, backend(t, dir), old, cur)
	if !r.OK() || r.Keys[old.KeyID()] != 2 || r.Keys[cur.KeyID()] != 2 {
		t.Fatalf("%+v", r)
	}
	r = verify(t, backend(t, dir), cur)
	checkProblems(t, r, []want{
		{audit.ProblemUnknownKey, 1, "entry 1 is signed with unknown key \"" + old.KeyID() + "\": if it is a former signing key, add its public key to audit.verify_keys"},
		{audit.ProblemUnknownKey, 2, "entry 2 is signed with unknown key"},
	})
	r = verify(t, backend(t, dir))
	if n := len(r.Problems); n != 5 || r.Problems[4].Message != `the head is signed with unknown key "`+cur.KeyID()+`": if it is a former signing key, add its public key to audit.verify_keys; otherwise the head is forged` {
		t.Errorf("without keys: %d problems, last %+v; want every entry and the head named", n, r.Problems[n-1])
	}
}

func TestVerifyEmptyLedgerAndBadKeys(t *testing.T) {
	ctx := context.Background()
	b := backend(t, t.TempDir())
	r, err := audit.Verify(ctx, b, "", nil)
	if err != nil || !r.OK() || r.Entries != 0 || r.Head != nil || r.Problems == nil {
		t.Fatalf("empty ledger: %+v, %v", r, err)
	}
	if _, err := audit.Verify(ctx, b, "", map[string]ed25519.PublicKey{"k": make([]byte, 5)}); err == nil || !strings.Contains(err.Error(), "key k is 5 bytes") {
		t.Errorf("Verify with a short key: %v", err)
	}
	if _, err := audit.Verify(ctx, b, "/abs", nil); err == nil {
		t.Error("Verify with an absolute prefix: no error")
	}
}

// A writer cannot chain onto an entry it cannot read: Append refuses, and says where to look.
func TestAppendRefusesToChainOntoADamagedEntry(t *testing.T) {
	dir := t.TempDir()
	s := signer(t, "worker")
	sixEntries(t, dir, s)
	write(t, entryPath(dir, 7), []byte("not an entry"))
	_, _, err := newLedger(t, backend(t, dir), s).Append(context.Background(), decision("ann", "x"))
	if !errors.Is(err, audit.ErrDamaged) || !strings.Contains(err.Error(), "entry 7") || !strings.Contains(err.Error(), "lifeboat audit verify") {
		t.Fatalf("Append after a damaged entry: %v", err)
	}
}
