package lognotify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/internal/notifytest"
)

func TestLog(t *testing.T) {
	tests := []struct {
		severity notify.Severity
		want     string
	}{
		{notify.Info, "INFO"},
		{notify.Warning, "WARN"},
		{notify.Critical, "ERROR"},
		{"unknown", "ERROR"},
	}
	for _, tt := range tests {
		t.Run(string(tt.severity), func(t *testing.T) {
			var buf bytes.Buffer
			l := &Notifier{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			m := notifytest.Message()
			m.Severity = tt.severity
			m.Fields = map[string]string{"zeta": "last", "alpha": "first"}
			if err := l.Notify(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%v: %s", err, buf.Bytes())
			}
			want := map[string]any{
				"level":      tt.want,
				"msg":        m.Title,
				"event":      "backup.failed",
				"severity":   string(tt.severity),
				"asset":      "orders-db",
				"text":       m.Text,
				"link":       m.Link,
				"dedup_key":  m.DedupKey,
				"escalation": float64(1),
				"at":         "2026-03-14T09:26:53.589793238Z",
			}
			for k, v := range want {
				if rec[k] != v {
					t.Errorf("%s = %#v, want %#v", k, rec[k], v)
				}
			}
			if !strings.Contains(buf.String(), `"fields":{"alpha":"first","zeta":"last"}`) {
				t.Errorf("fields are missing or not sorted: %s", buf.Bytes())
			}
		})
	}
}

func TestLogLeavesOutEmptyAttributes(t *testing.T) {
	var buf bytes.Buffer
	l := &Notifier{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the log still takes the message
	if err := l.Notify(ctx, notify.Message{Event: "rpo.cleared", Severity: notify.Info, Title: "orders-db is within its RPO again"}); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %q", err, buf.Bytes())
	}
	for _, k := range []string{"asset", "text", "link", "dedup_key", "escalation", "at", "fields"} {
		if _, ok := rec[k]; ok {
			t.Errorf("empty attribute %q written: %s", k, buf.Bytes())
		}
	}
	if rec["level"] != "INFO" || rec["event"] != "rpo.cleared" {
		t.Errorf("record = %s", buf.Bytes())
	}
}

func TestContract(t *testing.T) {
	notifytest.Contract(t, &Notifier{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil)
}
