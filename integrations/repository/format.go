package repository

import (
	"errors"
	"fmt"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// FormatVersion is the repository format this code writes and reads.
const FormatVersion = 1

// Object name prefixes in the backend.
const (
	configName      = "config"
	keysPrefix      = "keys/"
	dataPrefix      = "data/"
	indexPrefix     = "index/"
	snapshotsPrefix = "snapshots/"
	locksPrefix     = "locks/"
)

func packName(id ID) string {
	s := id.String()
	return dataPrefix + s[:2] + "/" + s
}

// BlobType says what a blob holds.
type BlobType uint8

// Blob types.
const (
	DataBlob BlobType = 1 // a chunk of file content
	TreeBlob BlobType = 2 // a directory listing
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("blob type %d", uint8(t))
}

// Errors callers can test for with errors.Is.
var (
	// ErrWrongCredentials: no key slot opens with the passphrase or key file given.
	ErrWrongCredentials = errors.New("wrong passphrase or key file: no key slot of this repository opens with it")
	// ErrNotARepository: the location holds no repository config.
	ErrNotARepository = errors.New("no repository here (run `lifeboat repo init` first)")
	// ErrAlreadyExists: init found a repository already.
	ErrAlreadyExists = errors.New("a repository already exists here")
	// ErrCorrupt: stored data failed authentication or does not parse.
	ErrCorrupt = errors.New("repository data is damaged")
	// ErrLocked: another process holds a conflicting lock.
	ErrLocked = errors.New("repository is locked")
	// ErrNoSnapshot: no snapshot matches.
	ErrNoSnapshot = errors.New("no matching snapshot")
	// ErrLockLost: the lock this operation took is no longer its own — a retry of the same job took
	// it over, or it was removed as stale — so the operation stopped without committing.
	ErrLockLost = errors.New("repository lock lost")
	// ErrUnindexedPacks: pack files exist that no index file names; prune refuses to run until
	// RepairIndex has read them.
	ErrUnindexedPacks = errors.New("packs in no index")
)

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

type storageInfo = storage.Info
