package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
	"github.com/lifeboat-dr/lifeboat/testsuite/wait"
)

// TestIdentityBypassesFailClosed tries, on the real dev server through the real temporal CLI and
// lifeboat, each way a client could act as someone it is not, against a worker that verifies
// identities; each is refused, and the plan goes ahead only on two verified approvals by two people
// other than the one who started it.
func TestIdentityBypassesFailClosed(t *testing.T) {
	temporal := devserver.Start(t)
	dir := t.TempDir()
	env := append(os.Environ(), "LIFEBOAT_KEY=") // no key but those the test names
	people := []string{"alice", "bob", "carol", "dave", "erin"}
	keys := map[string]string{}
	public := map[string]string{}
	pubLine := regexp.MustCompile(`ed25519:[A-Za-z0-9+/=]+`)
	for _, p := range people {
		keys[p] = filepath.Join(dir, p+".key")
		out, stderr, code := runLifeboat(t, "", env, "keygen", "--as", p, "--out", keys[p])
		if code != 0 {
			t.Fatalf("keygen --as %s: exit %d\n%s%s", p, code, out, stderr)
		}
		public[p] = pubLine.FindString(out)
	}
	if _, stderr, code := runLifeboat(t, "", env, "keygen", "--as", "alice", "--out", keys["alice"]); code != 2 || !strings.Contains(stderr, "never replaces a key") {
		t.Fatalf("keygen over an existing key: exit %d: %s", code, stderr)
	}
	if err := os.Mkdir(filepath.Join(dir, "plans"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "plans", "two-person.yaml"), `
apiVersion: lifeboat.dev/v1
kind: RecoveryPlan
metadata: {name: two-person}
spec:
  scenario: A step two DBAs other than the starter must approve
  people:
    - {id: alice, name: Alice, channels: {slack: U0ALICE}}
    - {id: bob, name: Bob, channels: {email: bob@example.com}}
    - {id: carol, name: Carol, channels: {email: carol@example.com}}
    - {id: dave, name: Dave, channels: {email: dave@example.com}}
    - {id: erin, name: Erin, channels: {email: erin@example.com}}
  groups:
    - {id: dba, members: [alice, bob, carol]}
  roles:
    executors: [alice]
    incident_commander: [erin]
    approvers: [dba]
  steps:
    - id: settle
      wait: {duration: 6s}
    - id: approve
      needs: [settle]
      approval: {approvers: [approvers], quorum: 2, timeout: 10m}
`)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", repo.FreePort(t))
	configPath := filepath.Join(dir, "lifeboat.yaml")
	var dirYAML strings.Builder
	for _, p := range people {
		extra := ""
		switch p {
		case "alice":
			extra = ", slack: U0ALICE"
		case "bob":
			extra = ", email: bob@example.com"
		}
		fmt.Fprintf(&dirYAML, "    - {id: %s, name: %s%s, keys: [%q]}\n", p, strings.ToUpper(p[:1])+p[1:], extra, public[p])
	}
	writeFile(t, configPath, fmt.Sprintf(`
temporal:
  address: %s
http:
  listen: %s
recovery:
  plans_dir: plans
secrets:
  audit-key: %s
audit:
  location: ledger
  signing_key: audit-key
identity:
  mode: verified
  audience: lifeboat-e2e
  people:
%s  groups:
    - {id: dba, members: [alice, bob, carol]}
log:
  format: text
`, temporal.HostPort, httpAddr, audit.GenerateSigningKey(), dirYAML.String()))
	worker := startWorker(t, configPath, env, "http://"+httpAddr)
	defer worker.Stop()

	tcli := func(args ...string) (string, error) {
		out, err := exec.Command(repo.Bin(t, "temporal"), append(args, "--address", temporal.HostPort)...).CombinedOutput()
		return string(out), err
	}
	as := func(person string, args ...string) (string, string, int) {
		return runLifeboat(t, configPath, env, append([]string{"--key", keys[person]}, args...)...)
	}
	token := func(person string, args ...string) string {
		t.Helper()
		out, stderr, code := as(person, append([]string{"token"}, args...)...)
		if code != 0 {
			t.Fatalf("lifeboat token %v as %s: exit %d: %s", args, person, code, stderr)
		}
		return strings.TrimSpace(out)
	}
	type result struct{ name, got string }
	var table []result
	expectRefused := func(name, out string, err error, want string) {
		t.Helper()
		// The temporal CLI prints a failure's message with its quotes escaped.
		out = strings.ReplaceAll(out, `\"`, `"`)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("%s: want a refusal containing %q, got (err %v):\n%s", name, want, err, out)
			table = append(table, result{name, "NOT REFUSED"})
			return
		}
		table = append(table, result{name, "refused: " + want})
	}
	const wf = "recovery-two-person"
	expiring := token("bob", "decide", wf, "--gate", "approve", "--approve", "--ttl", "1s")
	expiredAt := time.Now().Add(time.Second + 31*time.Second)

	// A start with a typed requester and no assertion.
	if out, err := tcli("workflow", "start", "--task-queue", "lifeboat", "--type", "Recovery", "--workflow-id", "spoofed-start",
		"--input", `{"plan":"two-person","requester":"alice"}`); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	out, err := tcli("workflow", "result", "--workflow-id", "spoofed-start")
	expectRefused("start with a typed requester (temporal CLI)", out, err, "this deployment verifies identities")

	// A start by someone the plan does not name as executor or incident commander.
	out, stderr, code := as("bob", "failover", "two-person", "--reason", "test")
	if code == 0 || !strings.Contains(out+stderr, "bob may not start plan two-person") {
		t.Errorf("a start by bob: exit %d\n%s%s", code, out, stderr)
	}
	table = append(table, result{"start by a non-executor (lifeboat)", fmt.Sprintf("exit %d", code)})

	// Requester-chosen approvers of a restore.
	if out, err := tcli("workflow", "start", "--task-queue", "lifeboat", "--type", "Restore", "--workflow-id", "restore-chosen",
		"--input", `{"asset":"www","requester":"alice","in_place":true,"approvers":["dave"]}`); err != nil {
		t.Fatalf("start restore: %v\n%s", err, out)
	}
	out, err = tcli("workflow", "result", "--workflow-id", "restore-chosen")
	expectRefused("restore approvers named by the request (temporal CLI)", out, err, "not people the request names")

	// alice starts the plan with her key.
	if out, stderr, code := as("alice", "failover", "two-person", "--no-wait"); code != 0 {
		t.Fatalf("alice's start: exit %d\n%s%s\n%s", code, out, stderr, worker.Tail())
	}
	decideInput := func(extra string) string { return `{"gate":"approve","approve":true` + extra + `}` }
	update := func(input string) (string, error) {
		return tcli("workflow", "update", "execute", "--workflow-id", wf, "--name", "decide", "--input", input)
	}

	// Before the gate opens: an Update is refused, and a signal is refused, not held.
	bobEarly := token("bob", "decide", wf, "--gate", "approve", "--approve")
	out, err = update(decideInput(`,"assertion":"` + bobEarly + `"`))
	expectRefused("decision before the gate opens (update)", out, err, `gate "approve" is not open`)
	if out, err := tcli("workflow", "signal", "--workflow-id", wf, "--name", "decide", "--input", decideInput(`,"assertion":"`+bobEarly+`"`)); err != nil {
		t.Fatalf("signal: %v\n%s", err, out)
	}
	wait.For(t, 60*time.Second, "the gate opens", func() error {
		out, err := tcli("workflow", "query", "--workflow-id", wf, "--type", "approvals", "-o", "json")
		if err != nil || !strings.Contains(out, `"opened_at"`) {
			return fmt.Errorf("not open yet: %v\n%s", err, out)
		}
		return nil
	})
	out, _ = tcli("workflow", "query", "--workflow-id", wf, "--type", "approvals", "-o", "json")
	if !strings.Contains(out, "is not open") || strings.Contains(out, `"approved_by"`) {
		t.Errorf("the early signal was not refused, or was held and counted:\n%s", out)
	}
	table = append(table, result{"decision before the gate opens (signal)", "refused, not held"})

	// Spoofed identity: a typed name without an assertion.
	out, err = update(decideInput(`,"identity":"bob"`))
	expectRefused("typed identity without an assertion (temporal CLI)", out, err, "this deployment verifies identities")
	// alice approving her own run under an alias (her Slack ID), with her own valid key.
	aliceTok := token("alice", "decide", wf, "--gate", "approve", "--approve")
	out, err = update(decideInput(`,"identity":"U0ALICE","assertion":"` + aliceTok + `"`))
	expectRefused("self-approval through an alias (Slack ID)", out, err, "cannot approve its own request")
	// A token naming one person with another's typed name.
	out, err = update(decideInput(`,"identity":"carol","assertion":"` + token("bob", "decide", wf, "--gate", "approve", "--approve") + `"`))
	expectRefused("typed identity contradicting the assertion", out, err, "is not the person the assertion names")
	// Tokens for another gate, another workflow, the other answer, or another audience.
	out, err = update(decideInput(`,"assertion":"` + token("bob", "decide", wf, "--gate", "other", "--approve") + `"`))
	expectRefused("token for another gate", out, err, `it is for gate "other"`)
	out, err = update(decideInput(`,"assertion":"` + token("bob", "decide", "recovery-other", "--gate", "approve", "--approve") + `"`))
	expectRefused("token for another workflow", out, err, `it is for workflow "recovery-other"`)
	out, err = update(decideInput(`,"assertion":"` + token("bob", "decide", wf, "--gate", "approve", "--reject") + `"`))
	expectRefused("a rejection token used to approve", out, err, `it is for decision "reject"`)

	// bob approves through the temporal CLI with a token; the same token again, or bob under
	// another name with a new one, is refused.
	bobTok := token("bob", "decide", wf, "--gate", "approve", "--approve")
	if out, err := update(decideInput(`,"assertion":"` + bobTok + `"`)); err != nil || !strings.Contains(out, "approvals:1") && !strings.Contains(out, `"approvals": 1`) {
		t.Fatalf("bob's approval: %v\n%s", err, out)
	}
	out, err = update(decideInput(`,"assertion":"` + bobTok + `"`))
	expectRefused("replayed token", out, err, "already decided")
	out, err = update(decideInput(`,"identity":"bob@example.com","assertion":"` + token("bob", "decide", wf, "--gate", "approve", "--approve") + `"`))
	expectRefused("one person deciding twice under two names", out, err, "already decided")

	// Acknowledgements: dave was not paged; only the incident commander silences the run.
	ack := func(person, step string) (string, string, int) {
		args := []string{"ack", wf}
		if step != "" {
			args = append(args, "--step", step)
		}
		return as(person, args...)
	}
	if _, stderr, code := ack("dave", "approve"); code != 2 || !strings.Contains(stderr, "dave was not paged for step approve") {
		t.Errorf("ack by dave: exit %d: %s", code, stderr)
	}
	table = append(table, result{"acknowledgement by someone not paged (lifeboat)", "refused: not paged"})
	if _, stderr, code := ack("carol", ""); code != 2 || !strings.Contains(stderr, "only the incident commander may") {
		t.Errorf("silence by carol: exit %d: %s", code, stderr)
	}
	table = append(table, result{"silence by someone not the incident commander (lifeboat)", "refused"})
	erinAck := token("erin", "ack", wf)
	ackInput := `{"assertion":"` + erinAck + `"}`
	if out, err := tcli("workflow", "update", "execute", "--workflow-id", wf, "--name", "acknowledge", "--input", ackInput); err != nil {
		t.Fatalf("erin's silence: %v\n%s", err, out)
	}
	out, err = tcli("workflow", "update", "execute", "--workflow-id", wf, "--name", "acknowledge", "--input", ackInput)
	expectRefused("replayed acknowledgement token", out, err, "used already")

	// An expired token.
	time.Sleep(time.Until(expiredAt))
	out, err = update(decideInput(`,"assertion":"` + expiring + `"`))
	expectRefused("expired token", out, err, "expired")

	// carol approves with lifeboat: the quorum of two verified people closes the gate.
	if out, stderr, code := as("carol", "approve", wf); code != 0 || !strings.Contains(out, "2 of 2 approvals; closed, approved") {
		t.Fatalf("carol's approval: exit %d\n%s%s", code, out, stderr)
	}
	out, err = tcli("workflow", "result", "--workflow-id", wf, "-o", "json")
	if err != nil || !strings.Contains(out, `"start_verified": true`) || !strings.Contains(out, `"verified": true`) || !strings.Contains(out, `"mode": "verified"`) {
		t.Errorf("the record does not show verified identities: %v\n%s", err, out)
	}
	for _, r := range table {
		t.Logf("| %s | %s |", r.name, r.got)
	}

	// The ledger holds the run's acts, verified, and names an entry edited afterwards.
	if out, stderr, code := runLifeboat(t, configPath, env, "audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = runLifeboat(t, configPath, env, "audit", "export", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("audit export: exit %d\n%s", code, stderr)
	}
	bobEntry := ""
	for _, want := range []string{`"kind":"start","actor":"alice"`, `"kind":"decision","actor":"bob"`, `"kind":"decision","actor":"carol"`,
		`"kind":"silence","actor":"erin"`, `"kind":"refusal","actor":"alice"`, `"kind":"plan-change"`, `"kind":"config-change"`} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, want) {
				found = true
				if strings.Contains(want, `"bob"`) {
					bobEntry = line
				}
			}
		}
		if !found {
			t.Errorf("the ledger has no entry with %s:\n%s", want, out)
		}
	}
	if !strings.Contains(bobEntry, `"verified":true`) {
		t.Fatalf("bob's decision is not recorded as verified: %s", bobEntry)
	}
	seq := regexp.MustCompile(`"seq":(\d+)`).FindStringSubmatch(bobEntry)[1]
	path := filepath.Join(dir, "ledger", "audit", "entries", fmt.Sprintf("%020s.json", seq))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), `"actor":"bob"`, `"actor":"dave"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = runLifeboat(t, configPath, env, "audit", "verify")
	if code != 3 || !strings.Contains(out+stderr, "entry "+seq) {
		t.Errorf("audit verify after bob's decision was edited: exit %d, want 3 naming entry %s\n%s%s", code, seq, out, stderr)
	}
	table = append(table, result{"ledger entry edited after the run", "lifeboat audit verify: exit 3, names entry " + seq})
	t.Logf("| %s | %s |", table[len(table)-1].name, table[len(table)-1].got)
}
