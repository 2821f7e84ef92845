// Package storage defines the small interface every place a backup repository can live implements —
// local disk, S3 and S3-compatible servers, Google Cloud Storage — and the errors they share. Each
// implementation is a subpackage; testsuite/storagetest holds the conformance suite they all pass.
package storage
