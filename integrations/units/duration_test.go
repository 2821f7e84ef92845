package units

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{name: "string", in: `"1m30s"`, want: 90 * time.Second},
		{name: "seconds as number", in: `2.5`, want: 2500 * time.Millisecond},
		{name: "empty string is zero", in: `""`, want: 0},
		{name: "null is zero", in: `null`, want: 0},
		{name: "no unit", in: `"30"`, wantErr: "use a number with a unit"},
		{name: "negative", in: `"-5s"`, wantErr: "must not be negative"},
		{name: "wrong type", in: `true`, wantErr: "want a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Duration
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.D() != tt.want {
				t.Fatalf("got %v, want %v", d.D(), tt.want)
			}
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	in := struct {
		Every Duration `json:"every"`
	}{Every: Duration(90 * time.Minute)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"every":"1h30m0s"}` {
		t.Fatalf("marshalled %s", b)
	}
	var out struct {
		Every Duration `json:"every"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Every != in.Every {
		t.Fatalf("round trip: got %v, want %v", out.Every, in.Every)
	}
	if got := Duration(0).Or(time.Second); got != time.Second {
		t.Fatalf("Or on zero = %v", got)
	}
}

func TestHuman(t *testing.T) {
	for in, want := range map[time.Duration]string{
		379271 * time.Nanosecond:              "379µs",
		12345678 * time.Nanosecond:            "12ms",
		90*time.Second + 400*time.Millisecond: "1m30s",
		2 * time.Hour:                         "2h",
		90 * time.Minute:                      "1h30m",
		time.Hour + time.Second:               "1h0m1s",
		5 * time.Minute:                       "5m",
	} {
		if got := Duration(in).Human(); got != want {
			t.Errorf("Human(%v) = %q, want %q", in, got, want)
		}
	}
}
