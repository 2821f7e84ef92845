package pgtest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Crash stops the server at once, as `pg_ctl stop -m immediate` does (SIGQUIT to the postmaster):
// sessions are cut off, no shutdown checkpoint is written and no last WAL reaches the replicas,
// as when the machine fails. It returns once the server has exited; after that, Stop does
// nothing. Crashing a server that has already exited does nothing.
func (c *Cluster) Crash() error {
	select {
	case <-c.proc.Done():
		return nil
	default:
	}
	f, err := os.Open(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("pgtest: crash server on port %d: %w", c.Port, err)
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	f.Close()
	if err != nil {
		return fmt.Errorf("pgtest: crash server on port %d: read postmaster.pid: %w", c.Port, err)
	}
	pid, err := strconv.Atoi(line[:len(line)-1])
	if err != nil {
		return fmt.Errorf("pgtest: crash server on port %d: postmaster.pid starts with %q", c.Port, line)
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("pgtest: crash server on port %d: signal postmaster %d: %w", c.Port, pid, err)
	}
	select {
	case <-c.proc.Done():
		return nil
	case <-time.After(startTimeout):
		return fmt.Errorf("pgtest: crash server on port %d: still running %s after SIGQUIT", c.Port, startTimeout)
	}
}
