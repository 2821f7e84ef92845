package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
	"unicode/utf8"
)

// Kinds of entries. Kind is a plain string, so that a new kind needs no change here; these are the
// kinds Lifeboat writes.
const (
	KindStart           = "start"           // a workflow (recovery, drill, restore) was started
	KindDecision        = "decision"        // an approval gate was approved, or a choice made
	KindRefusal         = "refusal"         // a decision was refused: unknown person, wrong role, identity not verified
	KindAcknowledgement = "acknowledgement" // someone acknowledged an alert or an escalation
	KindSilence         = "silence"         // an alert or a watchdog was silenced
	KindOverride        = "override"        // a rule was set aside: a gate skipped, a quorum lowered
	KindPlanChange      = "plan-change"     // a recovery plan changed
	KindConfigChange    = "config-change"   // the worker's configuration changed
)

// Channels by which an action reached Lifeboat.
const (
	ChannelCLI      = "cli"      // the lifeboat command
	ChannelSlack    = "slack"    // a Slack button
	ChannelTemporal = "temporal" // Temporal's Web UI or CLI, straight to the workflow
	ChannelSchedule = "schedule" // a Temporal Schedule
	ChannelIntake   = "intake"   // alert intake (Alertmanager, signed webhooks)
)

// Limits on what an entry may hold. An entry records a decision, not its evidence: large evidence
// belongs in a report or a repository, and the entry names it.
const (
	// MaxEntrySize is the largest encoded entry, in bytes.
	MaxEntrySize = 64 << 10
	// MaxIDLength is the longest Entry.ID.
	MaxIDLength = 512
)

// Entry is one record of the ledger. Callers fill in what happened (Time to Details, and ID to make
// the append idempotent); Append fills in Seq, Prev, KeyID, Hash and Sig.
//
// The JSON encoding of an Entry, in the field order below and with map keys sorted (as
// encoding/json writes them), is its canonical form: an entry is stored as exactly those bytes and
// a newline, and Hash is computed over the canonical form of the entry without Hash and Sig.
type Entry struct {
	// Seq numbers the entries from 1, without gaps.
	Seq uint64 `json:"seq"`
	// ID is an optional key chosen by the caller (such as workflowID/runID/event) that makes Append
	// idempotent: an entry with the same ID among the last IdempotencyWindow entries is returned
	// instead of a new one being appended.
	ID string `json:"id,omitempty"`
	// Time is when it happened, in UTC. Append sets it to now when it is zero.
	Time time.Time `json:"time"`
	// Kind is what happened: one of the Kind constants, or another lower-case word.
	Kind string `json:"kind"`
	// Actor is the ID of the person who did it; empty for the system itself.
	Actor string `json:"actor,omitempty"`
	// Channel is how it reached Lifeboat: one of the Channel constants, or another lower-case word.
	Channel string `json:"channel,omitempty"`
	// Verified says that the actor's identity was verified cryptographically (a signed assertion,
	// a Slack request signature), not just named by the caller.
	Verified bool `json:"verified"`
	// Workflow and Run are the Temporal workflow ID and run ID it concerns.
	Workflow string `json:"workflow,omitempty"`
	Run      string `json:"run,omitempty"`
	// Subject is what it concerns: a plan, a gate, an asset.
	Subject string `json:"subject,omitempty"`
	// Details are further facts: a reason, a choice, a quorum.
	Details map[string]string `json:"details,omitempty"`
	// Prev is the Hash of the entry before; empty for entry 1.
	Prev string `json:"prev,omitempty"`
	// KeyID names the key that signed the entry (see KeyID).
	KeyID string `json:"key_id"`
	// Hash is the hex SHA-256 of the domain string "lifeboat audit entry v1\n" followed by the
	// canonical form of the entry without Hash and Sig.
	Hash string `json:"hash,omitempty"`
	// Sig is the base64 Ed25519 signature, by the key KeyID names, of the 32 bytes Hash encodes.
	Sig string `json:"sig,omitempty"`
}

// entryDomain separates entry hashes from every other hash the same key signs (the head's).
const entryDomain = "lifeboat audit entry v1\n"

// word is what kinds and channels look like.
var word = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)

// check reports what is wrong with an entry a caller gives Append, every problem at once.
func (e Entry) check() error {
	var errs []error
	if !word.MatchString(e.Kind) {
		errs = append(errs, fmt.Errorf("kind %q: give a lower-case word such as %q", e.Kind, KindDecision))
	}
	if e.Channel != "" && !word.MatchString(e.Channel) {
		errs = append(errs, fmt.Errorf("channel %q: give a lower-case word such as %q", e.Channel, ChannelCLI))
	}
	if len(e.ID) > MaxIDLength {
		errs = append(errs, fmt.Errorf("id is %d bytes long: at most %d", len(e.ID), MaxIDLength))
	}
	if e.Seq != 0 || e.Prev != "" || e.KeyID != "" || e.Hash != "" || e.Sig != "" {
		errs = append(errs, errors.New("seq, prev, key_id, hash and sig are set by Append: leave them empty"))
	}
	if y := e.Time.Year(); !e.Time.IsZero() && (y < 1970 || y > 9999) {
		errs = append(errs, fmt.Errorf("time %s: give a time between the years 1970 and 9999", e.Time))
	}
	texts := map[string]string{"id": e.ID, "actor": e.Actor, "workflow": e.Workflow, "run": e.Run, "subject": e.Subject}
	for k, v := range e.Details {
		texts["details key "+k] = k
		texts["details["+k+"]"] = v
	}
	for field, v := range texts {
		if !utf8.ValidString(v) {
			errs = append(errs, fmt.Errorf("%s is not valid UTF-8", field))
		}
	}
	return errors.Join(errs...)
}

// computeHash returns the entry's Hash: the hex SHA-256 of entryDomain and its canonical form
// without Hash and Sig.
func (e Entry) computeHash() (string, error) {
	e.Hash, e.Sig = "", ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(entryDomain))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// encode returns the entry's stored form: its canonical JSON and a newline.
func (e Entry) encode() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeEntry reads a stored entry strictly: one JSON object of known fields and nothing after it.
// It does not check the hash or the signature (see checkEntry).
func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) > MaxEntrySize {
		return e, fmt.Errorf("more than %d bytes, larger than any entry", MaxEntrySize)
	}
	if err := decodeStrict(b, &e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// decodeStrict decodes exactly one JSON value of known fields from b.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not JSON of a ledger object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("not JSON of a ledger object: more follows the object")
	}
	return nil
}
