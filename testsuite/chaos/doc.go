// Package chaos is Lifeboat's fault harness: it kills workers and the Temporal server at random
// moments, crashes the backup engine after any write, and puts faults between the engine and object
// storage, then checks that no data was lost, that nothing the user did not ask to change changed,
// and that no side effect ran twice. The package holds the pieces the scenarios are built from; the
// scenarios themselves are its tests (`make chaos`), described in docs/fault-harness.md.
package chaos
