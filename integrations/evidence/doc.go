// Package evidence keeps signed evidence of drills and restore verifications: one record per
// run, as a DSSE envelope signed with Ed25519, stored in any storage.Backend under a name that
// orders records by time and that a record is never written over.
package evidence
