// Package probe runs single health-check attempts against HTTP endpoints, TCP ports and PostgreSQL
// servers. Thresholds and retries across attempts belong to the health-probe workflow; this package only
// answers "did this one attempt pass, how fast, and why not".
package probe
