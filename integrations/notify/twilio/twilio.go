package twilio

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	twilioclient "github.com/twilio/twilio-go/client"
	twilioapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// DefaultURL is where Twilio's REST API is; Config.APIURL replaces it.
const DefaultURL = "https://api.twilio.com"

// DefaultTimeout bounds each request to Twilio.
const DefaultTimeout = 10 * time.Second

// DefaultVoiceMinLevel is the least escalation level a voice channel calls for when its filter does
// not say: a call only once the first notice went unanswered.
const DefaultVoiceMinLevel = 1

var (
	e164Pattern       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
)

// Config is the Twilio account and the phone numbers of an sms or voice channel.
type Config struct {
	// AccountSID is the Twilio account (AC and 32 hex digits). It is not a secret, but it is left out
	// of names and errors all the same.
	AccountSID string `yaml:"account_sid" json:"account_sid"`
	// AuthTokenRef names the worker secret holding the account's auth token.
	AuthTokenRef string `yaml:"auth_token" json:"auth_token"`
	// From is the Twilio phone number messages and calls come from, in E.164 form (+15551234567).
	From string `yaml:"from" json:"from"`
	// To are the phone numbers to text or call, in E.164 form; each gets every message.
	To []string `yaml:"to" json:"to"`
	// APIURL replaces DefaultURL (for a proxy, or a test server).
	APIURL string `yaml:"api_url" json:"api_url,omitempty"`
	// Timeout bounds each request (DefaultTimeout).
	Timeout units.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Attempts is the most tries per message and number, 1 to notify.MaxAttempts (default
	// notify.DefaultAttempts).
	Attempts int `yaml:"attempts" json:"attempts,omitempty"`
}

// Validate returns every problem with the Twilio settings, prefixed with path, joined, or nil.
func (c Config) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.AccountSID == "":
		bad("account_sid", "required: the Account SID on the Twilio console's dashboard (AC…)")
	case !accountSIDPattern.MatchString(c.AccountSID):
		bad("account_sid", "not an Account SID: AC and 32 hex digits")
	}
	if c.AuthTokenRef == "" {
		bad("auth_token", "required: the name of the secret holding the auth token")
	}
	if c.From == "" {
		bad("from", "required: a Twilio phone number in E.164 form, such as +15551234567")
	} else if !e164Pattern.MatchString(c.From) {
		bad("from", "%q is not an E.164 phone number: + then the country code and number, digits only", c.From)
	}
	if len(c.To) == 0 {
		bad("to", "required: at least one phone number in E.164 form")
	}
	for i, n := range c.To {
		switch {
		case !e164Pattern.MatchString(n):
			bad(fmt.Sprintf("to[%d]", i), "%q is not an E.164 phone number: + then the country code and number, digits only", n)
		case slices.Index(c.To, n) < i:
			bad(fmt.Sprintf("to[%d]", i), "%s is listed twice", n)
		}
	}
	if c.APIURL != "" {
		if _, err := notify.ParseHTTPURL(c.APIURL); err != nil {
			bad("api_url", "%v", err)
		}
	}
	if c.Timeout < 0 {
		bad("timeout", "negative")
	}
	if err := notify.ValidateAttempts(path, c.Attempts); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// SMSConfig configures an sms channel of a route.
type SMSConfig struct {
	Config        `yaml:",inline"`
	notify.Filter `yaml:",inline"`
}

// Validate returns every problem with the sms channel, prefixed with path, joined, or nil.
func (c SMSConfig) Validate(path string) error {
	return errors.Join(c.Config.Validate(path), c.Filter.Validate(path))
}

