package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/oidcprovider"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/testsuite/wait"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

var loginCode = regexp.MustCompile(`enter the code (\S+)`)

// loginAs runs `lifeboat login` in the background and, once it prints its code, confirms the code
// at the provider as user, as the person would in a browser; it returns login's stdout. It only
// reports failures (t.Errorf), so that tests may run it in goroutines.
func loginAs(t *testing.T, p *oidcprovider.Provider, user, configPath string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "lifeboat"), append([]string{"--config", configPath}, append(args, "login")...)...)
	cmd.Env = env
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Error(err)
		return ""
	}
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return ""
	}
	var told strings.Builder
	confirmed := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		told.WriteString(sc.Text() + "\n")
		if m := loginCode.FindStringSubmatch(sc.Text()); m != nil && !confirmed {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := p.Approve(ctx, m[1], user); err != nil {
				t.Errorf("confirm the code as %s: %v", user, err)
			}
			cancel()
			confirmed = true
		}
	}
	if err := cmd.Wait(); err != nil || !confirmed {
		t.Errorf("lifeboat login as %s: %v (code confirmed: %v)\n%s%s", user, err, confirmed, stdout.String(), told.String())
	}
	return stdout.String()
}

// TestOIDCLoginStartsAndDecidesAsThePerson runs, on the real dev server with a real worker that
// verifies identities, a recovery started and decided by people who logged in with an OIDC
// provider running in-process: lifeboat login (the device flow) as two people, a failover and an
// approval with no key, a decision through the temporal CLI with an assertion lifeboat token got
// for a login, and the refusals of a login used under another name and of a decision after
// lifeboat logout. The run's record shows the start and the decisions verified, through oidc.
func TestOIDCLoginStartsAndDecidesAsThePerson(t *testing.T) {
	temporal := devserver.Start(t)
	provider := oidcprovider.Start(t, oidcprovider.Client{ID: "lifeboat-cli", Secret: "device-secret"})
	dir := t.TempDir()
	seed, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "plans"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "plans", "oidc-plan.yaml"), `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: oidc-plan}
spec:
  scenario: Two gates bob decides, on a plan alice starts
  people:
    - {id: alice, name: Alice, channels: {email: alice@example.com}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
  roles:
    executors: [alice]
    approvers: [bob]
  steps:
    - id: approve
      approval: {approvers: [approvers], quorum: 1, timeout: 10m}
    - id: confirm
      needs: [approve]
      approval: {approvers: [approvers], quorum: 1, timeout: 10m}
`)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	configPath := filepath.Join(dir, "lifeboat.yaml")
	// worker_url is left out: the CLI reaches the worker at http.listen.
	writeFile(t, configPath, fmt.Sprintf(`
temporal:
  address: %s
http:
  listen: %s
recovery:
  plans_dir: plans
secrets:
  worker-key: %q
identity:
  mode: verified
  audience: lifeboat-oidc-e2e
  signing_key: worker-key
  oidc:
    issuer: %s
    client_id: lifeboat-cli
    client_secret: device-secret
    scopes: [offline_access]
  people:
    - {id: alice, name: Alice, oidc_subject: %q}
    - {id: bob, name: Bob, oidc_subject: %q}
log:
  format: text
`, temporal.HostPort, httpAddr, seed, provider.Issuer, oidcprovider.User2, provider.User1()))
	aliceLogin := filepath.Join(dir, "alice-login.json")
	bobLogin := filepath.Join(dir, "bob-login.json")
	// No key anywhere; alice's login is found through the environment, bob's through --token-file.
	env := append(os.Environ(), "LIFEBOAT_KEY=", "LIFEBOAT_OIDC_TOKEN="+aliceLogin)
	worker := startWorker(t, configPath, env, "http://"+httpAddr)
	defer worker.Stop()

	// Both logins wait for the provider's 5s poll interval: run them together.
	outs := make(chan string, 2)
	go func() { outs <- loginAs(t, provider, oidcprovider.User2, configPath, env) }()
	go func() { outs <- loginAs(t, provider, provider.User1(), configPath, env, "--token-file", bobLogin) }()
	logins := <-outs + <-outs
	if t.Failed() {
		t.FailNow()
	}
	for _, want := range []string{"Logged in as alice (Alice; OIDC subject " + oidcprovider.User2, "Logged in as bob (Bob; OIDC subject " + provider.User1()} {
		if !strings.Contains(logins, want) {
			t.Fatalf("login output lacks %q:\n%s", want, logins)
		}
	}

	const wf = "recovery-oidc-plan"
	alice := func(args ...string) (string, string, int) { return runLifeboat(t, configPath, env, args...) }
	bob := func(args ...string) (string, string, int) {
		return runLifeboat(t, configPath, env, append([]string{"--token-file", bobLogin}, args...)...)
	}
	if out, stderr, code := alice("failover", "oidc-plan", "--no-wait"); code != 0 {
		t.Fatalf("alice's failover: exit %d\n%s%s\n%s", code, out, stderr, worker.Tail())
	}
	// bob's login used under alice's name.
	if _, stderr, code := bob("approve", wf, "--as", "alice"); code != 2 || !strings.Contains(stderr, "--as alice: you are logged in as bob") {
		t.Errorf("bob's login as alice: exit %d: %s", code, stderr)
	}
	if out, stderr, code := bob("approve", wf); code != 0 || !strings.Contains(out, "1 of 1 approvals; closed, approved") {
		t.Fatalf("bob's approval: exit %d\n%s%s\n%s", code, out, stderr, worker.Tail())
	}

	// An assertion for the temporal CLI, got for bob's login; then bob logs out.
	tok, stderr, code := bob("token", "decide", wf, "--gate", "confirm", "--approve")
	if code != 0 {
		t.Fatalf("lifeboat token after login: exit %d: %s", code, stderr)
	}
	tok = strings.TrimSpace(tok)
	if out, stderr, code := bob("logout"); code != 0 || !strings.Contains(out, "Logged out: removed "+bobLogin) {
		t.Fatalf("logout: exit %d: %s%s", code, out, stderr)
	}
	tcli := func(args ...string) (string, error) {
		out, err := exec.Command(repo.Bin(t, "temporal"), append(args, "--address", temporal.HostPort)...).CombinedOutput()
		return string(out), err
	}
	wait.For(t, 60*time.Second, "gate confirm opens", func() error {
		out, err := tcli("workflow", "query", "--workflow-id", wf, "--type", "approvals", "-o", "json")
		if err != nil || !strings.Contains(out, `"gate": "confirm"`) {
			return fmt.Errorf("not open yet: %v\n%s", err, out)
		}
		return nil
	})
	if _, stderr, code := bob("approve", wf, "--gate", "confirm"); code != 2 || !strings.Contains(stderr, "you are not logged in") {
		t.Errorf("approval after logout: exit %d: %s", code, stderr)
	}
	// A typed name, as a client without lifeboat's check would send it: the workflow refuses it.
	if out, err := tcli("workflow", "update", "execute", "--workflow-id", wf, "--name", "decide",
		"--input", `{"gate":"confirm","approve":true,"identity":"bob"}`); err == nil || !strings.Contains(out, "this deployment verifies identities") {
		t.Errorf("a typed name after logout: %v\n%s", err, out)
	}
	if out, err := tcli("workflow", "update", "execute", "--workflow-id", wf, "--name", "decide",
		"--input", `{"gate":"confirm","approve":true,"assertion":"`+tok+`"}`); err != nil {
		t.Fatalf("the temporal CLI with lifeboat token's assertion: %v\n%s", err, out)
	}

	c, err := client.Dial(client.Options{HostPort: temporal.HostPort})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var result workflows.RecoveryResult
	if err := c.GetWorkflow(ctx, wf, "").Get(ctx, &result); err != nil {
		t.Fatalf("the run: %v\n%s", err, worker.Tail())
	}
	if result.Requester != "alice" || result.Identity == nil || !result.Identity.StartVerified || result.Identity.StartChannel != "oidc" || result.Identity.Mode != "verified" {
		t.Errorf("the start: requester %q, identity %+v", result.Requester, result.Identity)
	}
	decided := 0
	for _, st := range result.Steps {
		if st.Approval == nil {
			continue
		}
		for _, d := range st.Approval.Decisions {
			decided++
			if d.Identity != "bob" || !d.Verified || d.Channel != "oidc" || !d.Approve {
				t.Errorf("step %s: decision %+v, want bob's, verified, through oidc", st.ID, d)
			}
		}
	}
	if decided != 2 || result.Status != "succeeded" {
		t.Errorf("status %s with %d decisions, want succeeded with 2", result.Status, decided)
	}
}
