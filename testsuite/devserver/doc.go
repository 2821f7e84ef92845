// Package devserver starts a real Temporal dev server (bin/temporal server start-dev) on loopback
// ports for a test and stops it when the test ends.
package devserver
