package route

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/email"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/internal/notifytest"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/pagerduty"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/slack"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/twilio"
	"github.com/lifeboat-dr/lifeboat/integrations/notify/webhook"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
)

func twilioConfig(apiURL string, to ...string) twilio.Config {
	return twilio.Config{AccountSID: notifytest.TwilioAccountSID, AuthTokenRef: "twilio-token", From: "+15550001111", To: to, APIURL: apiURL}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	routes := []Config{
		{Name: "ops", Log: true},
		{Name: "Ops!", Log: true},
		{Name: "ops", Webhooks: []webhook.Config{{URL: "https://hooks.example.com/a"}}},
		{Name: "silent"},
		{Name: "", Log: true},
		{Name: "dba", Webhooks: []webhook.Config{
			{URL: ""},
			{URL: "ftp://files.example.com/x", Attempts: 11},
			{URL: "https:///no-host", Attempts: -1},
			{URL: "https://hooks.example.com/b", Headers: map[string]string{
				"Bad Header":           "x",
				"x-lifeboat-signature": "forged",
				"Content-Type":         "text/plain",
				"X-Token":              "a\r\nInjected: yes",
			}},
			{URL: "https://hooks.example.com/c", Filter: notify.Filter{MinSeverity: "urgent"}},
		}},
		{Name: "on-call", Delivery: "sometimes", Order: []string{"sms"}, Plans: []string{"dns", "", "dns"}, Log: true},
		{Name: "pager", Delivery: notify.DeliverFallback, Order: []string{"slack", "fax", "slack"}, Log: true,
			Slack: []SlackChannel{{Config: slack.Config{Channel: "#dr"}}},
			SMS:   []twilio.SMSConfig{{Config: twilioConfig("", "+15551234567")}},
		},
		{Name: "people",
			Slack:     []SlackChannel{{Config: slack.Config{TokenRef: "slack-token"}, Filter: notify.Filter{Events: []string{"[a"}}}},
			SMS:       []twilio.SMSConfig{{Config: twilio.Config{AccountSID: notifytest.TwilioAccountSID, AuthTokenRef: "t", From: "+15550001111"}}},
			Voice:     []twilio.VoiceConfig{{Config: twilioConfig("", "555-1234")}},
			Email:     []email.Config{{Host: "mail.example.com", TLS: email.NoTLS, From: "dr@example.com", To: []string{"ops@example.com"}}},
			PagerDuty: []pagerduty.Config{{Service: "payments"}},
		},
	}
	err := Validate("notify.routes", routes)
	want := []string{
		`notify.routes[1] (Ops!).name: "Ops!": use 1-63 lower-case letters`,
		"notify.routes[2] (ops).name: also the name of notify.routes[0]",
		"notify.routes[3] (silent): no channel: set log, or add a webhooks, slack, sms, voice, email or pagerduty channel",
		`notify.routes[4].name: "": use`,
		"notify.routes[5] (dba).webhooks[0].url: required",
		`notify.routes[5] (dba).webhooks[1].url: "ftp://files.example.com/x" is not an absolute http(s) URL`,
		"notify.routes[5] (dba).webhooks[1].attempts: 11 is not between 1 and 10",
		`notify.routes[5] (dba).webhooks[2].url: "https:///no-host" is not`,
		"notify.routes[5] (dba).webhooks[2].attempts: -1",
		`notify.routes[5] (dba).webhooks[3].headers: "Bad Header" is not a header name`,
		"notify.routes[5] (dba).webhooks[3].headers.x-lifeboat-signature: set by Lifeboat",
		"notify.routes[5] (dba).webhooks[3].headers.Content-Type: set by Lifeboat",
		"notify.routes[5] (dba).webhooks[3].headers.X-Token: the value contains a line break",
		`notify.routes[5] (dba).webhooks[4].min_severity: "urgent" is not one of info, warning, critical`,
		"notify.routes[6] (on-call).plans[1]: empty",
		`notify.routes[6] (on-call).plans[2]: "dns" is listed twice`,
		`notify.routes[6] (on-call).delivery: "sometimes" is not all or fallback`,
		"notify.routes[6] (on-call).order: only a route with delivery: fallback tries its channels in an order",
		`notify.routes[6] (on-call).order: leaves out log`,
		`notify.routes[7] (pager).order[1]: "fax" is not a kind of channel (slack, webhooks, pagerduty, email, sms, voice, log)`,
		`notify.routes[7] (pager).order[2]: "slack" is listed twice`,
		"notify.routes[7] (pager).order: leaves out log, which the route has",
		"notify.routes[7] (pager).order: leaves out sms, which the route has",
		"notify.routes[7] (pager).slack[0].token: required",
		"notify.routes[8] (people).slack[0].channel: required",
		`notify.routes[8] (people).slack[0].events[0]: "[a" is not a valid pattern`,
		"notify.routes[8] (people).sms[0].to: required",
		`notify.routes[8] (people).voice[0].to[0]: "555-1234" is not an E.164 phone number`,
		"notify.routes[8] (people).email[0].tls: none sends in clear text, which is allowed only for a relay on localhost",
		"notify.routes[8] (people).pagerduty[0].routing_key: required",
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q", w)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != len(want) {
		t.Errorf("%d problems reported, want %d:\n%v", n, len(want), err)
	}

	valid := []Config{
		{Name: "default", Log: true},
		{Name: "on-call", Webhooks: []webhook.Config{{URL: "http://10.0.0.5:8080/alerts", SecretRef: "hook-key", Headers: map[string]string{"Authorization": "Bearer t"}, Attempts: 10}}},
		{Name: "pager", Delivery: notify.DeliverFallback, Order: []string{"pagerduty", "sms", "email"}, Plans: []string{"orders-failover"},
			PagerDuty: []pagerduty.Config{{RoutingKeyRef: "pd-key"}},
			SMS:       []twilio.SMSConfig{{Config: twilioConfig("", "+15551234567")}},
			Email:     []email.Config{{Host: "smtp.example.com", From: "dr@example.com", To: []string{"ops@example.com"}}},
		},
	}
	if err := Validate("routes", valid); err != nil {
		t.Fatalf("valid routes: %v", err)
	}
}

