// Package repo locates the module root and its ./bin tools, hands out loopback ports and runs
// services in the background for tests that need the real thing.
package repo
