package repository

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// setFileTimes sets a restored file's times by name, relative to its directory.
func setFileTimes(_ *os.File, dir *os.Root, name string, t time.Time) error {
	return dir.Chtimes(name, t, t)
}

// currentUmask is unknown here without changing it: every permission bit counts as masked, so
// restore sets modes explicitly.
func currentUmask() fs.FileMode { return fs.ModePerm }

func modTime(st *syscall.Stat_t) time.Time {
	return time.Unix(st.Mtimespec.Sec, st.Mtimespec.Nsec).UTC()
}

func changeTime(st *syscall.Stat_t) time.Time {
	return time.Unix(st.Ctimespec.Sec, st.Ctimespec.Nsec).UTC()
}
