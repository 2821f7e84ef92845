// Package e2e drives the built lifeboat and lifeboat-worker binaries end to end against a real
// Temporal dev server and PostgreSQL, with the real temporal CLI as a client.
package e2e
