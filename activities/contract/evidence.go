package contract

import "github.com/lifeboat-dr/lifeboat/integrations/evidence"

// The evidence activities' names.
const (
	// WriteEvidence signs and stores the evidence record of a drill or verification.
	WriteEvidence = "WriteEvidence"
	// LoadDrillSchedules says which plans the worker's configuration drills on schedules, and as
	// whom.
	LoadDrillSchedules = "LoadDrillSchedules"
)

// Application error types of WriteEvidence that retrying cannot fix.
const (
	// ErrTypeEvidenceInvalid: the record cannot be stored as given.
	ErrTypeEvidenceInvalid = "EvidenceInvalid"
	// ErrTypeEvidenceConflict: another record is stored under the record's name.
	ErrTypeEvidenceConflict = "EvidenceConflict"
)

// WriteEvidenceInput is a record for the evidence store. The worker sets ConfigSHA256.
type WriteEvidenceInput struct {
	Record evidence.Record `json:"record"`
}

// WriteEvidenceResult says where the record went.
type WriteEvidenceResult struct {
	// Skipped is true when the worker keeps no evidence (no evidence.location).
	Skipped bool `json:"skipped,omitempty"`
	// ID names the record in the store (lifeboat evidence show ID); Location is the store's.
	ID       string `json:"id,omitempty"`
	Location string `json:"location,omitempty"`
	// Existing is true when an earlier attempt had stored the record already.
	Existing bool `json:"existing,omitempty"`
}

// LoadDrillSchedulesInput asks for the worker's scheduled drills.
type LoadDrillSchedulesInput struct{}

// LoadDrillSchedulesResult is what the worker's configuration says of scheduled drills.
type LoadDrillSchedulesResult struct {
	// Requester is the identity the drill schedules start drills as, "schedule:<schedules.owner>";
	// empty when the configuration drills nothing on schedules.
	Requester string `json:"requester,omitempty"`
	// Plans are the plans drilled on schedules (recovery.drills), sorted.
	Plans []string `json:"plans,omitempty"`
}
