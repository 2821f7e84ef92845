// Package sla computes a service's composite availability from the configuration's services:
// components in series, redundant members in parallel less their failover time, and the services
// it depends on; it names the component that limits it and estimates the downtime a year from the
// RTOs its plans' drills measured.
package sla
