// Package cluster starts, for a test, a Temporal cluster of one process per service on a
// throwaway PostgreSQL (integrations/temporalserver) and Lifeboat worker processes against it.
package cluster
