package repository

import (
	"io/fs"
	"syscall"
	"time"
)

// currentUmask is unknown here without changing it: every permission bit counts as masked, so
// restore sets modes explicitly.
func currentUmask() fs.FileMode { return fs.ModePerm }

func modTime(st *syscall.Stat_t) time.Time {
	return time.Unix(st.Mtimespec.Sec, st.Mtimespec.Nsec).UTC()
}

func changeTime(st *syscall.Stat_t) time.Time {
	return time.Unix(st.Ctimespec.Sec, st.Ctimespec.Nsec).UTC()
}
