// Package pgtest runs throwaway PostgreSQL clusters for tests: a primary on a loopback port and,
// on request, a streaming replica of it.
package pgtest
