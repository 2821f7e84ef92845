package audit

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// The entries and the head Verify reads may be damaged or crafted. Checking them must report a
// problem, never panic, and pass only what a signer wrote.
func FuzzVerifyEntry(f *testing.F) {
	seed := sha256.Sum256([]byte("fuzz"))
	s, err := NewSigner(seed[:])
	if err != nil {
		f.Fatal(err)
	}
	l := &Ledger{signer: s}
	e := Entry{Seq: 2, ID: "wf/run/gate", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Kind: KindDecision, Actor: "bob",
		Channel: ChannelSlack, Verified: true, Subject: "promote", Details: map[string]string{"choice": "approve", "<&>": "\u2028"},
		Prev: strings.Repeat("ab", 32), KeyID: s.KeyID()}
	raw, err := l.seal(&e)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add(bytes.Replace(raw, []byte(`"seq":2`), []byte(`"SEQ":2`), 1))
	f.Add(bytes.Replace(raw, []byte(`{`), []byte(`{"seq":3,`), 1))
	f.Add([]byte("null"))
	f.Add([]byte(`{"seq":18446744073709551616}`))
	f.Add([]byte(`{"time":"99999-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"seq":2,"hash":"zz","sig":"!!","key_id":"` + s.KeyID() + `"}`))
	f.Add([]byte(`{"seq":6,"hash":"` + e.Prev + `","time":"2026-01-02T03:04:05Z","key_id":"x","sig":"AAAA"}`))
	keys := Keys(s.PublicKey())
	prev := Entry{Seq: 1, Hash: e.Prev}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v := &verifier{prefix: DefaultPrefix, keys: keys, report: Report{Keys: map[string]int{}}}
		got, ok := v.entry(2, raw, &prev)
		if ok && len(v.report.Problems) == 0 {
			again, err := got.encode()
			if err != nil || !bytes.Equal(again, raw) {
				t.Fatalf("passed an entry that is not in canonical form:\n%q\n%q", raw, again)
			}
			if got.Seq != 2 || got.Prev != prev.Hash || !verify(keys[got.KeyID], got.Hash, got.Sig) {
				t.Fatalf("passed a wrong entry: %+v", got)
			}
		}
		v = &verifier{prefix: DefaultPrefix, keys: keys, report: Report{Keys: map[string]int{}}, headSeq: 2, headStored: &e.Hash}
		h, err := decodeHead(raw)
		v.head(h, err, []uint64{1, 2})
		if err != nil && len(v.report.Problems) == 0 {
			t.Fatal("an unreadable head passed")
		}
	})
}
