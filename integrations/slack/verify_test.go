package slack

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/lifeboat-dr/lifeboat/integrations/slack/slacktest"
)

// slackExampleBody is the request of Slack's "Verifying requests from Slack" walkthrough, signed
// with slackExampleSecret at slackExampleTimestamp.
const (
	slackExampleSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	slackExampleTimestamp = "1531420618"
	slackExampleBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackExampleSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSignMatchesSlacksExample(t *testing.T) {
	if got := Sign([]byte(slackExampleSecret), slackExampleTimestamp, []byte(slackExampleBody)); got != slackExampleSignature {
		t.Fatalf("Sign = %s, want Slack's %s", got, slackExampleSignature)
	}
	// And slack-go's own verifier accepts what Sign makes.
	now := time.Now()
	stamp := strconv.FormatInt(now.Unix(), 10)
	body := []byte("payload=%7B%7D")
	h := http.Header{}
	h.Set(HeaderTimestamp, stamp)
	h.Set(HeaderSignature, Sign([]byte(slacktest.Secret), stamp, body))
	sv, err := goslack.NewSecretsVerifier(h, slacktest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sv.Write(body)
	if err := sv.Ensure(); err != nil {
		t.Fatalf("slack-go refuses Sign's signature: %v", err)
	}
}

func TestVerify(t *testing.T) {
	sent := time.Unix(1531420618, 0)
	tests := []struct {
		name      string
		secret    string
		timestamp string
		signature string
		now       time.Time
		want      error
	}{
		{"Slack's example", slackExampleSecret, slackExampleTimestamp, slackExampleSignature, sent, nil},
		{"4m59s late", slackExampleSecret, slackExampleTimestamp, slackExampleSignature, sent.Add(299 * time.Second), nil},
		{"5m01s late", slackExampleSecret, slackExampleTimestamp, slackExampleSignature, sent.Add(301 * time.Second), ErrStale},
		{"5m01s early", slackExampleSecret, slackExampleTimestamp, slackExampleSignature, sent.Add(-301 * time.Second), ErrStale},
		{"wrong secret", "another-secret", slackExampleTimestamp, slackExampleSignature, sent, ErrForged},
		{"no secret", "", slackExampleTimestamp, slackExampleSignature, sent, ErrForged},
		{"other timestamp", slackExampleSecret, "1531420619", slackExampleSignature, sent, ErrForged},
		{"upper-case hex", slackExampleSecret, slackExampleTimestamp, "v0=A2114D57B48EAC39B9AD189DD8316235A7B4A8D21A10BD27519666489C69B503", sent, nil},
		{"no timestamp", slackExampleSecret, "", slackExampleSignature, sent, ErrUnsigned},
		{"no signature", slackExampleSecret, slackExampleTimestamp, "", sent, ErrUnsigned},
		{"v1 signature", slackExampleSecret, slackExampleTimestamp, "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", sent, ErrUnsigned},
		{"short signature", slackExampleSecret, slackExampleTimestamp, "v0=a2114d57", sent, ErrUnsigned},
		{"timestamp not a number", slackExampleSecret, "yesterday", slackExampleSignature, sent, ErrUnsigned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(0, 0, func() time.Time { return tt.now })
			err := v.verify([]byte(tt.secret), tt.timestamp, tt.signature, []byte(slackExampleBody))
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRefusesReplaysWithBoundedMemory(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := newVerifier(5*time.Minute, 3, func() time.Time { return now })
	secret := []byte("k")
	req := func(ts time.Time, body string) error {
		stamp := strconv.FormatInt(ts.Unix(), 10)
		return v.verify(secret, stamp, Sign(secret, stamp, []byte(body)), []byte(body))
	}
	if err := req(now, "a"); err != nil {
		t.Fatal(err)
	}
	if err := req(now, "a"); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v, want ErrReplayed", err)
	}
	if err := req(now.Add(-time.Second), "a"); err != nil {
		t.Fatalf("same body signed at another time: %v, want accepted", err)
	}
	for _, body := range []string{"b", "c", "d"} {
		if err := req(now, body); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.remembered(); n != 3 {
		t.Fatalf("remembers %d signatures, want at most 3", n)
	}
	// Once its timestamp left the tolerance, a request is refused as stale, and forgotten.
	now = now.Add(5*time.Minute + 2*time.Second)
	if err := req(now.Add(-5*time.Minute-2*time.Second), "d"); !errors.Is(err, ErrStale) {
		t.Fatalf("old request: %v, want ErrStale", err)
	}
	if err := req(now, "e"); err != nil {
		t.Fatal(err)
	}
	if n := v.remembered(); n != 1 {
		t.Fatalf("remembers %d signatures after they expired, want 1", n)
	}
}
