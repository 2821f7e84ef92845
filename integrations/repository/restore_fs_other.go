//go:build unix && !linux

package repository

import "golang.org/x/sys/unix"

// renameNoReplace moves from to to in dfd unless to exists (then unix.EEXIST), by link and
// unlink.
func renameNoReplace(dfd int, from, to string) error { return linkNoReplace(dfd, from, to) }

// setFDTimes sets a file's access and modification times by its name in dfd.
func setFDTimes(_, dfd int, name string, ts *[2]unix.Timespec) error {
	return unix.UtimesNanoAt(dfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW)
}

// syncFS writes every file system to stable storage.
func syncFS(int) error { return unix.Sync() }

// Directories are not marked here: after a crash, a retry treats the directories an earlier
// attempt created as existing ones.
func setCreatedMark(int, string)      {}
func hasCreatedMark(int, string) bool { return false }
func clearCreatedMark(int)            {}
