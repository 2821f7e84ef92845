// Package retention decides which backup snapshots a retention policy keeps and says why, in words an
// operator can check: "daily 2026-11-20", "weekly 2026-W47", "within 30d", "tag keep-forever". It is pure
// (no I/O, no clock), so the same snapshots and policy always give the same decisions.
package retention
