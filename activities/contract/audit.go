package contract

import "time"

// Application error types of AppendAudit that retrying cannot fix.
const (
	// ErrTypeAuditEntryInvalid: the ledger refuses the entry as given (a kind that is no word,
	// text that is not UTF-8, an entry over 64 KiB).
	ErrTypeAuditEntryInvalid = "AuditEntryInvalid"
	// ErrTypeAuditLedgerDamaged: the end of the ledger cannot be read, so no entry can be chained
	// onto it; `lifeboat audit verify` names what is wrong.
	ErrTypeAuditLedgerDamaged = "AuditLedgerDamaged"
)

// AppendAuditInput is one event for the audit ledger: who did what, through which channel, to
// which workflow. The ledger adds the sequence number, the chain and the signature.
type AppendAuditInput struct {
	// ID makes the append idempotent: an entry with this ID among the ledger's last 64 is returned
	// instead of a new one. Empty: the calling activity's workflow ID, run ID and activity ID,
	// which its retries share.
	ID string `json:"id,omitempty"`
	// Time is when it happened; workflows pass workflow.Now. Zero: when the activity runs.
	Time time.Time `json:"time,omitzero"`
	// Kind is what happened: start, decision, refusal, acknowledgement, silence, override,
	// plan-change, config-change (the audit package's Kind constants), or another lower-case word.
	Kind string `json:"kind"`
	// Actor is the person's ID; empty for the system.
	Actor string `json:"actor,omitempty"`
	// Channel is how it reached Lifeboat: cli, slack, temporal, schedule, intake.
	Channel string `json:"channel,omitempty"`
	// Verified says that the actor's identity was verified cryptographically, not just named.
	Verified bool `json:"verified,omitempty"`
	// Workflow and Run are the workflow it concerns. Empty: the calling workflow's.
	Workflow string `json:"workflow,omitempty"`
	Run      string `json:"run,omitempty"`
	// Subject is what it concerns: a plan, a gate, an asset.
	Subject string `json:"subject,omitempty"`
	// Details are further facts: a reason, a choice, a quorum.
	Details map[string]string `json:"details,omitempty"`
}

// AppendAuditResult is the entry as recorded.
type AppendAuditResult struct {
	// Skipped is true when the worker has no audit ledger configured: nothing was recorded.
	Skipped bool `json:"skipped,omitempty"`
	// Seq and Hash identify the entry in the ledger; Time is its time, in UTC.
	Seq  uint64    `json:"seq,omitempty"`
	Hash string    `json:"hash,omitempty"`
	Time time.Time `json:"time,omitzero"`
	// Existing is true when an earlier attempt had recorded the entry already.
	Existing bool `json:"existing,omitempty"`
}

// The kinds of ledger entries Lifeboat writes (AppendAuditInput.Kind).
const (
	AuditKindStart           = "start"           // a workflow (recovery, drill, restore) was started
	AuditKindDecision        = "decision"        // an approval gate was approved or rejected, or a choice made
	AuditKindRefusal         = "refusal"         // a start or decision was refused: unknown person, wrong role, identity not verified
	AuditKindAcknowledgement = "acknowledgement" // someone acknowledged a step's escalation
	AuditKindSilence         = "silence"         // someone silenced every escalation of a run
	AuditKindOverride        = "override"        // a rule was set aside: a quorum lowered to the people left
	AuditKindPlanChange      = "plan-change"     // a recovery plan a worker serves changed
	AuditKindConfigChange    = "config-change"   // the worker's configuration changed
)
