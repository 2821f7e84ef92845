package twilio

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/internal/notifytest"
)

func testConfig(apiURL string, to ...string) Config {
	return Config{AccountSID: notifytest.TwilioAccountSID, AuthTokenRef: "twilio-token", From: "+15550001111", To: to, APIURL: apiURL}
}

func TestSMS(t *testing.T) {
	const (
		alice = "+15551234567"
		bob   = "+447700900123"
	)
	tests := []struct {
		name          string
		token         string
		fail          func(to string, n int, w http.ResponseWriter) (int, string)
		wantErr       []string // empty: success
		wantPermanent bool
		wantTries     map[string]int
		wantAttempts  int
		minElapsed    time.Duration
	}{
		{
			name: "every number gets the message", token: notifytest.TwilioAuthToken,
			wantTries: map[string]int{alice: 1, bob: 1}, wantAttempts: 1,
		},
		{
			name: "a 503 is retried for that number only", token: notifytest.TwilioAuthToken,
			fail: func(to string, n int, w http.ResponseWriter) (int, string) {
				if to == bob && n == 1 {
					return http.StatusServiceUnavailable, "<html>upstream unavailable</html>"
				}
				return 0, ""
			},
			wantTries: map[string]int{alice: 1, bob: 2}, wantAttempts: 2,
		},
		{
			name: "a 429 waits as Retry-After asks", token: notifytest.TwilioAuthToken,
			fail: func(to string, n int, w http.ResponseWriter) (int, string) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.Header().Set("Content-Type", "application/json")
					return http.StatusTooManyRequests, `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`
				}
				return 0, ""
			},
			wantTries: map[string]int{alice: 2, bob: 2}, wantAttempts: 2, minElapsed: time.Second,
		},
		{
			name: "5xx every time fails after the last try", token: notifytest.TwilioAuthToken,
			fail: func(to string, n int, w http.ResponseWriter) (int, string) {
				w.Header().Set("Content-Type", "application/json")
				return http.StatusInternalServerError, `{"code":20500,"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/20500","status":500}`
			},
			wantErr:   []string{"attempt 3 of 3", "+1555…4567: 500 Internal Server Error: Twilio error 20500: Internal Server Error", "+4477…0123: 500"},
			wantTries: map[string]int{alice: 3, bob: 3}, wantAttempts: 3,
		},
		{
			name: "a rejected number is permanent once the others accepted", token: notifytest.TwilioAuthToken,
			fail: func(to string, n int, w http.ResponseWriter) (int, string) {
				switch {
				case to == alice:
					w.Header().Set("Content-Type", "application/json")
					return http.StatusBadRequest, `{"code":21614,"message":"'To' number is not a valid mobile number","more_info":"https://www.twilio.com/docs/errors/21614","status":400}`
				case n == 1:
					return http.StatusBadGateway, "bad gateway"
				}
				return 0, ""
			},
			wantErr:       []string{"attempt 2 of 3", "+1555…4567: 400 Bad Request: Twilio error 21614: 'To' number is not a valid mobile number (https://www.twilio.com/docs/errors/21614)"},
			wantPermanent: true,
			wantTries:     map[string]int{alice: 1, bob: 2}, wantAttempts: 2,
		},
		{
			name: "a wrong auth token is permanent", token: "fedcba9876543210fedcba9876543210",
			wantErr:       []string{"401 Unauthorized: Twilio error 20003: Authenticate", "check the account_sid and the auth_token secret"},
			wantPermanent: true,
			wantTries:     map[string]int{}, wantAttempts: 1, // the fake counts only authenticated requests
		},
		{
			name: "an auth token Twilio cannot take is permanent, without sending", token: "not/a token",
			wantErr:       []string{"refused before sending (twilio error 21224: Invalid Password. Illegal chars)", "check the account_sid"},
			wantPermanent: true,
			wantTries:     map[string]int{}, wantAttempts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tw := notifytest.NewTwilio(t)
			tw.Fail = tt.fail
			s := NewSMS(testConfig(tw.URL, alice, bob), notify.StaticSecret([]byte(tt.token)))
			s.twilio.retry.Backoff = time.Millisecond
			m := notifytest.Message()
			start := time.Now()
			ctx, attempts := notify.WithAttemptCount(context.Background())
			err := s.Notify(ctx, m)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("error: %v", err)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error = %v, want it to contain %q", err, want)
				}
			}
			if err != nil {
				if notify.IsPermanent(err) != tt.wantPermanent {
					t.Errorf("IsPermanent = %v, want %v", notify.IsPermanent(err), tt.wantPermanent)
				}
				for _, secret := range []string{tt.token, notifytest.TwilioAccountSID} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error quotes a credential: %v", err)
					}
				}
			}
			for _, to := range []string{alice, bob} {
				if got := tw.TriesOf(to); got != tt.wantTries[to] {
					t.Errorf("%s: %d requests, want %d", to, got, tt.wantTries[to])
				}
			}
			if attempts() != tt.wantAttempts {
				t.Errorf("%d attempts counted, want %d", attempts(), tt.wantAttempts)
			}
			if elapsed := time.Since(start); elapsed < tt.minElapsed {
				t.Errorf("took %s, want at least %s", elapsed, tt.minElapsed)
			}
			if err != nil {
				return
			}
			body, _ := notify.Render(notify.TemplateSMS, m)
			reqs := tw.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d messages accepted, want 2", len(reqs))
			}
			for _, r := range reqs {
				if r.Resource != "Messages" || r.Form["Body"] != body || r.Form["From"] != "+15550001111" {
					t.Errorf("request %+v, want a message with body %q", r, body)
				}
			}
		})
	}
}

