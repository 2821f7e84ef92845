package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("object not found")

// ErrExists is returned (wrapped) by Create when an object of that name already exists.
var ErrExists = errors.New("object already exists")

// Info describes a stored object.
type Info struct {
	// Name is the object's full name, as given to Put.
	Name string
	// Size is its length in bytes.
	Size int64
}

// Backend stores named objects. Names are relative slash-separated paths such as "data/ab/ab12…";
// they never start with "/" and never contain "." or ".." elements. Implementations are safe for
// concurrent use.
type Backend interface {
	// Put stores the size bytes read from r under name. It is atomic: a concurrent or later reader
	// sees either the complete object or none, never a part, even if the process dies mid-write. An
	// existing object of that name is replaced. If r fails or yields other than size bytes, Put
	// returns an error and stores nothing.
	Put(ctx context.Context, name string, r io.Reader, size int64) error

	// Create is Put for objects that must never be replaced: it stores the object only if no
	// object of that name exists, and otherwise returns an error wrapping ErrExists and leaves the
	// existing object as it was. The check and the write are one atomic step: of any number of
	// concurrent Creates of one name, exactly one succeeds and the object holds its bytes. Like
	// Put it is atomic for readers and stores nothing when r fails or yields other than size
	// bytes.
	Create(ctx context.Context, name string, r io.Reader, size int64) error

	// Get returns a reader over length bytes of the object starting at offset; length < 0 reads to
	// the end. It returns an error wrapping ErrNotFound when the object does not exist. A range that
	// extends past the end yields the bytes that exist; callers check lengths themselves.
	Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)

	// Stat returns the object's Info, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, name string) (Info, error)

	// List calls fn for every object whose name starts with prefix, in no particular order. An error
	// from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(Info) error) error

	// Delete removes the object. Deleting an object that does not exist is not an error.
	Delete(ctx context.Context, name string) error

	// Location names the backend in messages, without credentials: "/srv/backups",
	// "s3:bucket/prefix", "gs:bucket/prefix".
	Location() string
}

// TempLister is implemented by backends that write objects through temporary files and can be left
// with some when a process dies mid-write (the local backend). Temporary files are never objects:
// List, Get and Stat do not see them.
type TempLister interface {
	// Temps calls fn for every temporary file, in no particular order. An error from fn stops the
	// listing and is returned.
	Temps(ctx context.Context, fn func(TempInfo) error) error
	// RemoveTemp deletes the temporary file name, as reported by Temps. It refuses names that are
	// not temporary files; a file that no longer exists is not an error.
	RemoveTemp(ctx context.Context, name string) error
}

// TempInfo describes a temporary file.
type TempInfo struct {
	// Name is its slash-separated path relative to the backend's root.
	Name string
	// Size is its length in bytes.
	Size int64
	// ModTime is when it was last written to.
	ModTime time.Time
}

// ExpectEOF is for Put implementations: it reports an error when r has more to give than the size
// Put was told.
func ExpectEOF(r io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	switch {
	case n > 0:
		return errors.New("reader yields more bytes than the given size")
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("after the last byte: %w", err)
	}
}

// ReadAll reads a whole object.
func ReadAll(ctx context.Context, b Backend, name string) ([]byte, error) {
	rc, err := b.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
