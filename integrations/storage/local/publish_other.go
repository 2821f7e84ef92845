//go:build !linux

package local

// publishNoReplace gives the file at tmp the name p unless p exists, atomically, with link(2).
// When p exists the error wraps fs.ErrExist.
func publishNoReplace(tmp, p string) error { return linkNoReplace(tmp, p) }
