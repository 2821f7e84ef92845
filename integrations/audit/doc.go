// Package audit keeps Lifeboat's audit ledger: an append-only record of who started, decided,
// refused or overrode what, hash-chained and signed with Ed25519 so that an entry changed, removed,
// moved or forged in storage is found by Verify. It stores one object per entry in any
// storage.Backend, and on S3 with Object Lock every object is retained.
package audit
