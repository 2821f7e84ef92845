// Package faultproxy injects storage faults — 5xx answers, connection resets, slow responses —
// between a client and a real HTTP server, for the fault harness.
package faultproxy
