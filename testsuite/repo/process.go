package repo

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// tailSize is how much of a process's output is kept for failure messages.
const tailSize = 8 << 10

// stopGrace is how long Stop waits after the stop signal before it kills the process.
const stopGrace = 10 * time.Second

// Process is a service running in the background for a test. Its combined stdout and stderr are
// kept (the last few kilobytes) so that failures can show what the service said.
type Process struct {
	name string
	cmd  *exec.Cmd
	out  *tail
	stop os.Signal
	done chan struct{}
	err  error // set before done is closed

	shown atomic.Bool // Tail was called, so the output is already in a message

	stopOnce sync.Once
	stopErr  error
}

// StartProcess starts cmd in the background and stops it when the test ends. stop is the signal
// that asks the service to shut down (os.Interrupt, syscall.SIGTERM, ...); Stop sends SIGKILL
// if the service is still running 10 seconds later. The service also dies with the test binary.
// name labels the process in messages. If the test fails, the output is logged at the end unless
// Tail already put it in a message. On failure to start, the test fails.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd, stop os.Signal) *Process {
	Integration(t, name)
	t.Helper()
	p := &Process{name: name, cmd: cmd, out: &tail{}, stop: stop, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	dieWithParent(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start %s: %v", name, cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if t.Failed() && !p.shown.Load() {
			t.Logf("%s output (tail):\n%s", name, p.Tail())
		}
	})
	return p
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// PID is the process's ID, for reading what the system accounts to it (CPU time, memory).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Err returns how the process exited; call it only after Done is closed.
func (p *Process) Err() error { return p.err }

// Tail returns the last few kilobytes of the process's combined output.
func (p *Process) Tail() string {
	p.shown.Store(true)
	return p.out.String()
}

// Stop asks the process to shut down with its stop signal and waits for it, killing it after 10
// seconds. It is safe to call more than once; only the first call acts.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		if err := p.cmd.Process.Signal(p.stop); err != nil {
			p.stopErr = fmt.Errorf("signal %s: %w", p.stop, err)
		}
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("did not stop within %s of %s; killed", stopGrace, p.stop)
		}
	})
	return p.stopErr
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it to exit.
func (p *Process) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("%s: kill: %w", p.name, err)
	}
	<-p.done
	return nil
}

// tail is an io.Writer that keeps the last tailSize bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tail) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	if over := len(w.buf) - tailSize; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(b), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// Integration skips t under go test -short (make test-short): the test needs name, a real service
// or tool this package starts, and belongs to make test.
func Integration(t testing.TB, name string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: an integration test, left out by -short", name)
	}
}
