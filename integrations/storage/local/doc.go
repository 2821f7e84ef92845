// Package local stores a backup repository's objects as files under a directory on local disk or a
// mounted file system, writing each one atomically (temporary file, fsync, rename, fsync).
package local
