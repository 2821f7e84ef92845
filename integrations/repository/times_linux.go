package repository

import (
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// setFileTimes sets an open file's access and modification times through its descriptor
// (utimensat with a NULL path, which is futimens), without resolving its path again.
func setFileTimes(f *os.File, _ *os.Root, _ string, t time.Time) error {
	ts := [2]syscall.Timespec{syscall.NsecToTimespec(t.UnixNano()), syscall.NsecToTimespec(t.UnixNano())}
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := conn.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_UTIMENSAT, fd, 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	}); err != nil {
		return err
	}
	if errno != 0 {
		return &os.PathError{Op: "futimens", Path: f.Name(), Err: errno}
	}
	return nil
}

// currentUmask reads the process umask from /proc without changing it (changing it, even briefly,
// would race with other goroutines creating files). When it cannot be read, every permission bit
// counts as masked, so that restore always sets modes explicitly.
func currentUmask() fs.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fs.ModePerm
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				break
			}
			return fs.FileMode(m) & fs.ModePerm
		}
	}
	return fs.ModePerm
}

func modTime(st *syscall.Stat_t) time.Time    { return time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC() }
func changeTime(st *syscall.Stat_t) time.Time { return time.Unix(st.Ctim.Sec, st.Ctim.Nsec).UTC() }
