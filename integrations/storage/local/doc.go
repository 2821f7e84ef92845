// Package local stores a backup repository's objects as files under a directory on local disk or a
// mounted file system, writing each one atomically (temporary file, fsync, rename, fsync) and, for
// Create, without ever replacing one (renameat2 RENAME_NOREPLACE or link). It lists the temporary
// files a killed process leaves behind, so that they can be reported and removed.
package local
