package repository

import (
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

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
