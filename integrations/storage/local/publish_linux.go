package local

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// publishNoReplace gives the file at tmp the name p unless p exists, atomically: renameat2 with
// RENAME_NOREPLACE, or link(2) on file systems without it (some network and FUSE file systems).
// When p exists the error wraps fs.ErrExist.
func publishNoReplace(tmp, p string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, p, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return linkNoReplace(tmp, p)
	}
	return &os.LinkError{Op: "renameat2", Old: tmp, New: p, Err: err}
}
