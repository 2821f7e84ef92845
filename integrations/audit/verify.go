package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// Kinds of problems Verify finds.
const (
	// ProblemChanged: an entry or the head is not what was signed — its content does not match its
	// hash, its signature does not verify, it is not valid ledger JSON, or it does not match the head.
	ProblemChanged = "changed"
	// ProblemMissing: entries were removed, from the middle (a gap in the numbers) or from the end
	// (the head names an entry past the last one).
	ProblemMissing = "missing"
	// ProblemReordered: an entry is not where it was written — its object holds another entry, or it
	// does not name the entry before it as its predecessor (spliced in, or the chain was rebuilt).
	ProblemReordered = "reordered"
	// ProblemUnknownKey: an entry or the head is signed with a key Verify was not given. A former
	// signing key belongs in audit.verify_keys; a key nobody knows is a forgery.
	ProblemUnknownKey = "unknown-key"
	// ProblemHead: the head is missing although there are entries, so entries removed from the end
	// cannot be ruled out.
	ProblemHead = "head"
	// ProblemStray: an object among the entries that is not named as an entry.
	ProblemStray = "stray"
)

// Problem is one thing wrong with the ledger.
type Problem struct {
	// Kind is one of the Problem constants.
	Kind string `json:"kind"`
	// Seq is the entry it concerns (the first, for a run of missing entries); 0 for the head and
	// stray objects.
	Seq uint64 `json:"seq,omitempty"`
	// Object is the object it concerns, when there is one.
	Object string `json:"object,omitempty"`
	// Message says what is wrong, naming the entry.
	Message string `json:"message"`
}

// Report is what Verify found.
type Report struct {
	// Location names the ledger: the backend's location and the prefix.
	Location string `json:"location"`
	// Entries is the number of entry objects read.
	Entries int `json:"entries"`
	// First and Last are the lowest and highest entry numbers found, FirstTime and LastTime those
	// entries' times (when they could be read).
	First     uint64    `json:"first,omitempty"`
	Last      uint64    `json:"last,omitempty"`
	FirstTime time.Time `json:"first_time,omitzero"`
	LastTime  time.Time `json:"last_time,omitzero"`
	// Head is the checkpoint as read, if there is one that could be read.
	Head *Head `json:"head,omitempty"`
	// Keys counts the entries each key ID signed.
	Keys map[string]int `json:"keys,omitempty"`
	// Problems lists everything wrong, in the order of the entries; none when the ledger is intact.
	Problems []Problem `json:"problems"`
}

