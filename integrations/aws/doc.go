// Package aws takes, waits for, copies across regions, lists and deletes Amazon RDS and EBS
// snapshots, idempotently, so that retried calls never leave duplicates behind.
package aws
