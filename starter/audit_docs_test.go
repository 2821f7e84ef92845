package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/location"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

var updateAuditDocs = flag.Bool("update-audit-docs", false, "rewrite the example outputs in ../docs/audit.md from the commands' output")

// docKey returns the fixed signing key of the documentation's example ledger named name.
func docKey(t *testing.T, name string) (seed string, s *audit.Signer) {
	t.Helper()
	sum := sha256.Sum256([]byte("lifeboat docs: " + name + " audit key"))
	seed = base64.StdEncoding.EncodeToString(sum[:])
	s, err := audit.ParseSigningKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return seed, s
}

// The examples of `lifeboat audit` in docs/audit.md are what the commands print. The document's
// configuration example is the configuration, with its S3 location swapped for a folder (and the
// folder's name in the output swapped back); the ledger holds one entry signed by the former key
// and four by the current one, at fixed times. A "<!-- audit-docs: STATE -->" line before a block
// says which ledger it runs on from there: intact, or tampered (entry 3 edited, entry 4 removed).
// -update-audit-docs rewrites the outputs.
func TestAuditDocExamples(t *testing.T) {
	docPath, err := filepath.Abs("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(raw), "```yaml\n")
	example, _, _ := strings.Cut(rest, "```")
	m := regexp.MustCompile(`(?m)^  location: (\S+)$`).FindStringSubmatch(example)
	if m == nil {
		t.Fatalf("%s: no yaml example with an audit location", docPath)
	}
	currentSeed, current := docKey(t, "current")
	_, former := docKey(t, "former")
	docLocation := m[1]
	ctx := context.Background()
	b, err := location.Open(ctx, docLocation, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.New(audit.Config{Backend: b, Signer: current})
	if err != nil {
		t.Fatal(err)
	}
	shown := l.Location()

	work := t.TempDir()
	// export --out writes here.
	t.Chdir(work)
	// The CLI's environment for each state's ledger, made on first use.
	ledgers := map[string]map[string]string{}
	ledger := func(state string) map[string]string {
		if env, ok := ledgers[state]; ok {
			return env
		}
		dir := filepath.Join(work, state)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfgPath := filepath.Join(dir, "lifeboat.yaml")
		if err := os.WriteFile(cfgPath, []byte(strings.Replace(example, m[0], "  location: ledger", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1", "LIFEBOAT_CONFIG": cfgPath, "LIFEBOAT_AUDIT_KEY": currentSeed}
		writeDocLedger(t, cfgPath, env, former, current)
		entries := filepath.Join(dir, "ledger", "audit", "entries")
		switch state {
		case "intact":
		case "tampered":
			p := filepath.Join(entries, "00000000000000000003.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, bytes.Replace(b, []byte(`"choice":"approve"`), []byte(`"choice":"reject"`), 1), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(entries, "00000000000000000004.json")); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: unknown example state %q", docPath, state)
		}
		ledgers[state] = env
		return env
	}

	marker := regexp.MustCompile(`^<!-- audit-docs: (\S+) -->$`)
	exitComment := regexp.MustCompile(`#\s*exit (\d+)\s*$`)
	lines := strings.Split(string(raw), "\n")
	var out []string
	state, inBlock, ran := "", false, 0
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		out = append(out, l)
		if mm := marker.FindStringSubmatch(l); mm != nil {
			state = mm[1]
		}
		if strings.HasPrefix(l, "```") {
			inBlock = !inBlock
			continue
		}
		cmdLine, ok := strings.CutPrefix(l, "$ lifeboat audit ")
		if !inBlock || !ok {
			continue
		}
		if state == "" {
			t.Fatalf("%s:%d: an example before any <!-- audit-docs: STATE --> line", docPath, i+1)
		}
		// The documented output: up to the next command or the end of the block.
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(lines[j], "$ ") && !strings.HasPrefix(lines[j], "```") {
			j++
		}
		want := strings.Join(lines[i+1:j], "\n")
		wantCode := exitOK
		if mm := exitComment.FindStringSubmatch(cmdLine); mm != nil {
			wantCode, _ = strconv.Atoi(mm[1])
		}
		env := ledger(state)
		var buf bytes.Buffer
		code := run(ctx, append([]string{"audit"}, shellWords(cmdLine)...), config.MapEnv(env), strings.NewReader(""), &buf, &buf)
		got := strings.TrimSuffix(strings.ReplaceAll(buf.String(), filepath.Join(work, state, "ledger", "audit"), shown), "\n")
		ran++
		if code != wantCode {
			t.Errorf("%s:%d: lifeboat audit %s: exit %d, documented %d\n%s", docPath, i+1, cmdLine, code, wantCode, got)
		}
		if *updateAuditDocs {
			if got != "" {
				out = append(out, strings.Split(got, "\n")...)
			}
			i = j - 1
			continue
		}
		if got != want {
			t.Errorf("%s:%d: lifeboat audit %s prints\n%s\n--- documented ---\n%s\n(go test -run TestAuditDocExamples -update-audit-docs rewrites it)", docPath, i+1, cmdLine, got, want)
		}
	}
	if ran < 6 {
		t.Fatalf("%s: ran only %d examples: the extraction is broken", docPath, ran)
	}
	if *updateAuditDocs {
		if err := os.WriteFile(docPath, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeDocLedger appends the example entries to the ledger the configuration names, at fixed
// times: a drill started before the rotation, signed by former; then a recovery started, approved,
// a refusal and a quorum lowered, signed by current.
func writeDocLedger(t *testing.T, cfgPath string, env map[string]string, former, current *audit.Signer) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(cfgPath, config.MapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := cfg.Audit.Backend(ctx, config.MapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	var clock time.Time
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	const drill, recovery = "drill-orders-db-failover", "recovery-orders-db-failover"
	const drillRun, recoveryRun = "0195c8e4-2b71-7f0a-a3d2-58e1c07b9f14", "0195f2a1-7c3e-7d40-9b1a-3c5e8f2d6a10"
	for _, step := range []struct {
		signer *audit.Signer
		e      audit.Entry
	}{
		{former, audit.Entry{ID: drill + "/" + drillRun + "/1", Time: at("2026-02-20T10:00:00Z"), Kind: audit.KindStart, Actor: "ann", Channel: audit.ChannelCLI,
			Workflow: drill, Run: drillRun, Subject: "orders-db-failover", Details: map[string]string{"mode": "drill"}}},
		{current, audit.Entry{ID: recovery + "/" + recoveryRun + "/1", Time: at("2026-03-14T09:02:11Z"), Kind: audit.KindStart, Actor: "ann", Channel: audit.ChannelCLI,
			Workflow: recovery, Run: recoveryRun, Subject: "orders-db-failover", Details: map[string]string{"reason": "primary unreachable"}}},
		{current, audit.Entry{ID: recovery + "/" + recoveryRun + "/7", Time: at("2026-03-14T09:04:37Z"), Kind: audit.KindDecision, Actor: "bob", Channel: audit.ChannelSlack,
			Verified: true, Workflow: recovery, Run: recoveryRun, Subject: "approve-failover", Details: map[string]string{"choice": "approve"}}},
		{current, audit.Entry{ID: recovery + "/" + recoveryRun + "/8", Time: at("2026-03-14T09:05:02Z"), Kind: audit.KindRefusal, Actor: "mallory", Channel: audit.ChannelTemporal,
			Workflow: recovery, Run: recoveryRun, Subject: "approve-failover", Details: map[string]string{"reason": "mallory is not in role db-approvers"}}},
		{current, audit.Entry{ID: recovery + "/" + recoveryRun + "/9", Time: at("2026-03-14T09:06:40Z"), Kind: audit.KindOverride, Actor: "ann", Channel: audit.ChannelCLI,
			Workflow: recovery, Run: recoveryRun, Subject: "approve-failover", Details: map[string]string{"quorum": "1 of 2", "reason": "carol unreachable"}}},
	} {
		l, err := audit.New(audit.Config{Backend: b, Prefix: cfg.Audit.Prefix, Signer: step.signer, Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		clock = step.e.Time.Add(time.Second)
		if _, _, err := l.Append(ctx, step.e); err != nil {
			t.Fatal(err)
		}
	}
}
