// Package temporalserver runs the Temporal server as a cluster of one process per service on
// PostgreSQL: what `lifeboat dev --cluster` starts, and what the cluster tests run against.
package temporalserver