// exampleRoutesYAML configures every kind of channel, as docs/configuration.md shows them.
const exampleRoutesYAML = `
- name: on-call
  delivery: fallback
  order: [slack, sms, email]
  slack:
    - channel: "#dr-war-room"
      token: slack-bot-token
      min_severity: warning
  sms:
    - account_sid: AC0123456789abcdef0123456789abcdef
      auth_token: twilio-auth-token
      from: "+15550001111"
      to: ["+15551234567", "+15557654321"]
      min_severity: critical
  email:
    - host: smtp.example.com
      port: 587
      tls: starttls
      username: lifeboat
      password: smtp-password
      from: Lifeboat <dr@example.com>
      to: [oncall@example.com]
- name: escalation
  plans: [orders-failover]
  voice:
    - account_sid: AC0123456789abcdef0123456789abcdef
      auth_token: twilio-auth-token
      from: "+15550001111"
      to: ["+15551234567"]
      min_level: 2
      voice: Polly.Joanna
  pagerduty:
    - routing_key: pd-routing-key
      service: payments
      min_severity: critical
      events: ["rpo.*", "*.failed", "rto.missed"]
- name: dba
  log: true
  webhooks:
    - url: https://hooks.example.com/lifeboat
      secret: hook-key
      headers: {X-Team: dr}
      timeout: 5s
      attempts: 4
      events: [backup.*, verify.*]
`

