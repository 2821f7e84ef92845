// Package storagetest is the conformance suite for storage.Backend: every implementation runs Run
// and so proves it keeps each documented contract.
package storagetest
