package repository

import (
	"errors"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// renameNoReplace moves from to to in dfd unless to exists (then unix.EEXIST), atomically
// (renameat2 RENAME_NOREPLACE); on file systems without it, by link and unlink.
func renameNoReplace(dfd int, from, to string) error {
	err := unix.Renameat2(dfd, from, dfd, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		return linkNoReplace(dfd, from, to)
	}
	return err
}

// setFDTimes sets an open file's access and modification times (futimens).
func setFDTimes(fd, _ int, _ string, ts *[2]unix.Timespec) error {
	_, _, errno := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// syncFS writes the file system holding fd to stable storage.
func syncFS(fd int) error { return unix.Syncfs(fd) }

// createdMark names the extended attribute that marks a directory a restore created until it is
// stamped, so that a retry of the same job after a crash knows it as its own.
const createdMark = "user.lifeboat.restore"

func setCreatedMark(fd int, token string) { _ = unix.Fsetxattr(fd, createdMark, []byte(token), 0) }

func hasCreatedMark(fd int, token string) bool {
	buf := make([]byte, 128)
	n, err := unix.Fgetxattr(fd, createdMark, buf)
	return err == nil && string(buf[:n]) == token
}

func clearCreatedMark(fd int) { _ = unix.Fremovexattr(fd, createdMark) }
