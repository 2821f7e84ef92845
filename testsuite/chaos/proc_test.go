package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
)

// proc is a worker (or other service) run by a trial, its output in a log file in the trial's
// directory.
type proc struct {
	name string
	// config is a worker's configuration file.
	config string
	cmd    *exec.Cmd
	log    *os.File
	done   chan struct{}
	err    error
}

func startProc(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	dieWithParent(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Kill ends the process with SIGKILL, as a crash would, and waits until it is gone.
func (p *proc) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.done
	return nil
}

// Stop asks the process to stop with SIGTERM and kills it when it has not within 40 seconds.
func (p *proc) Stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused process cannot stop
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(40 * time.Second):
		return p.Kill()
	}
}

// Signal sends sig to the process.
func (p *proc) Signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s to %s: %w", sig, p.name, err)
	}
	return nil
}

// freePort picks a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// assetConf is an asset of a worker's configuration.
type assetConf struct {
	name      string
	paths     []string
	location  string
	retention string // YAML flow mapping, default {last: 5}
	owners    []string
	// verifyFile adds a restore-drill schedule checking this file.
	verifyFile string
}

// workerConf is what a trial's worker configuration holds.
type workerConf struct {
	taskQueue     string
	assets        []assetConf
	sync          bool
	owner         string
	plansDir      string
	restoreRoots  []string
	scratchDir    string
	webhook       string
	maxActivities int
	// file names the configuration file (default: after the task queue).
	file string
}

const (
	repoPassword = "chaos passphrase"
	hookSecret   = "chaos hook key"
)

// writeConfig writes the configuration file of the trial's workers.
func (tr *trial) writeConfig(c workerConf) (string, error) {
	var b strings.Builder
	b.WriteString("temporal:\n  address: ${TEMPORAL_ADDRESS}\nlog:\n  format: text\nidentity: trust-client\n")
	fmt.Fprintf(&b, "worker:\n  task_queue: %s\n  shutdown_timeout: 5s\n", c.taskQueue)
	if c.maxActivities > 0 {
		fmt.Fprintf(&b, "  max_concurrent_activities: %d\n", c.maxActivities)
	}
	if c.scratchDir != "" {
		fmt.Fprintf(&b, "  scratch_dir: %s\n", c.scratchDir)
	}
	if len(c.restoreRoots) > 0 {
		fmt.Fprintf(&b, "  restore_roots: [%s]\n", strings.Join(c.restoreRoots, ", "))
	}
	fmt.Fprintf(&b, "schedules:\n  sync_on_start: %v\n", c.sync)
	if c.owner != "" {
		fmt.Fprintf(&b, "  owner: %s\n", c.owner)
	}
	fmt.Fprintf(&b, "secrets:\n  repo-pass: %q\n  hook-key: %q\n", repoPassword, hookSecret)
	if c.webhook != "" {
		fmt.Fprintf(&b, "notify:\n  - name: default\n    webhooks:\n      - {url: %q, secret: hook-key, attempts: 5, timeout: 5s}\n", c.webhook)
	}
	if c.plansDir != "" {
		fmt.Fprintf(&b, "recovery:\n  plans_dir: %s\n", c.plansDir)
	}
	if len(c.assets) > 0 {
		b.WriteString("assets:\n")
	} else {
		b.WriteString("assets: []\n")
	}
	for _, a := range c.assets {
		retention := a.retention
		if retention == "" {
			retention = "{last: 5}"
		}
		fmt.Fprintf(&b, "  - name: %s\n    source: {paths: {include: [%s]}}\n", a.name, strings.Join(a.paths, ", "))
		fmt.Fprintf(&b, "    repository: {location: %q, password_secret: repo-pass}\n", a.location)
		fmt.Fprintf(&b, "    schedule: {every: 24h}\n    retention: %s\n    rpo: 48h\n", retention)
		if len(a.owners) > 0 {
			fmt.Fprintf(&b, "    owners: [%s]\n", strings.Join(a.owners, ", "))
		}
		if a.verifyFile != "" {
			fmt.Fprintf(&b, "    verify:\n      schedule: {every: 168h}\n      checks:\n        - {file: %s}\n", a.verifyFile)
		}
	}
	name := c.file
	if name == "" {
		name = fmt.Sprintf("lifeboat-%s.yaml", c.taskQueue)
	}
	path := tr.path(name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// env is the environment of the trial's workers and CLI runs.
func (tr *trial) env(temporal *devserver.Server) []string {
	if temporal == nil {
		temporal = tr.h.temporal
	}
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+temporal.HostPort)
	if m := tr.h.minio; m != nil {
		env = append(env, "AWS_ACCESS_KEY_ID="+m.AccessKey, "AWS_SECRET_ACCESS_KEY="+m.SecretKey, "AWS_REGION="+m.Region)
	}
	return env
}

// worker starts lifeboat-worker with the configuration and waits until it is ready.
func (tr *trial) worker(config string) (*proc, error) {
	return tr.workerOn(config, nil)
}

func (tr *trial) workerOn(config string, temporal *devserver.Server) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(filepath.Join(binDir, "lifeboat-worker"), "--config", config)
	cmd.Env = append(tr.env(temporal), "LIFEBOAT_HTTP_LISTEN="+addr)
	n := len(tr.procs) + 1
	logPath := tr.path(fmt.Sprintf("worker-%d.log", n))
	p, err := startProc(fmt.Sprintf("worker %d", n), cmd, logPath)
	if err != nil {
		return nil, err
	}
	p.config = config
	tr.procs = append(tr.procs, p)
	tr.logs = append(tr.logs, logPath)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("worker %d exited before it was ready: %v", n, p.err)
		case <-tr.ctx.Done():
			return nil, fmt.Errorf("worker %d not ready: %w", n, tr.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("worker %d not ready after 90s", n)
		}
	}
}

