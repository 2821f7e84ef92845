package notify

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// templateTime is the fixed time of the messages rendered in golden files.
var templateTime = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// templateMessages are realistic messages of each event with its own templates, and of one without
// ("default"), as the workflows send them.
func templateMessages() map[string]Message {
	approval := &ApprovalRef{WorkflowID: "restore-orders-db-20260314T092653Z", Gate: "restore-in-place", Approvers: []string{"alice@example.com", "bob@example.com"}}
	return map[string]Message{
		"approval.requested": {
			Event: "approval.requested", Severity: Warning, Asset: "orders-db",
			Title:    "Approval needed: Restore orders-db in place from snapshot 3f9a1c2e of 2026-03-14T08:00:00Z, replacing the live data",
			Text:     "carol@example.com asks to restore orders-db over its live data.",
			Fields:   map[string]string{"requester": "carol@example.com", "expires in": "2h"},
			Link:     "http://localhost:8233/namespaces/default/workflows/restore-orders-db-20260314T092653Z",
			DedupKey: "approval-restore-orders-db-20260314T092653Z", Approval: approval,
		},
		"approval.decided": {
			Event: "approval.decided", Severity: Info, Asset: "orders-db",
			Title:    "alice@example.com approved: Restore orders-db in place from snapshot 3f9a1c2e",
			Text:     "Reason: the primary is gone.",
			DedupKey: "approval-restore-orders-db-20260314T092653Z", Approval: approval,
		},
		"approval.reminder": {
			Event: "approval.reminder", Severity: Critical, Asset: "orders-db", Level: 2,
			Title:    "Approval needed: Restore orders-db in place from snapshot 3f9a1c2e",
			Text:     "Waiting 1h; approvals so far: none.",
			DedupKey: "approval-restore-orders-db-20260314T092653Z", Approval: approval,
		},
		"escalation": {
			Event: "escalation", Severity: Critical, Plan: "orders-failover", Level: 3,
			Title:    "orders-failover: step promote-replica still waits for a decision (Promote the replica)",
			Text:     "Waiting 45m; approvals so far: alice@example.com.",
			Fields:   map[string]string{"to": "dba-lead, cto"},
			DedupKey: "recovery-orders-failover-1/promote-replica",
		},
		"recovery.started": {
			Event: "recovery.started", Severity: Warning, Plan: "orders-failover",
			Title: "orders-failover started: fail over to eu-central-1", Fields: map[string]string{"scenario": "region-outage", "requester": "carol@example.com"},
			Link: "http://localhost:8233/namespaces/default/workflows/recovery-orders-failover-1",
		},
		"recovery.phase": {
			Event: "recovery.phase", Severity: Info, Plan: "orders-failover",
			Title: "orders-failover: phase promote (3 of 5)", Text: "Fenced the old primary; promoting the replica.",
		},
		"recovery.completed": {
			Event: "recovery.completed", Severity: Info, Plan: "orders-failover",
			Title: "orders-failover completed in 38m", Fields: map[string]string{"rto": "1h", "took": "38m"},
			Link: "http://localhost:8233/namespaces/default/workflows/recovery-orders-failover-1",
		},
		"recovery.failed": {
			Event: "recovery.failed", Severity: Critical, Plan: "orders-failover",
			Title: "orders-failover failed at step promote-replica", Text: "rds: promote read replica orders-replica: InvalidDBInstanceState: instance is not available",
			Link: "http://localhost:8233/namespaces/default/workflows/recovery-orders-failover-1", DedupKey: "recovery-orders-failover-1",
		},
		"rto.missed": {
			Event: "rto.missed", Severity: Critical, Plan: "orders-failover",
			Title: "orders-failover has run past its RTO of 1h", Text: "Steps still running: verify-writes, switch-dns",
			DedupKey: "recovery-orders-failover-1/rto",
		},
		"rpo.stale": {
			Event: "rpo.stale", Severity: Critical, Asset: "orders-db", Level: 1,
			Title: "RPO of orders-db breached: last good backup 3h12m ago", Text: "The RPO is 2h. Last snapshot: 3f9a1c2e.",
			DedupKey: "rpo-orders-db",
		},
		"rpo.cleared": {
			Event: "rpo.cleared", Severity: Info, Asset: "orders-db",
			Title: "RPO of orders-db met again", Text: "A backup succeeded (snapshot 7b2d4e61); the asset was out of its RPO of 2h for 1h12m.",
			DedupKey: "rpo-orders-db",
		},
		"backup.failed": {
			Event: "backup.failed", Severity: Critical, Asset: "orders-db",
			Title: "Backup of orders-db failed", Text: "pg_dump: error: connection to server at \"10.0.0.5\", port 5432 failed: Connection refused",
			Fields: map[string]string{"repository": "s3://backups/orders", "attempt": "3"},
			Link:   "http://localhost:8233/namespaces/default/workflows/backup-orders-db", DedupKey: "backup.failed/orders-db",
		},
		"verify.failed": {
			Event: "verify.failed", Severity: Critical, Asset: "orders-db",
			Title: "Restore drill of orders-db failed", Text: "check \"orders exist\": row_count of orders is 0, want at least 1000",
			Link: "http://localhost:8233/namespaces/default/workflows/verify-orders-db",
		},
		"drill.report": {
			Event: "drill.report", Severity: Info, Plan: "orders-failover",
			Title: "Drill of orders-failover: RTO met (41m of 1h), RPO met (4m of 15m)", Fields: map[string]string{"steps": "12", "failed": "0", "manual": "2"},
			Link: "http://localhost:8233/namespaces/default/workflows/drill-orders-failover-7",
		},
		// An event without templates of its own, with text that must be escaped in HTML and cut in an
		// SMS, and a link that is not http(s).
		"default": {
			Event: "custom.event", Severity: Warning, Asset: "www <prod> & \"co\"",
			Title:  "Disk of www is 91% full <script>alert(1)</script>",
			Text:   strings.Repeat("The volume /srv/www keeps growing; logs are not rotated. ", 8),
			Fields: map[string]string{"volume": "/dev/nvme1n1", "free": "9 GiB"},
			Link:   "javascript:alert(1)",
		},
	}
}

