// Package snappath checks the paths inside snapshots that users give, so that the CLI, the workflows
// and the restore engine refuse the same ones.
package snappath

import (
	"fmt"
	"path"
	"strings"
)

// Clean checks a path inside a snapshot as a user gives it (the CLI's --path, an
// activity's input) and returns it cleaned: slash-separated, relative to the snapshot's root,
// without "." elements, repeated or trailing slashes. "" and "." name the whole snapshot and
// return "". It returns an error for an absolute path ("/d": give it as "d"), for any ".."
// element and for a NUL byte, so that no path given by a user can widen what is restored or
// reach outside the snapshot.
func Clean(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("snapshot path %q contains a NUL byte", p)
	}
	if strings.HasPrefix(p, "/") {
		rel := strings.TrimLeft(path.Clean(p), "/")
		if rel == "" {
			return "", fmt.Errorf("snapshot path %q is absolute: give it relative to the snapshot root, or \".\" for all of it", p)
		}
		return "", fmt.Errorf("snapshot path %q is absolute: give it relative to the snapshot root, as %q", p, rel)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("snapshot path %q has a \"..\" element: a path inside a snapshot cannot go up", p)
		}
	}
	c := path.Clean(p)
	if c == "." {
		return "", nil
	}
	return c, nil
}