func TestVoice(t *testing.T) {
	tw := notifytest.NewTwilio(t)
	cfg := VoiceConfig{Config: testConfig(tw.URL, "+15551234567"), Voice: "Polly.Joanna", Language: "en-US"}
	v := NewVoice(cfg, notify.StaticSecret([]byte(notifytest.TwilioAuthToken)))
	m := notifytest.Message()
	m.Title = `Backup of "orders" & <billing> failed`
	if err := v.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := tw.Requests()
	if len(reqs) != 1 || reqs[0].Resource != "Calls" || reqs[0].Form["To"] != "+15551234567" {
		t.Fatalf("requests = %+v, want one call", reqs)
	}
	var doc struct {
		XMLName xml.Name `xml:"Response"`
		Say     struct {
			Voice    string `xml:"voice,attr"`
			Language string `xml:"language,attr"`
			Loop     string `xml:"loop,attr"`
			Text     string `xml:",chardata"`
		} `xml:"Say"`
	}
	if err := xml.Unmarshal([]byte(reqs[0].Form["Twiml"]), &doc); err != nil {
		t.Fatalf("TwiML %q: %v", reqs[0].Form["Twiml"], err)
	}
	speech, _ := notify.Render(notify.TemplateVoice, m)
	if doc.Say.Text != speech || doc.Say.Voice != "Polly.Joanna" || doc.Say.Language != "en-US" || doc.Say.Loop != "2" {
		t.Errorf("Say = %+v, want %q said twice by Polly.Joanna", doc.Say, speech)
	}
	if !strings.Contains(speech, `Backup of "orders" & <billing> failed`) || !strings.Contains(speech, "check Slack or your email") {
		t.Errorf("speech = %q", speech)
	}
}

func TestTwilioNames(t *testing.T) {
	cfg := testConfig("", "+15551234567", "+447700900123")
	for _, name := range []string{NewSMS(cfg, nil).Name(), NewVoice(VoiceConfig{Config: cfg}, nil).Name()} {
		if !strings.HasSuffix(name, " +1555…4567,+4477…0123") {
			t.Errorf("name %q, want the numbers masked", name)
		}
		if strings.Contains(name, notifytest.TwilioAccountSID) || strings.Contains(name, "twilio-token") {
			t.Errorf("name %q names the account", name)
		}
	}
}

func TestTwilioNetworkErrorIsRetried(t *testing.T) {
	tw := notifytest.NewTwilio(t)
	tw.Close()
	s := NewSMS(testConfig(tw.URL, "+15551234567"), notify.StaticSecret([]byte(notifytest.TwilioAuthToken)))
	s.twilio.retry = notify.RetryPolicy{Attempts: 2, Backoff: time.Millisecond}
	ctx, attempts := notify.WithAttemptCount(context.Background())
	err := s.Notify(ctx, notifytest.Message())
	if err == nil || notify.IsPermanent(err) || attempts() != 2 || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("attempts %d, error %v: want 2 tries and a retryable error", attempts(), err)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := Config{AccountSID: "SK123", From: "5550001111", To: []string{"+15551234567", "+1 555 123", "+15551234567"},
		APIURL: "ftp://x", Attempts: 12, Timeout: -1}
	err := SMSConfig{Config: bad, Filter: notify.Filter{MinSeverity: "loud", Events: []string{"[a-"}}}.Validate("sms[0]")
	for _, want := range []string{
		"sms[0].account_sid: not an Account SID",
		"sms[0].auth_token: required",
		`sms[0].from: "5550001111" is not an E.164 phone number`,
		`sms[0].to[1]: "+1 555 123" is not an E.164`,
		"sms[0].to[2]: +15551234567 is listed twice",
		`sms[0].api_url: "ftp://x" is not an absolute http(s) URL`,
		"sms[0].timeout: negative",
		"sms[0].attempts: 12 is not between 1 and 10",
		`sms[0].min_severity: "loud"`,
		`sms[0].events[0]: "[a-" is not a valid pattern`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if err := (Config{}).Validate("voice[0]"); err == nil || !strings.Contains(err.Error(), "voice[0].to: required") {
		t.Errorf("empty config: %v", err)
	}
	if err := testConfig("", "+15551234567").Validate("sms[0]"); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestContract(t *testing.T) {
	token := notify.StaticSecret([]byte(notifytest.TwilioAuthToken))
	for kind, build := range map[string]func(cfg Config) notify.Notifier{
		"sms":   func(cfg Config) notify.Notifier { return NewSMS(cfg, token) },
		"voice": func(cfg Config) notify.Notifier { return NewVoice(VoiceConfig{Config: cfg}, token) },
	} {
		t.Run(kind, func(t *testing.T) {
			tw := notifytest.NewTwilio(t)
			n := build(testConfig(tw.URL, "+15551234567"))
			notifytest.Contract(t, n, func() int { return len(tw.Requests()) }, notifytest.TwilioAccountSID)
		})
	}
}