func TestTemplates(t *testing.T) {
	messages := templateMessages()
	want := append(TemplateEvents(), "default")
	for _, event := range want {
		if _, ok := messages[event]; !ok {
			t.Errorf("no test message for event %q", event)
		}
	}
	for _, event := range []string{"approval.requested", "approval.decided", "approval.reminder", "escalation",
		"recovery.started", "recovery.phase", "recovery.completed", "recovery.failed", "rto.missed", "rpo.stale",
		"rpo.cleared", "backup.failed", "verify.failed", "drill.report"} {
		if !slices.Contains(TemplateEvents(), event) {
			t.Errorf("event %q has no templates of its own", event)
		}
	}
	for _, event := range slices.Sorted(func(yield func(string) bool) {
		for e := range messages {
			if !yield(e) {
				return
			}
		}
	}) {
		m := messages[event]
		m.Time = templateTime
		for _, tmpl := range Templates {
			t.Run(string(tmpl)+"/"+event, func(t *testing.T) {
				got, err := Render(tmpl, m)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", "golden", string(tmpl), event+".golden"), got)
			})
		}
	}
}

// checkGolden compares got with the golden file at path, or rewrites the file with -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./integrations/notify -run TestTemplates -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs; got:\n%s\n(run with -update to accept it)", path, got)
	}
}

func TestRenderLimits(t *testing.T) {
	long := Message{Event: "backup.failed", Severity: Critical, Asset: "orders-db", Time: templateTime,
		Title: strings.Repeat("Backup of orders-db failed again ", 20), Text: strings.Repeat("ü", 500)}
	tests := []struct {
		tmpl  Template
		limit int
	}{
		{TemplateSMS, MaxSMSLength},
		{TemplateVoice, MaxVoiceLength},
		{TemplateSubject, maxSubjectLength},
	}
	for _, tt := range tests {
		t.Run(string(tt.tmpl), func(t *testing.T) {
			for _, link := range []string{"", "https://lifeboat.example.com/r/1", "https://lifeboat.example.com/" + strings.Repeat("x", 200)} {
				m := long
				m.Link = link
				got, err := Render(tt.tmpl, m)
				if err != nil {
					t.Fatal(err)
				}
				if n := utf8.RuneCountInString(got); n > tt.limit {
					t.Errorf("link %q: %d characters, want at most %d", link, n, tt.limit)
				}
				if !strings.HasSuffix(got, "…") && !strings.HasSuffix(got, "...") && !strings.HasSuffix(got, link) {
					t.Errorf("link %q: %q is not cut with …", link, got)
				}
				if strings.ContainsAny(got, "\r\n") {
					t.Errorf("link %q: %q has a line break", link, got)
				}
			}
		})
	}

	m := long
	m.Link = "https://lifeboat.example.com/r/1"
	sms, _ := Render(TemplateSMS, m)
	if !strings.HasSuffix(sms, "... https://lifeboat.example.com/r/1") {
		t.Errorf("SMS %q: want the text cut and a short link kept whole", sms)
	}
	m.Link = "https://lifeboat.example.com/" + strings.Repeat("x", 200)
	if sms, _ := Render(TemplateSMS, m); strings.Contains(sms, "lifeboat.example.com") {
		t.Errorf("SMS %q: want a long link left out", sms)
	}
	m.Link = "javascript:alert(1)"
	for _, tmpl := range Templates {
		if got, _ := Render(tmpl, m); strings.Contains(got, "javascript") {
			t.Errorf("%s shows a link that is not http(s): %q", tmpl, got)
		}
	}
	if _, err := Render("fax", m); err == nil || !strings.Contains(err.Error(), `no template "fax" (templates: sms, voice, subject, text, html)`) {
		t.Errorf("unknown template: error = %v", err)
	}
}

func TestRenderHTMLEscapes(t *testing.T) {
	m := templateMessages()["default"]
	got, err := Render(TemplateHTML, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "javascript:", "#ZgotmplZ", "<prod>", `& "co"`} {
		if strings.Contains(got, bad) {
			t.Errorf("HTML contains %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;", "www &lt;prod&gt; &amp; &#34;co&#34;"} {
		if !strings.Contains(got, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

// The events the workflows send under their own names are worded with the template they alias.
func TestRenderAliases(t *testing.T) {
	for event, alias := range eventAliases {
		if _, ok := textTemplates[alias]; !ok {
			t.Fatalf("%s aliases %s, which has no templates", event, alias)
		}
		m := Message{Event: event, Severity: Critical, Title: "orders: step approve still waits", Level: 2}
		got, err := Render(TemplateSubject, m)
		if err != nil {
			t.Fatal(err)
		}
		m.Event = alias
		want, err := Render(TemplateSubject, m)
		if err != nil || got != want {
			t.Errorf("subject of %s = %q, want %s's %q (%v)", event, got, alias, want, err)
		}
	}
}
