package repository

import (
	"errors"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// The restore works on directory descriptors with the *at system calls: every name it creates,
// opens, renames or removes is a single path element relative to a directory it opened itself,
// without following symlinks. Tree names cannot contain "/" or be "." or ".." (Tree.Validate), so
// nothing can lead it outside the target.

// openTarget opens the restore target directory (following symlinks: the caller named it).
func openTarget(path string) (int, error) {
	return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// openDirAt opens the directory name in dfd, refusing a symlink.
func openDirAt(dfd int, name string) (int, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return -1, errors.New("exists and is not a directory")
	}
	return fd, err
}

// createFile creates name in dfd for writing; it fails if anything exists under that name.
func createFile(dfd int, name string, perm uint32) (int, error) {
	return unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
}

// reopenFile opens an existing file of the restore's own for writing again.
func reopenFile(dfd int, name string) (int, error) {
	return unix.Openat(dfd, name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// readDirNames lists a directory's entries, "." and ".." excluded.
func readDirNames(dfd int) ([]string, error) {
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 64<<10)
	var names []string
	for {
		n, err := unix.ReadDirent(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// readlinkAt returns a symlink's target, or "" when it cannot be read.
func readlinkAt(dfd int, name string) string {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return ""
		}
		if n < size {
			return string(buf[:n])
		}
	}
	return ""
}

// pwriteFull writes all of b at off.
func pwriteFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// preadFull reads len(b) bytes at off; fewer is io.ErrUnexpectedEOF.
func preadFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pread(fd, b, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// sameFiles reports whether two open files have the same content.
func sameFiles(a, b int) bool {
	var sa, sb unix.Stat_t
	if unix.Fstat(a, &sa) != nil || unix.Fstat(b, &sb) != nil || sa.Size != sb.Size {
		return false
	}
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); off < sa.Size; off += int64(len(ba)) {
		n := int(min(int64(len(ba)), sa.Size-off))
		if preadFull(a, ba[:n], off) != nil || preadFull(b, bb[:n], off) != nil || string(ba[:n]) != string(bb[:n]) {
			return false
		}
	}
	return true
}

func statMtime(st *unix.Stat_t) time.Time {
	return time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec))
}

// linkNoReplace moves from to to in dfd unless to exists (then unix.EEXIST): a hard link under the
// new name, then the old name removed.
func linkNoReplace(dfd int, from, to string) error {
	if err := unix.Linkat(dfd, from, dfd, to, 0); err != nil {
		return err
	}
	return unix.Unlinkat(dfd, from, 0)
}