// VoiceConfig configures a voice channel of a route: a phone call that says the message's title and
// asks to look at Slack or email. Its filter wants only critical messages of escalation level
// DefaultVoiceMinLevel or more, unless it says otherwise.
type VoiceConfig struct {
	Config        `yaml:",inline"`
	notify.Filter `yaml:",inline"`
	// Voice is the text-to-speech voice, such as "Polly.Joanna"; empty means Twilio's default.
	Voice string `yaml:"voice" json:"voice,omitempty"`
	// Language is the language of the speech, such as "en-GB"; empty means Twilio's default (en-US).
	Language string `yaml:"language" json:"language,omitempty"`
}

// Validate returns every problem with the voice channel, prefixed with path, joined, or nil.
func (c VoiceConfig) Validate(path string) error {
	return errors.Join(c.Config.Validate(path), c.Filter.Validate(path))
}

// SMS texts messages to phone numbers through Twilio's Messages API: the message rendered with
// notify.TemplateSMS, to every configured number. It tries each number up to Attempts times within
// one Notify call: again after a network error, a timeout, 429 or a 5xx status (waiting as long as
// Retry-After asks, or backing off); any other error status is permanent. A retry sends only to the
// numbers that have not accepted yet. Notify succeeds once every number has accepted.
type SMS struct {
	twilio *channel
}

var _ notify.Notifier = (*SMS)(nil)

// NewSMS returns the sms notifier of cfg; token returns the auth token.
func NewSMS(cfg Config, token notify.SecretFunc) *SMS {
	return &SMS{twilio: newChannel("sms", cfg, token)}
}

// Name implements notify.Notifier: "sms" and the numbers, masked ("sms +1555…4567").
func (s *SMS) Name() string { return s.twilio.name() }

// Notify implements notify.Notifier.
func (s *SMS) Notify(ctx context.Context, m notify.Message) error {
	if err := m.Validate(); err != nil {
		return notify.Permanent(fmt.Errorf("%s: invalid message: %w", s.Name(), err))
	}
	body, err := notify.Render(notify.TemplateSMS, m)
	if err != nil {
		return notify.Permanent(fmt.Errorf("%s: %w", s.Name(), err))
	}
	return s.twilio.send(ctx, func(svc *twilioapi.ApiService, to string) error {
		params := &twilioapi.CreateMessageParams{}
		// SmartEncoded has Twilio replace characters outside the GSM alphabet that the message's own
		// text may bring (curly quotes, dashes) with their GSM look-alikes, so segments stay long.
		params.SetTo(to).SetFrom(s.twilio.cfg.From).SetBody(body).SetSmartEncoded(true)
		_, err := svc.CreateMessage(params)
		return err
	})
}

// Voice calls phone numbers through Twilio's Calls API, with TwiML that says the message rendered
// with notify.TemplateVoice twice. Notify succeeds once Twilio has queued a call to every number;
// whether someone answers is not known then. It retries as SMS does.
type Voice struct {
	twilio          *channel
	voice, language string
}

var _ notify.Notifier = (*Voice)(nil)

// NewVoice returns the voice notifier of cfg, whose Filter it ignores; token returns the auth token.
func NewVoice(cfg VoiceConfig, token notify.SecretFunc) *Voice {
	return &Voice{twilio: newChannel("voice", cfg.Config, token), voice: cfg.Voice, language: cfg.Language}
}

// Name implements notify.Notifier: "voice" and the numbers, masked ("voice +1555…4567").
func (v *Voice) Name() string { return v.twilio.name() }

// Notify implements notify.Notifier.
func (v *Voice) Notify(ctx context.Context, m notify.Message) error {
	if err := m.Validate(); err != nil {
		return notify.Permanent(fmt.Errorf("%s: invalid message: %w", v.Name(), err))
	}
	speech, err := notify.Render(notify.TemplateVoice, m)
	if err != nil {
		return notify.Permanent(fmt.Errorf("%s: %w", v.Name(), err))
	}
	twiml, err := sayTwiML(speech, v.voice, v.language)
	if err != nil {
		return notify.Permanent(fmt.Errorf("%s: %w", v.Name(), err))
	}
	return v.twilio.send(ctx, func(svc *twilioapi.ApiService, to string) error {
		params := &twilioapi.CreateCallParams{}
		params.SetTo(to).SetFrom(v.twilio.cfg.From).SetTwiml(twiml)
		_, err := svc.CreateCall(params)
		return err
	})
}

