package temporalserver

import (
	"os"
	"os/exec"
	"sort"
	"syscall"
	"time"
)

// process is one running service.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// startProcess starts cmd in its own process group (Ctrl-C in a terminal reaches only the parent,
// which stops services in order); the kernel ends it if the parent dies.
func startProcess(cmd *exec.Cmd, log *os.File) (*process, error) {
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and waits, killing the process after grace.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func sortStrings(s []string) { sort.Strings(s) }
