package notify_test

import (
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"2", 2 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"Sat, 14 Mar 2026 09:00:30 GMT", 30 * time.Second, true},
		{"Sat, 14 Mar 2026 08:00:00 GMT", 0, true},
	}
	for _, tt := range tests {
		got, ok := notify.ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