// sayTwiML returns the TwiML document of a call that says speech twice.
func sayTwiML(speech, voice, language string) (string, error) {
	type say struct {
		Voice    string `xml:"voice,attr,omitempty"`
		Language string `xml:"language,attr,omitempty"`
		Loop     int    `xml:"loop,attr"`
		Text     string `xml:",chardata"`
	}
	doc := struct {
		XMLName xml.Name `xml:"Response"`
		Say     say      `xml:"Say"`
	}{Say: say{Voice: voice, Language: language, Loop: 2, Text: speech}}
	b, err := xml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encode TwiML: %w", err)
	}
	return xml.Header + string(b), nil
}

// channel is what SMS and Voice share: the account, the numbers and how to reach Twilio.
type channel struct {
	kind  string
	cfg   Config
	token notify.SecretFunc
	retry notify.RetryPolicy
	// transport sends the requests; nil means http.DefaultTransport.
	transport http.RoundTripper
}

func newChannel(kind string, cfg Config, token notify.SecretFunc) *channel {
	cfg.To = slices.Clone(cfg.To)
	return &channel{kind: kind, cfg: cfg, token: token, retry: notify.RetryPolicy{Attempts: cfg.Attempts}}
}

func (c *channel) name() string {
	masked := make([]string, len(c.cfg.To))
	for i, n := range c.cfg.To {
		masked[i] = maskPhone(n)
	}
	return c.kind + " " + strings.Join(masked, ",")
}

// maskPhone keeps the country and area code and the last four digits of a number: "+1555…4567".
func maskPhone(n string) string {
	r := []rune(n)
	if len(r) <= 9 {
		return n
	}
	return string(r[:5]) + "…" + string(r[len(r)-4:])
}

// send calls create for every number, retrying the numbers that failed in a way that may go away,
// and returns nil once every number has accepted.
func (c *channel) send(ctx context.Context, create func(svc *twilioapi.ApiService, to string) error) error {
	name := c.name()
	base, err := url.Parse(DefaultURL)
	if c.cfg.APIURL != "" {
		var raw string
		if raw, err = notify.ParseHTTPURL(c.cfg.APIURL); err == nil {
			base, err = url.Parse(raw)
		}
	}
	if err != nil {
		return notify.Permanent(fmt.Errorf("%s: api_url: %w", name, err))
	}
	if c.token == nil {
		return notify.Permanent(fmt.Errorf("%s: no auth token configured", name))
	}
	token, err := c.token(ctx)
	if err != nil {
		return fmt.Errorf("%s: auth token: %w", name, err)
	}
	if len(token) == 0 {
		return notify.Permanent(fmt.Errorf("%s: auth token is empty", name))
	}
	timeout := c.cfg.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}

	pending := slices.Clone(c.cfg.To)
	var rejected []error
	err = c.retry.Do(ctx, name, func(ctx context.Context) (time.Duration, error) {
		var (
			failed  []error
			next    []string
			waitFor = time.Duration(-1)
		)
		for _, to := range pending {
			wait, err := c.post(ctx, base, string(token), timeout, to, create)
			if err == nil {
				continue
			}
			err = fmt.Errorf("%s: %w", maskPhone(to), err)
			if notify.IsPermanent(err) {
				rejected = append(rejected, err)
				continue
			}
			failed = append(failed, err)
			next = append(next, to)
			waitFor = max(waitFor, wait)
		}
		pending = next
		switch {
		case len(failed) > 0:
			return waitFor, errors.Join(append(slices.Clone(rejected), failed...)...)
		case len(rejected) > 0:
			return -1, notify.Permanent(errors.Join(rejected...))
		}
		return -1, nil
	})
	return err
}

