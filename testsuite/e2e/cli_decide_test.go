package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/testsuite/wait"
)

// TestTemporalCLIDecidesAGateAsDocumented decides a recovery plan's gate with the stock temporal
// CLI, as the README and the approval.requested message show it, against a worker that encrypts
// payloads: a refusal says why, an approval says it was recorded, and both exit as they should.
func TestTemporalCLIDecidesAGateAsDocumented(t *testing.T) {
	temporal := devserver.Start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k1.key"), []byte(codec.GenerateKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "plans"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "plans", "gate.yaml"), `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: cli-gate}
spec:
  scenario: A gate decided with the temporal CLI
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  steps:
    - id: go
      approval: {approvers: [alice, bob], timeout: 10m}
`)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	configPath := filepath.Join(dir, "lifeboat.yaml")
	writeFile(t, configPath, fmt.Sprintf(`
temporal:
  address: %s
identity: trust-client
http:
  listen: %s
encryption:
  keys:
    - id: k1
      file: k1.key
recovery:
  plans_dir: plans
log:
  format: text
`, temporal.HostPort, httpAddr))
	const token = "cli-token"
	worker := startWorker(t, configPath, append(os.Environ(), "LIFEBOAT_CODEC_TOKEN="+token), "http://"+httpAddr)
	defer worker.Stop()

	run := func(args ...string) (string, error) {
		out, err := exec.Command(repo.Bin(t, "temporal"), append(args, "--address", temporal.HostPort)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("workflow", "start", "--task-queue", "lifeboat", "--type", "Recovery", "--workflow-id", "cli-gate",
		"--input", `{"plan":"cli-gate","requester":"alice"}`); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	// The command as documented, with the codec flags.
	decide := func(identity string) (string, error) {
		return run("workflow", "update", "execute", "--workflow-id", "cli-gate", "--name", "decide",
			"--input", fmt.Sprintf(`{"gate":"go","approve":true,"identity":%q}`, identity),
			"--codec-endpoint", "http://"+httpAddr+"/codec", "--codec-auth", "Bearer "+token)
	}
	// alice started the plan: her approval is refused, and the CLI says why.
	wait.For(t, 30*time.Second, "the gate opens", func() error {
		out, err := decide("alice")
		switch {
		case err == nil:
			return fmt.Errorf("the requester's approval was taken:\n%s", out)
		case strings.Contains(out, "is not open"):
			return fmt.Errorf("not open yet: %s", out)
		case !strings.Contains(out, "alice") || !strings.Contains(out, "requested it and cannot approve its own request"):
			t.Fatalf("the refusal does not say why:\n%s", out)
		}
		return nil
	})
	out, err := decide("bob")
	if err != nil {
		t.Fatalf("bob's approval: %v\n%s", err, out)
	}
	for _, want := range []string{"gate:go", "approved:true"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the approval's result lacks %s:\n%s", want, out)
		}
	}
	if out, err := run("workflow", "result", "--workflow-id", "cli-gate"); err != nil {
		t.Fatalf("the plan did not succeed: %v\n%s\n%s", err, out, worker.Tail())
	}
}