// OK reports whether Verify found no problem.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify reads every entry of the ledger under prefix ("" for DefaultPrefix) and the head, and
// reports every problem it finds, each naming the entry:
//
//   - a changed entry: its content does not match its hash, its signature does not verify with the
//     key its KeyID names, it is not valid ledger JSON, or its stored bytes are not its canonical
//     form ("entry 42 was changed: …");
//   - a removed entry: a gap in the numbers ("entry 17 is missing (between 16 and 18)"), or
//     entries past the last one that the head names;
//   - a moved or spliced entry: its object holds another entry, or its Prev is not the Hash of the
//     entry before;
//   - an entry or head signed with a key not in keys (mapped by KeyID).
//
// Verify returns an error only when it cannot read the ledger at all (a listing or a read fails)
// or keys holds a key that is not an Ed25519 public key.
func Verify(ctx context.Context, backend storage.Backend, prefix string, keys map[string]ed25519.PublicKey) (Report, error) {
	prefix, err := CleanPrefix(prefix)
	if err != nil {
		return Report{}, err
	}
	for id, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return Report{}, fmt.Errorf("audit: verify: key %s is %d bytes, not an Ed25519 public key", id, len(k))
		}
	}
	v := &verifier{prefix: prefix, keys: keys, report: Report{Location: where(backend, prefix), Keys: map[string]int{}}}

	// The head first: a writer appends an entry before it moves the head, so the entries listed
	// after it reach at least as far as the head does, however many writers are at work.
	var head Head
	rawHead, headErr := readObject(ctx, backend, prefix+headName)
	switch {
	case headErr == nil:
		if head, headErr = decodeHead(rawHead); headErr == nil {
			v.headSeq = head.Seq
		}
	case !errors.Is(headErr, storage.ErrNotFound):
		return Report{}, fmt.Errorf("audit: verify %s: head: %w", v.report.Location, headErr)
	}

	var seqs []uint64
	err = backend.List(ctx, prefix+"entries/", func(info storage.Info) error {
		if seq, ok := seqOf(prefix, info.Name); ok {
			seqs = append(seqs, seq)
		} else {
			v.problem(ProblemStray, 0, info.Name, "%s is not an entry of the ledger: an object was added or renamed", info.Name)
		}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify %s: %w", v.report.Location, err)
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)

	var prev *Entry // the entry read from the object before, when it holds the entry its name says
	var last uint64
	err = readInOrder(ctx, backend, prefix, seqs, func(seq uint64, raw []byte, err error) error {
		switch {
		case last == 0 && seq > 1:
			v.missing(1, seq-1, fmt.Sprintf("(before %d)", seq))
		case last > 0 && seq > last+1:
			v.missing(last+1, seq-1, fmt.Sprintf("(between %d and %d)", last, seq))
			prev = nil
		}
		last = seq
		if errors.Is(err, storage.ErrNotFound) {
			v.problem(ProblemMissing, seq, entryName(prefix, seq), "entry %d is missing: it was removed while the ledger was being verified", seq)
			prev = nil
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: verify %s: entry %d: %w", v.report.Location, seq, err)
		}
		v.report.Entries++
		e, ok := v.entry(seq, raw, prev)
		if ok {
			if v.report.FirstTime.IsZero() {
				v.report.FirstTime = e.Time
			}
			v.report.LastTime = e.Time
		}
		prev = nil
		if ok && e.Seq == seq {
			prev = &e
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	if len(seqs) > 0 {
		v.report.First, v.report.Last = seqs[0], seqs[len(seqs)-1]
	}
	v.head(head, headErr, seqs)
	if v.report.Problems == nil {
		v.report.Problems = []Problem{}
	}
	return v.report, nil
}

type verifier struct {
	prefix string
	keys   map[string]ed25519.PublicKey
	// headSeq is the entry the head names, and headStored the hash stored in that entry's object,
	// once read.
	headSeq    uint64
	headStored *string
	report     Report
}

func (v *verifier) problem(kind string, seq uint64, object, format string, args ...any) {
	v.report.Problems = append(v.report.Problems, Problem{Kind: kind, Seq: seq, Object: object, Message: fmt.Sprintf(format, args...)})
}

// missing reports the entries from..to as missing.
func (v *verifier) missing(from, to uint64, where string) {
	if from == to {
		v.problem(ProblemMissing, from, entryName(v.prefix, from), "entry %d is missing %s", from, where)
		return
	}
	v.problem(ProblemMissing, from, entryName(v.prefix, from), "entries %d to %d are missing %s", from, to, where)
}

// entry checks the entry stored under the number seq, given the entry stored under seq-1 when it
// was read and holds that entry. It returns the entry and whether it could be decoded.
func (v *verifier) entry(seq uint64, raw []byte, prev *Entry) (Entry, bool) {
	object := entryName(v.prefix, seq)
	e, err := decodeEntry(raw)
	if err != nil {
		v.problem(ProblemChanged, seq, object, "entry %d was changed: %v", seq, err)
		return Entry{}, false
	}
	if seq == v.headSeq {
		v.headStored = &e.Hash
	}
	if e.Seq != seq {
		v.problem(ProblemReordered, seq, object, "entry %d was moved: its object holds entry %d", seq, e.Seq)
	}
	hash, err := e.computeHash()
	key, known := v.keys[e.KeyID]
	canonical, _ := e.encode()
	switch {
	case err != nil:
		v.problem(ProblemChanged, seq, object, "entry %d was changed: %v", seq, err)
	case hash != e.Hash:
		v.problem(ProblemChanged, seq, object, "entry %d was changed: its content does not match its hash", seq)
	case !known:
		v.problem(ProblemUnknownKey, seq, object, "entry %d is signed with unknown key %q: if it is a former signing key, add its public key to audit.verify_keys; otherwise the entry is forged", seq, e.KeyID)
	case !verify(key, e.Hash, e.Sig):
		v.problem(ProblemChanged, seq, object, "entry %d was changed: its signature does not verify with key %s", seq, e.KeyID)
	case !bytes.Equal(raw, canonical):
		v.problem(ProblemChanged, seq, object, "entry %d was changed: its stored bytes are not the form that was signed (its signed content is intact)", seq)
	default:
		v.report.Keys[e.KeyID]++
	}
	switch {
	case e.Seq != seq:
	case seq == 1 && e.Prev != "":
		v.problem(ProblemReordered, seq, object, "entry 1 names a previous entry (%s): entries before it were removed and the rest renumbered, or it was spliced in", short(e.Prev))
	case prev != nil && e.Prev != prev.Hash:
		v.problem(ProblemReordered, seq, object, "entry %d does not follow entry %d: it names %s as its previous entry, but entry %d's hash is %s",
			seq, seq-1, short(e.Prev), seq-1, short(prev.Hash))
	}
	return e, true
}

// head checks the head, as read with err, against the entries found.
func (v *verifier) head(h Head, err error, seqs []uint64) {
	object := v.prefix + headName
	var last uint64
	if len(seqs) > 0 {
		last = seqs[len(seqs)-1]
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if last > 0 {
			v.problem(ProblemHead, 0, object, "the head (%s) is missing: entries removed from the end cannot be ruled out (unless the first append was interrupted before writing it; the next append writes it)", object)
		}
		return
	case err != nil:
		v.problem(ProblemChanged, 0, object, "the head was changed: %v", err)
		return
	}
	v.report.Head = &h
	hash, err := h.computeHash()
	key, known := v.keys[h.KeyID]
	switch {
	case err != nil:
		v.problem(ProblemChanged, 0, object, "the head was changed: %v", err)
		return
	case !known:
		v.problem(ProblemUnknownKey, 0, object, "the head is signed with unknown key %q: if it is a former signing key, add its public key to audit.verify_keys; otherwise the head is forged", h.KeyID)
		return
	case !verify(key, hash, h.Sig):
		v.problem(ProblemChanged, 0, object, "the head was changed: its signature does not verify with key %s", h.KeyID)
		return
	}
	switch {
	case h.Seq > last:
		from := last + 1
		what := fmt.Sprintf("entries %d to %d are missing", from, h.Seq)
		if from == h.Seq {
			what = fmt.Sprintf("entry %d is missing", h.Seq)
		}
		v.problem(ProblemMissing, from, entryName(v.prefix, from), "%s: removed from the end (the head records entry %d, the last entry is %d)", what, h.Seq, last)
	case h.Seq == 0:
	case v.headStored != nil && *v.headStored != h.Hash:
		v.problem(ProblemChanged, h.Seq, entryName(v.prefix, h.Seq), "entry %d was replaced: the head records its hash as %s, it is %s",
			h.Seq, short(h.Hash), short(*v.headStored))
	}
}

// short abbreviates a hash for messages.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12] + "…"
	}
	return hash
}
