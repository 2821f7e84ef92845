package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAccountSID = "AC0123456789abcdef0123456789abcdef"
	testAuthToken  = "0123456789abcdef0123456789abcdef"
)

// twilioRequest is a request the fake Twilio accepted.
type twilioRequest struct {
	resource string // "Messages" or "Calls"
	form     map[string]string
}

// fakeTwilio speaks the part of Twilio's REST API that SMS and Voice use: form-encoded POSTs to
// /2010-04-01/Accounts/{sid}/Messages.json and Calls.json with Basic auth, JSON answers and error
// JSON {code, message, more_info, status}, as Twilio sends them.
type fakeTwilio struct {
	*httptest.Server
	// fail, when set, may answer a request instead of the fake: it returns the status and body to
	// send, or 0 to let the request through. n counts the requests to the number, from 1.
	fail func(to string, n int, w http.ResponseWriter) (status int, body string)

	mu       sync.Mutex
	tries    map[string]int
	accepted []twilioRequest
}

var twilioPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/(Messages|Calls)\.json$`)

func newFakeTwilio(t *testing.T) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{tries: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func twilioJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func twilioErrorJSON(w http.ResponseWriter, status, code int, message string) {
	twilioJSON(w, status, map[string]any{"code": code, "message": message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	match := twilioPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || match == nil {
		twilioErrorJSON(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	sid, resource := match[1], match[2]
	if user, pass, ok := r.BasicAuth(); !ok || user != testAccountSID || pass != testAuthToken || sid != testAccountSID {
		twilioErrorJSON(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		twilioErrorJSON(w, http.StatusBadRequest, 20001, "Content-Type "+ct+" is not form-encoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioErrorJSON(w, http.StatusBadRequest, 20001, err.Error())
		return
	}
	form := map[string]string{}
	for k, v := range r.PostForm {
		form[k] = v[0]
	}
	to := form["To"]
	f.mu.Lock()
	f.tries[to]++
	n := f.tries[to]
	f.mu.Unlock()
	if f.fail != nil {
		if status, body := f.fail(to, n, w); status != 0 {
			w.WriteHeader(status)
			_, _ = fmt.Fprint(w, body)
			return
		}
	}
	switch {
	case !e164Pattern.MatchString(to):
		twilioErrorJSON(w, http.StatusBadRequest, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to))
		return
	case !e164Pattern.MatchString(form["From"]):
		twilioErrorJSON(w, http.StatusBadRequest, 21212, "Invalid From Number (caller ID)")
		return
	case resource == "Messages" && form["Body"] == "":
		twilioErrorJSON(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case resource == "Messages" && len([]rune(form["Body"])) > 1600:
		twilioErrorJSON(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.")
		return
	case resource == "Calls" && form["Twiml"] == "" && form["Url"] == "":
		twilioErrorJSON(w, http.StatusBadRequest, 21205, "Url parameter is required.")
		return
	case resource == "Calls" && xml.Unmarshal([]byte(form["Twiml"]), new(struct {
		XMLName xml.Name `xml:"Response"`
	})) != nil:
		twilioErrorJSON(w, http.StatusBadRequest, 13201, "Invalid TwiML")
		return
	}
	f.mu.Lock()
	f.accepted = append(f.accepted, twilioRequest{resource: resource, form: form})
	f.mu.Unlock()
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	prefix := map[string]string{"Messages": "SM", "Calls": "CA"}[resource]
	twilioJSON(w, http.StatusCreated, map[string]any{
		"sid": prefix + hex.EncodeToString(id), "account_sid": sid, "to": to, "from": form["From"],
		"body": form["Body"], "status": "queued", "api_version": "2010-04-01",
		"date_created": time.Now().UTC().Format(time.RFC1123Z),
		"uri":          fmt.Sprintf("/2010-04-01/Accounts/%s/%s/%s%s.json", sid, resource, prefix, hex.EncodeToString(id)),
	})
}

func (f *fakeTwilio) requests() []twilioRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]twilioRequest(nil), f.accepted...)
}

func (f *fakeTwilio) triesOf(to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries[to]
}

func testTwilioConfig(apiURL string, to ...string) TwilioConfig {
	return TwilioConfig{AccountSID: testAccountSID, AuthTokenRef: "twilio-token", From: "+15550001111", To: to, APIURL: apiURL}
}

// countAttempts runs notify with an attempt counter and returns the tries it counted.
func countAttempts(ctx context.Context, notify func(ctx context.Context) error) (int, error) {
	ctx, c := withAttemptCounter(ctx)
	err := notify(ctx)
	return int(c.n.Load()), err
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
			name: "every number gets the message", token: testAuthToken,
			wantTries: map[string]int{alice: 1, bob: 1}, wantAttempts: 1,
		},
		{
			name: "a 503 is retried for that number only", token: testAuthToken,
			fail: func(to string, n int, w http.ResponseWriter) (int, string) {
				if to == bob && n == 1 {
					return http.StatusServiceUnavailable, "<html>upstream unavailable</html>"
				}
				return 0, ""
			},
			wantTries: map[string]int{alice: 1, bob: 2}, wantAttempts: 2,
		},
		{
			name: "a 429 waits as Retry-After asks", token: testAuthToken,
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
			name: "5xx every time fails after the last try", token: testAuthToken,
			fail: func(to string, n int, w http.ResponseWriter) (int, string) {
				w.Header().Set("Content-Type", "application/json")
				return http.StatusInternalServerError, `{"code":20500,"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/20500","status":500}`
			},
			wantErr:   []string{"attempt 3 of 3", "+1555…4567: 500 Internal Server Error: Twilio error 20500: Internal Server Error", "+4477…0123: 500"},
			wantTries: map[string]int{alice: 3, bob: 3}, wantAttempts: 3,
		},
		{
			name: "a rejected number is permanent once the others accepted", token: testAuthToken,
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
			tw := newFakeTwilio(t)
			tw.fail = tt.fail
			s := NewSMS(testTwilioConfig(tw.URL, alice, bob), StaticSecret([]byte(tt.token)))
			s.twilio.retry.Backoff = time.Millisecond
			m := testMessage()
			start := time.Now()
			attempts, err := countAttempts(context.Background(), func(ctx context.Context) error { return s.Notify(ctx, m) })
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("error: %v", err)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error = %v, want it to contain %q", err, want)
				}
			}
			if err != nil {
				if IsPermanent(err) != tt.wantPermanent {
					t.Errorf("IsPermanent = %v, want %v", IsPermanent(err), tt.wantPermanent)
				}
				for _, secret := range []string{tt.token, testAccountSID} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error quotes a credential: %v", err)
					}
				}
			}
			for _, to := range []string{alice, bob} {
				if got := tw.triesOf(to); got != tt.wantTries[to] {
					t.Errorf("%s: %d requests, want %d", to, got, tt.wantTries[to])
				}
			}
			if attempts != tt.wantAttempts {
				t.Errorf("%d attempts counted, want %d", attempts, tt.wantAttempts)
			}
			if elapsed := time.Since(start); elapsed < tt.minElapsed {
				t.Errorf("took %s, want at least %s", elapsed, tt.minElapsed)
			}
			if err != nil {
				return
			}
			body, _ := Render(TemplateSMS, m)
			reqs := tw.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d messages accepted, want 2", len(reqs))
			}
			for _, r := range reqs {
				if r.resource != "Messages" || r.form["Body"] != body || r.form["From"] != "+15550001111" {
					t.Errorf("request %+v, want a message with body %q", r, body)
				}
			}
		})
	}
}

func TestVoice(t *testing.T) {
	tw := newFakeTwilio(t)
	cfg := VoiceConfig{TwilioConfig: testTwilioConfig(tw.URL, "+15551234567"), Voice: "Polly.Joanna", Language: "en-US"}
	v := NewVoice(cfg, StaticSecret([]byte(testAuthToken)))
	m := testMessage()
	m.Title = `Backup of "orders" & <billing> failed`
	if err := v.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := tw.requests()
	if len(reqs) != 1 || reqs[0].resource != "Calls" || reqs[0].form["To"] != "+15551234567" {
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
	if err := xml.Unmarshal([]byte(reqs[0].form["Twiml"]), &doc); err != nil {
		t.Fatalf("TwiML %q: %v", reqs[0].form["Twiml"], err)
	}
	speech, _ := Render(TemplateVoice, m)
	if doc.Say.Text != speech || doc.Say.Voice != "Polly.Joanna" || doc.Say.Language != "en-US" || doc.Say.Loop != "2" {
		t.Errorf("Say = %+v, want %q said twice by Polly.Joanna", doc.Say, speech)
	}
	if !strings.Contains(speech, `Backup of "orders" & <billing> failed`) || !strings.Contains(speech, "check Slack or your email") {
		t.Errorf("speech = %q", speech)
	}
}

func TestTwilioNames(t *testing.T) {
	cfg := testTwilioConfig("", "+15551234567", "+447700900123")
	for _, name := range []string{NewSMS(cfg, nil).Name(), NewVoice(VoiceConfig{TwilioConfig: cfg}, nil).Name()} {
		if !strings.HasSuffix(name, " +1555…4567,+4477…0123") {
			t.Errorf("name %q, want the numbers masked", name)
		}
		if strings.Contains(name, testAccountSID) || strings.Contains(name, "twilio-token") {
			t.Errorf("name %q names the account", name)
		}
	}
}

func TestTwilioNetworkErrorIsRetried(t *testing.T) {
	tw := newFakeTwilio(t)
	tw.Close()
	s := NewSMS(testTwilioConfig(tw.URL, "+15551234567"), StaticSecret([]byte(testAuthToken)))
	s.twilio.retry = retryPolicy{Attempts: 2, Backoff: time.Millisecond}
	attempts, err := countAttempts(context.Background(), func(ctx context.Context) error { return s.Notify(ctx, testMessage()) })
	if err == nil || IsPermanent(err) || attempts != 2 || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("attempts %d, error %v: want 2 tries and a retryable error", attempts, err)
	}
}

func TestTwilioConfigValidate(t *testing.T) {
	bad := TwilioConfig{AccountSID: "SK123", From: "5550001111", To: []string{"+15551234567", "+1 555 123", "+15551234567"},
		APIURL: "ftp://x", Attempts: 12, Timeout: -1}
	err := SMSConfig{TwilioConfig: bad, Filter: Filter{MinSeverity: "loud", Events: []string{"[a-"}}}.Validate("sms[0]")
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
	if err := (TwilioConfig{}).Validate("voice[0]"); err == nil || !strings.Contains(err.Error(), "voice[0].to: required") {
		t.Errorf("empty config: %v", err)
	}
	if err := testTwilioConfig("", "+15551234567").Validate("sms[0]"); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
