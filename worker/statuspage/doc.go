// Package statuspage serves the public status page at /status and /status.json: the components an
// operator configures, each operational, degraded, in outage or under maintenance as derived from the
// running recoveries, drills and RPO watchdogs in Temporal, with the active recoveries and the
// incidents of the last two weeks.
package statuspage
