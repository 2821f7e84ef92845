package chaos_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/testsuite/chaos"
)

// repoSnapshot is a row of `lifeboat repo snapshots -o json`.
type repoSnapshot struct {
	ID      string              `json:"id"`
	Time    time.Time           `json:"time"`
	Source  string              `json:"source"`
	Paths   []string            `json:"paths"`
	Job     string              `json:"job"`
	Summary *repository.Summary `json:"summary"`
}

func repoEnv(location string) []string {
	return []string{"LIFEBOAT_REPO=" + location, "LIFEBOAT_REPO_PASSWORD=" + repoPassword}
}

// snapshots lists the repository's snapshots with `lifeboat repo snapshots`.
func (tr *trial) snapshots(location string) ([]repoSnapshot, error) {
	var out []repoSnapshot
	err := tr.mustLifeboat("", repoEnv(location), &out, "repo", "snapshots", "-o", "json")
	return out, err
}

// check runs `lifeboat repo check --read-data` and fails unless it finds nothing wrong. Packs in
// no index and temporary files are allowed: they are in the report.
func (tr *trial) check(location string) (*repository.CheckReport, error) {
	r, err := tr.lifeboat("", repoEnv(location), "repo", "check", "--read-data", "-o", "json")
	if err != nil {
		return nil, err
	}
	var rep repository.CheckReport
	if jerr := json.Unmarshal([]byte(r.stdout), &rep); jerr != nil {
		return nil, fmt.Errorf("repo check --read-data of %s: %s", location, r)
	}
	if r.code != 0 || !rep.OK() {
		return &rep, fmt.Errorf("repo check --read-data of %s: exit %d, problems %q, damaged %v", location, r.code, rep.Problems, rep.Damaged)
	}
	return &rep, nil
}

// restoreSnapshot restores a snapshot into a new directory with `lifeboat repo restore` and
// compares it with want.
func (tr *trial) restoreSnapshot(location, id, target string, want chaos.Tree) error {
	if err := tr.mustLifeboat("", repoEnv(location), nil, "repo", "restore", id, "--target", target, "-o", "json"); err != nil {
		return err
	}
	if err := checkTreeSame(fmt.Sprintf("snapshot %.8s restored", id), target, want, chaos.Compare{}); err != nil {
		return err
	}
	return os.RemoveAll(target)
}

// unindexedBytes adds up the sizes of the packs a local repository's check found in no index (it
// names them by short ID).
func unindexedBytes(repoDir string, short []string) int64 {
	var n int64
	for _, s := range short {
		matches, _ := filepath.Glob(filepath.Join(repoDir, "data", s[:2], s+"*"))
		for _, m := range matches {
			if strings.Contains(filepath.Base(m), ".tmp-") {
				continue
			}
			if fi, err := os.Stat(m); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

// locksLeft lists the lock files of a local repository.
func locksLeft(repoDir string) []string {
	entries, _ := os.ReadDir(filepath.Join(repoDir, "locks"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// jobSnapshots returns the snapshots made by job.
func jobSnapshots(snaps []repoSnapshot, job string) []repoSnapshot {
	var out []repoSnapshot
	for _, s := range snaps {
		if s.Job == job {
			out = append(out, s)
		}
	}
	return out
}