// post makes one request to Twilio for one number. It returns the wait a Retry-After header asks
// for, or -1.
func (c *channel) post(ctx context.Context, base *url.URL, token string, timeout time.Duration, to string,
	create func(svc *twilioapi.ApiService, to string) error) (time.Duration, error) {
	tryCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	next := c.transport
	if next == nil {
		next = http.DefaultTransport
	}
	var last twilioExchange
	client := &twilioclient.Client{
		Credentials: twilioclient.NewCredentials(c.cfg.AccountSID, token),
		HTTPClient: &http.Client{
			Transport:     &twilioTransport{ctx: tryCtx, base: base, next: next, last: &last},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	client.SetAccountSid(c.cfg.AccountSID)
	// The request handler is made here rather than with NewRequestHandler, which reads the edge and
	// region from the environment and would send requests somewhere the configuration does not say.
	svc := twilioapi.NewApiService(&twilioclient.RequestHandler{Client: client})
	err := create(svc, to)
	return twilioResult(ctx, tryCtx, timeout, last, err)
}

// twilioResult sorts the outcome of a request into success, a failure that may go away (with the
// wait Retry-After asks for, or -1) and a permanent one.
func twilioResult(ctx, tryCtx context.Context, timeout time.Duration, last twilioExchange, err error) (time.Duration, error) {
	if last.status >= 200 && last.status <= 299 {
		// Twilio took the request; a reply that does not decode changes nothing, and trying again
		// would text or call twice.
		return -1, nil
	}
	if err == nil {
		return -1, nil
	}
	var rest *twilioclient.TwilioRestError
	isRest := errors.As(err, &rest)
	if last.status == 0 {
		if isRest {
			// The client refused the credentials before sending anything.
			return -1, notify.Permanent(fmt.Errorf("refused before sending (twilio error %d: %s): check the account_sid and the auth_token secret", rest.Code, rest.Message))
		}
		return -1, notify.RequestError(ctx, tryCtx, timeout, err)
	}
	statusErr := &notify.StatusError{StatusCode: last.status, Status: fmt.Sprintf("%d %s", last.status, http.StatusText(last.status))}
	if isRest && (rest.Code != 0 || rest.Message != "") {
		statusErr.Body = fmt.Sprintf("Twilio error %d: %s", rest.Code, rest.Message)
		if rest.MoreInfo != "" {
			statusErr.Body += " (" + rest.MoreInfo + ")"
		}
	} else {
		statusErr.Body = notify.Snippet(last.body)
	}
	switch {
	case last.status == http.StatusTooManyRequests || last.status >= 500:
		if d, ok := notify.ParseRetryAfter(last.retryAfter, time.Now()); ok {
			return d, statusErr
		}
		return -1, statusErr
	case last.status == http.StatusUnauthorized || last.status == http.StatusForbidden:
		return -1, notify.Permanent(fmt.Errorf("%w: check the account_sid and the auth_token secret", statusErr))
	default:
		return -1, notify.Permanent(statusErr)
	}
}

// twilioExchange is what twilioTransport saw of the last response.
type twilioExchange struct {
	status     int
	retryAfter string
	body       []byte
}

// twilioTransport sends the Twilio client's requests to the configured base URL, under the context
// of the try (the client makes its requests without one), and keeps the response's status, its
// Retry-After header and its body, which it reads whole so that the connection can be reused.
type twilioTransport struct {
	ctx  context.Context
	base *url.URL
	next http.RoundTripper
	last *twilioExchange
}

// RoundTrip implements http.RoundTripper.
func (t *twilioTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(t.ctx)
	r.URL.Scheme, r.URL.Host = t.base.Scheme, t.base.Host
	r.URL.Path = strings.TrimSuffix(t.base.Path, "/") + r.URL.Path
	r.URL.RawPath = ""
	r.Host = ""
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	*t.last = twilioExchange{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: body}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