func TestConfigDecodes(t *testing.T) {
	// The worker decodes its configuration with KnownFields, so that a typo is an error; the channels'
	// inline filters and settings must be known fields.
	decode := func(doc string) ([]Config, error) {
		var routes []Config
		dec := yaml.NewDecoder(strings.NewReader(doc))
		dec.KnownFields(true)
		return routes, dec.Decode(&routes)
	}
	routes, err := decode(exampleRoutesYAML)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode("- name: x\n  sms:\n    - min_severty: critical\n"); err == nil || !strings.Contains(err.Error(), "field min_severty not found") {
		t.Errorf("a misspelt key: error = %v", err)
	}
	tw := twilio.Config{AccountSID: notifytest.TwilioAccountSID, AuthTokenRef: "twilio-auth-token", From: "+15550001111"}
	sms, voice := tw, tw
	sms.To, voice.To = []string{"+15551234567", "+15557654321"}, []string{"+15551234567"}
	want := []Config{
		{Name: "on-call", Delivery: notify.DeliverFallback, Order: []string{"slack", "sms", "email"},
			Slack: []SlackChannel{{Config: slack.Config{Channel: "#dr-war-room", TokenRef: "slack-bot-token"}, Filter: notify.Filter{MinSeverity: notify.Warning}}},
			SMS:   []twilio.SMSConfig{{Config: sms, Filter: notify.Filter{MinSeverity: notify.Critical}}},
			Email: []email.Config{{Host: "smtp.example.com", Port: 587, TLS: email.StartTLS, Username: "lifeboat", PasswordRef: "smtp-password",
				From: "Lifeboat <dr@example.com>", To: []string{"oncall@example.com"}}},
		},
		{Name: "escalation", Plans: []string{"orders-failover"},
			Voice:     []twilio.VoiceConfig{{Config: voice, Filter: notify.Filter{MinLevel: new(2)}, Voice: "Polly.Joanna"}},
			PagerDuty: []pagerduty.Config{{RoutingKeyRef: "pd-routing-key", Service: "payments", Filter: notify.Filter{MinSeverity: notify.Critical, Events: []string{"rpo.*", "*.failed", "rto.missed"}}}},
		},
		{Name: "dba", Log: true, Webhooks: []webhook.Config{{
			URL: "https://hooks.example.com/lifeboat", SecretRef: "hook-key", Headers: map[string]string{"X-Team": "dr"},
			Timeout: 5_000_000_000, Attempts: 4, Filter: notify.Filter{Events: []string{"backup.*", "verify.*"}},
		}}},
	}
	if len(routes) != len(want) {
		t.Fatalf("decoded %d routes, want %d", len(routes), len(want))
	}
	for i := range want {
		if !equalRoutes(routes[i], want[i]) {
			got, _ := json.Marshal(routes[i])
			exp, _ := json.Marshal(want[i])
			t.Errorf("route %d decoded as\n%s\nwant\n%s", i, got, exp)
		}
	}
	if err := Validate("notify", routes); err != nil {
		t.Errorf("the example does not validate: %v", err)
	}
	b, err := json.Marshal(routes)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"secret":"hook-key"`, `"timeout":"5s"`, `"min_severity":"warning"`, `"token":"slack-bot-token"`, `"auth_token":"twilio-auth-token"`, `"min_level":2`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("json lacks %s: %s", want, b)
		}
	}
	var back []Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !equalRoutes(back[i], want[i]) {
			t.Errorf("json round trip of route %d = %+v", i, back[i])
		}
	}
}

func equalRoutes(a, b Config) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestBuildWithoutRoutesLogs(t *testing.T) {
	var buf bytes.Buffer
	r, err := Build(nil, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Routes(); !slices.Equal(got, []string{notify.DefaultRoute}) {
		t.Fatalf("routes = %v", got)
	}
	ds, err := r.Notify(context.Background(), nil, notifytest.Message())
	if err != nil || len(ds) != 1 || ds[0].Notifier != "log" {
		t.Fatalf("deliveries %+v, error %v", ds, err)
	}
	if !strings.Contains(buf.String(), "Backup of orders-db failed") {
		t.Fatalf("log = %q", buf.String())
	}
}

// rotatingSecrets is a secret store whose values change while the router runs.
type rotatingSecrets struct {
	mu sync.Mutex
	secrets.Static
}

func (s *rotatingSecrets) Secret(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Static.Secret(ctx, name)
}

func (s *rotatingSecrets) set(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == "" {
		delete(s.Static, name)
	} else {
		s.Static[name] = value
	}
}

func TestBuild(t *testing.T) {
	var (
		mu   sync.Mutex
		keys = []string{"first-key"}
	)
	var rcv *notifytest.Receiver
	rcv = notifytest.NewReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		// The receiver checks requests with the key the secret store holds when they arrive.
		mu.Lock()
		key := keys[len(keys)-1]
		mu.Unlock()
		body := rcv.Requests()[n-1].Body
		if err := webhook.Verify([]byte(key), r.Header.Get(webhook.HeaderTimestamp), string(body), r.Header.Get(webhook.HeaderSignature), time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})
	store := &rotatingSecrets{Static: secrets.Static{"hook-key": "first-key"}}
	hook := webhook.Config{URL: rcv.URL + "/alerts", SecretRef: "hook-key", Headers: map[string]string{"X-Team": "dr"}, Timeout: 2_000_000_000}
	var logs bytes.Buffer
	r, err := Build([]Config{
		{Name: "ops", Log: true, Webhooks: []webhook.Config{hook}},
		{Name: "dba", Webhooks: []webhook.Config{hook}},
	}, store.Secret, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Routes(); !slices.Equal(got, []string{"dba", "default", "ops"}) {
		t.Fatalf("routes = %v, want a default route added", got)
	}

	ds, err := r.Notify(context.Background(), []string{"dba", "ops"}, notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	if got := notifytest.Names(ds); !slices.Equal(got, []string{"dba/webhook " + rcv.URL + "/alerts", "ops/log"}) {
		t.Fatalf("deliveries = %v: want the shared webhook once, then the log", got)
	}
	for _, d := range ds {
		if !d.OK() {
			t.Fatalf("%s: %s", d.Notifier, d.Err)
		}
	}
	if n := len(rcv.Requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if got := rcv.Requests()[0].Header.Get("X-Team"); got != "dr" {
		t.Fatalf("X-Team = %q", got)
	}

	// A rotated secret signs the next message.
	store.set("hook-key", "second-key")
	mu.Lock()
	keys = append(keys, "second-key")
	mu.Unlock()
	if ds, err := r.Notify(context.Background(), []string{"dba"}, notifytest.Message()); err != nil {
		t.Fatalf("after rotation: %v (%+v)", err, ds)
	}

	// A secret gone from the store is a permanent failure; the log still takes the message.
	store.set("hook-key", "")
	ds, err = r.Notify(context.Background(), []string{"ops"}, notifytest.Message())
	if err != nil || len(ds) != 2 || !ds[0].OK() || ds[1].OK() || !strings.Contains(ds[1].Err, `secret "hook-key": secret not found`) {
		t.Fatalf("deliveries %+v, error %v", ds, err)
	}
	_, err = r.Notify(context.Background(), []string{"dba"}, notifytest.Message())
	if err == nil || !notify.IsPermanent(err) || !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("only the webhook, its secret gone: error = %v, want permanent", err)
	}
}

func TestBuildReportsEveryProblem(t *testing.T) {
	store := secrets.Static{"empty": ""}
	tw := twilioConfig("", "+15551234567")
	tw.AuthTokenRef = "no-twilio"
	routes := []Config{
		{Name: "ops", Webhooks: []webhook.Config{{URL: "https://a.example.com", SecretRef: "missing"}}},
		{Name: "dba", Webhooks: []webhook.Config{{URL: "https://b.example.com", SecretRef: "empty"}}},
		{Name: "people",
			Slack:     []SlackChannel{{Config: slack.Config{Channel: "#dr", TokenRef: "no-slack"}}},
			SMS:       []twilio.SMSConfig{{Config: tw}},
			Voice:     []twilio.VoiceConfig{{Config: tw}},
			Email:     []email.Config{{Host: "smtp.example.com", From: "dr@example.com", To: []string{"a@example.com"}, Username: "u", PasswordRef: "no-smtp", CAFile: "/nonexistent/ca.pem"}},
			PagerDuty: []pagerduty.Config{{RoutingKeyRef: "no-pd"}},
		},
	}
	_, err := Build(routes, store.Secret, nil)
	for _, want := range []string{
		`routes[0] (ops).webhooks[0].secret: secret "missing": secret not found`,
		`routes[1] (dba).webhooks[0].secret: secret "empty" is empty`,
		`routes[2] (people).slack[0].token: secret "no-slack": secret not found`,
		`routes[2] (people).sms[0].auth_token: secret "no-twilio": secret not found`,
		`routes[2] (people).voice[0].auth_token: secret "no-twilio": secret not found`,
		`routes[2] (people).email[0].ca_file: open /nonexistent/ca.pem`,
		`routes[2] (people).email[0].password: secret "no-smtp": secret not found`,
		`routes[2] (people).pagerduty[0].routing_key: secret "no-pd": secret not found`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := Build(routes[:1], nil, nil); err == nil || !strings.Contains(err.Error(), "no secrets to resolve it from") {
		t.Errorf("without a resolver: error = %v", err)
	}
	if _, err := Build([]Config{{Name: "ops"}}, nil, nil); err == nil || !strings.Contains(err.Error(), "routes[0] (ops): no channel") {
		t.Errorf("invalid route: error = %v", err)
	}
}

// TestBuildDelivers builds routes over real test servers of every channel but Slack, and sends
// messages through them.
func TestBuildDelivers(t *testing.T) {
	tw := notifytest.NewTwilio(t)
	pd := notifytest.NewPagerDuty(t)
	smtpServer := notifytest.NewSMTPServer(t, notifytest.SMTPOptions{TLS: "starttls", Users: map[string]string{"lifeboat": "smtp-pw"}})
	hooks := notifytest.NewReceiver(t, nil)
	store := secrets.Static{"twilio": notifytest.TwilioAuthToken, "pd": notifytest.PagerDutyRoutingKey, "smtp": "smtp-pw", "slack": "xoxb-1"}

	sms := twilio.SMSConfig{Config: twilioConfig(tw.URL, "+15551234567")}
	sms.AuthTokenRef = "twilio"
	smsCritical := sms
	smsCritical.Filter = notify.Filter{MinSeverity: notify.Critical}
	voice := twilio.VoiceConfig{Config: twilioConfig(tw.URL, "+15557654321")}
	voice.AuthTokenRef = "twilio"
	mail := email.Config{Host: "127.0.0.1", Port: smtpServer.Port, CAFile: smtpServer.CAFile, Username: "lifeboat", PasswordRef: "smtp",
		From: "Lifeboat <dr@example.com>", To: []string{"oncall@example.com"}}
	failingPD := pagerduty.Config{RoutingKeyRef: "pd", URL: pd.URL + "/v2/enqueue", Attempts: 1}
	pd.Fail = func(int, http.ResponseWriter) int { return http.StatusBadGateway }

	var logs bytes.Buffer
	routes, err := build([]Config{
		{Name: "on-call", Delivery: notify.DeliverFallback, Order: []string{KindPagerDuty, KindSMS, KindEmail}, PagerDuty: []pagerduty.Config{failingPD}, SMS: []twilio.SMSConfig{sms}, Email: []email.Config{mail}},
		{Name: "managers", SMS: []twilio.SMSConfig{smsCritical}, Voice: []twilio.VoiceConfig{voice}, Webhooks: []webhook.Config{{URL: hooks.URL, Filter: notify.Filter{Events: []string{"backup.*"}}}}},
		{Name: "war-room", Plans: []string{"orders-failover"}, Slack: []SlackChannel{{Config: slack.Config{Channel: "#dr", TokenRef: "slack"}, Filter: notify.Filter{Events: []string{"approval.*"}}}}, Email: []email.Config{mail}},
	}, store.Secret, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := notify.NewRouterFrom(routes)
	if err != nil {
		t.Fatal(err)
	}

	// PagerDuty fails, so the on-call route falls back to SMS, which takes the message: email is not
	// tried. The managers' SMS is the same channel (filtered otherwise), so the message is texted once,
	// by the managers' route, and the on-call route counts that. Voice calls for a critical message at
	// escalation level 1; the webhook wants backup events.
	ds, err := r.Notify(context.Background(), []string{"on-call", "managers"}, notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	wantDeliveries := []string{
		"on-call/pagerduty pd",
		"managers/webhook " + hooks.URL, "managers/sms +1555…4567", "managers/voice +1555…4321",
	}
	if got := notifytest.Names(ds); !slices.Equal(got, wantDeliveries) {
		t.Fatalf("deliveries = %v, want %v", got, wantDeliveries)
	}
	if ds[0].OK() || !strings.Contains(ds[0].Err, "502 Bad Gateway") || !ds[1].OK() || !ds[2].OK() || !ds[3].OK() || ds[0].Attempts != 1 {
		t.Fatalf("deliveries = %+v: want pagerduty failed and the others accepted", ds)
	}
	if got := tw.Requests(); len(got) != 2 || got[0].Resource == got[1].Resource {
		t.Errorf("Twilio requests = %+v, want one SMS and one call", got)
	}
	if n := len(smtpServer.Received()); n != 0 {
		t.Errorf("%d emails sent, want none: SMS took the message", n)
	}
	if n := len(hooks.Requests()); n != 1 {
		t.Errorf("%d webhook requests, want 1", n)
	}

	// A warning about verification: the managers' channels want none of it, and the war room only
	// messages about its plan. Nothing wants it: no delivery, and no error.
	m := notifytest.Message()
	m.Event, m.Severity, m.Level = "verify.failed", notify.Warning, 0
	ds, err = r.Notify(context.Background(), []string{"managers", "war-room"}, m)
	if err != nil || ds != nil {
		t.Fatalf("deliveries %+v, error %v: want none", ds, err)
	}

	// A message about the war room's plan reaches its email; its Slack channel wants approvals only.
	// (Slack has tests of its own.)
	if ch := routes[2].Channels; routes[2].Name != "war-room" || len(ch) != 2 || ch[0].Notifier.Name() != "slack #dr" {
		t.Fatalf("war-room channels = %+v, want slack then email", ch)
	}
	m.Plan = "orders-failover"
	m.Event = "recovery.failed"
	ds, err = r.Notify(context.Background(), []string{"war-room"}, m)
	if err != nil || len(ds) != 1 || ds[0].Notifier != "email oncall@example.com" || !ds[0].OK() {
		t.Fatalf("deliveries %+v, error %v", ds, err)
	}
	if !strings.HasPrefix(ds[0].Ref, "<") || len(smtpServer.Received()) != 1 {
		t.Errorf("email delivery %+v: want a Message-ID ref and one email", ds[0])
	}
}
