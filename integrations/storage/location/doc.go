// Package location turns a repository location — a path, file://, local:, s3:// or gs:// URL —
// into the storage backend it names.
package location
