package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
)

func TestExport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := backend(t, dir)
	l := newLedger(t, b, signer(t, "worker"))
	day := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	appendOK(t, l, audit.Entry{Kind: audit.KindStart, Time: day, Actor: "ann"})
	second := decision("=HYPERLINK(\"http://evil\")", "promote")
	second.Time = day.Add(time.Hour)
	second.ID = "wf/run/promote"
	appendOK(t, l, second)
	appendOK(t, l, audit.Entry{Kind: audit.KindSilence, Time: day.Add(2 * time.Hour), Subject: "-orders"})

	// JSON lines: the entries as stored, so that each can still be checked against its signature.
	var out bytes.Buffer
	n, err := audit.Export(ctx, b, "", day.Add(time.Hour), audit.FormatJSONL, &out)
	if err != nil || n != 2 {
		t.Fatalf("Export jsonl = %d, %v", n, err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || lines[0] != string(read(t, entryPath(dir, 2))) || lines[1]+"\n" != string(read(t, entryPath(dir, 3))) {
		t.Fatalf("jsonl export:\n%s", out.String())
	}
	var e audit.Entry
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.Seq != 2 || e.ID != "wf/run/promote" {
		t.Errorf("first exported entry: %+v, %v", e, err)
	}

	// CSV: a header and a row per entry; what a spreadsheet would run as a formula is defused.
	out.Reset()
	n, err = audit.Export(ctx, b, "", time.Time{}, audit.FormatCSV, &out)
	if err != nil || n != 3 {
		t.Fatalf("Export csv = %d, %v", n, err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	if got := strings.Join(rows[0], ","); got != "seq,time,kind,actor,channel,verified,workflow,run,subject,details,id,prev,key_id,hash,sig" {
		t.Errorf("header %s", got)
	}
	row := rows[2]
	if row[0] != "2" || row[1] != "2026-03-01T10:00:00Z" || row[2] != "decision" || row[3] != `'=HYPERLINK("http://evil")` ||
		row[5] != "true" || row[9] != `{"choice":"approve","reason":"primary is gone"}` || row[10] != "wf/run/promote" {
		t.Errorf("row of entry 2: %q", row)
	}
	if rows[3][8] != "'-orders" {
		t.Errorf("subject of entry 3: %q", rows[3][8])
	}

	if _, err := audit.Export(ctx, b, "", time.Time{}, "xml", &out); err == nil || !strings.Contains(err.Error(), `format "xml": use one of jsonl, csv`) {
		t.Errorf("Export xml: %v", err)
	}
	if err := os.WriteFile(entryPath(dir, 2), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Export(ctx, b, "", time.Time{}, audit.FormatJSONL, &out); err == nil || !strings.Contains(err.Error(), "entry 2 is not valid") {
		t.Errorf("Export of a damaged ledger: %v", err)
	}
}