// cliResult is what a command printed and how it exited.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d: %s %s", r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

// lifeboat runs the CLI with the configuration (empty for `lifeboat repo`) and extra environment.
func (tr *trial) lifeboat(config string, extraEnv []string, args ...string) (cliResult, error) {
	return tr.lifeboatOn(config, nil, extraEnv, args...)
}

func (tr *trial) lifeboatOn(config string, temporal *devserver.Server, extraEnv []string, args ...string) (cliResult, error) {
	if config != "" {
		args = append([]string{"--config", config}, args...)
	}
	ctx, cancel := context.WithTimeout(tr.ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "lifeboat"), args...)
	cmd.Env = append(tr.env(temporal), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return cliResult{}, fmt.Errorf("lifeboat %s: %w", strings.Join(args, " "), err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}, nil
}

// mustLifeboat runs the CLI and fails unless it exits 0, decoding -o json output into out.
func (tr *trial) mustLifeboat(config string, extraEnv []string, out any, args ...string) error {
	r, err := tr.lifeboat(config, extraEnv, args...)
	if err != nil {
		return err
	}
	if r.code != 0 {
		return fmt.Errorf("lifeboat %s: %s", strings.Join(args, " "), r)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
			return fmt.Errorf("lifeboat %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
		}
	}
	return nil
}

// started is what `lifeboat ... --no-wait -o json` prints.
type started struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// start runs a CLI command that starts a workflow with --no-wait -o json and returns its ID,
// trying again when the CLI says one started in the same second.
func (tr *trial) start(config string, args ...string) (started, error) {
	var s started
	for range 5 {
		r, err := tr.lifeboat(config, nil, append(args, "--no-wait", "-o", "json")...)
		if err != nil {
			return s, err
		}
		if r.code != 0 && strings.Contains(r.stderr, "this second already") {
			time.Sleep(time.Second)
			continue
		}
		if r.code != 0 {
			return s, fmt.Errorf("lifeboat %s: %s", strings.Join(args, " "), r)
		}
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.WorkflowID == "" {
			return s, fmt.Errorf("lifeboat %s: no workflow ID in %q (%v)", strings.Join(args, " "), r.stdout, err)
		}
		return s, nil
	}
	return s, fmt.Errorf("lifeboat %s: could not start", strings.Join(args, " "))
}

// jsonInto decodes a command's JSON output.
func jsonInto(stdout string, out any) error {
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		return fmt.Errorf("output is not JSON: %v\n%s", err, stdout)
	}
	return nil
}
