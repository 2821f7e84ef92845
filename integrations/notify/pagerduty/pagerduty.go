package pagerduty

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// DefaultURL is PagerDuty's Events API v2 endpoint; Config.URL replaces it.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// DefaultTimeout bounds each request to PagerDuty.
const DefaultTimeout = 10 * time.Second

// The PagerDuty event actions.
const (
	Trigger     = "trigger"
	Acknowledge = "acknowledge"
	Resolve     = "resolve"
)

// Limits of the Events API v2, in characters.
const (
	pagerDutySummaryMax  = 1024
	pagerDutySourceMax   = 255
	pagerDutyDedupKeyMax = 255
)

// Config configures a pagerduty channel of a route: a service's Events API v2 integration.
type Config struct {
	// RoutingKeyRef names the worker secret holding the integration's routing key (32 characters, on
	// the service's Integrations tab).
	RoutingKeyRef string `yaml:"routing_key" json:"routing_key"`
	// Service names the PagerDuty service in deliveries ("pagerduty payments"); empty means the
	// routing key's secret name.
	Service string `yaml:"service" json:"service,omitempty"`
	// URL replaces DefaultURL (for a proxy, or a test server).
	URL string `yaml:"url" json:"url,omitempty"`
	// Timeout bounds each request (DefaultTimeout).
	Timeout units.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Attempts is the most tries per message, 1 to notify.MaxAttempts (default
	// notify.DefaultAttempts).
	Attempts      int `yaml:"attempts" json:"attempts,omitempty"`
	notify.Filter `yaml:",inline"`
}

// Validate returns every problem with the pagerduty channel, prefixed with path, joined, or nil.
func (c Config) Validate(path string) error {
	var errs []error
	if c.RoutingKeyRef == "" {
		errs = append(errs, fmt.Errorf("%s.routing_key: required: the name of the secret holding the integration's routing key", path))
	}
	if c.URL != "" {
		if _, err := notify.ParseHTTPURL(c.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s.url: %w", path, err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: negative", path))
	}
	if err := notify.ValidateAttempts(path, c.Attempts); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Filter.Validate(path))
	return errors.Join(errs...)
}

// Event is the body of an Events API v2 request.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Payload     *Payload `json:"payload,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload describes a triggered alert.
type Payload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"`
	Timestamp     string            `json:"timestamp,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

// Link is a link shown on the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Notifier sends messages to a PagerDuty service through the Events API v2. The message's event
// decides the action (see Action): most trigger an alert, all-clears resolve it, decisions
// acknowledge it. Every message of one incident carries the same dedup key, so PagerDuty groups them
// and the all-clear resolves the alert the first message triggered. It retries after a network
// error, a timeout, 429 or a 5xx status; 400 (an event PagerDuty rejects) and any other status are
// permanent.
type Notifier struct {
	cfg    Config
	key    notify.SecretFunc
	retry  notify.RetryPolicy
	client *http.Client
}

var (
	_ notify.Notifier = (*Notifier)(nil)
	_ notify.Referrer = (*Notifier)(nil)
)

// New returns the pagerduty notifier of cfg, whose Filter it ignores; key returns the
// routing key.
func New(cfg Config, key notify.SecretFunc) *Notifier {
	return &Notifier{cfg: cfg, key: key, retry: notify.RetryPolicy{Attempts: cfg.Attempts}, client: notify.NoRedirectClient()}
}

// Name implements notify.Notifier: "pagerduty" and the service, or the routing key's secret name.
func (p *Notifier) Name() string {
	if p.cfg.Service != "" {
		return "pagerduty " + p.cfg.Service
	}
	return "pagerduty " + p.cfg.RoutingKeyRef
}

// Notify implements notify.Notifier.
func (p *Notifier) Notify(ctx context.Context, m notify.Message) error {
	_, err := p.NotifyRef(ctx, m)
	return err
}

// NotifyRef implements notify.Referrer: the reference is the alert's dedup key, which later
// messages of the incident use when they carry no DedupKey of their own.
func (p *Notifier) NotifyRef(ctx context.Context, m notify.Message) (string, error) {
	name := p.Name()
	if err := m.Validate(); err != nil {
		return "", notify.Permanent(fmt.Errorf("%s: invalid message: %w", name, err))
	}
	target := DefaultURL
	if p.cfg.URL != "" {
		var err error
		if target, err = notify.ParseHTTPURL(p.cfg.URL); err != nil {
			return "", notify.Permanent(fmt.Errorf("%s: %w", name, err))
		}
	}
	if p.key == nil {
		return "", notify.Permanent(fmt.Errorf("%s: no routing key configured", name))
	}
	key, err := p.key(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: routing key: %w", name, err)
	}
	if len(key) == 0 {
		return "", notify.Permanent(fmt.Errorf("%s: routing key is empty", name))
	}
	ev := NewEvent(m, m.Refs[name])
	ev.RoutingKey = strings.TrimSpace(string(key))
	body, err := json.Marshal(ev)
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("%s: encode event: %w", name, err))
	}
	ref := ev.DedupKey
	err = p.retry.Do(ctx, name, func(ctx context.Context) (time.Duration, error) {
		got, wait, err := p.post(ctx, target, body)
		if err == nil && got != "" {
			ref = got
		}
		return wait, err
	})
	if err != nil {
		return "", err
	}
	return ref, nil
}

// Action returns the event action of a message's event: resolve for events ending in
// ".cleared", ".resolved", ".succeeded" or ".completed"; acknowledge for "approval.decided" and events
// ending in ".acknowledged"; trigger for every other.
func Action(event string) string {
	for _, suffix := range []string{".cleared", ".resolved", ".succeeded", ".completed"} {
		if strings.HasSuffix(event, suffix) {
			return Resolve
		}
	}
	if event == "approval.decided" || strings.HasSuffix(event, ".acknowledged") {
		return Acknowledge
	}
	return Trigger
}

// DedupKey returns the dedup key of m: its DedupKey, else ref (what an earlier delivery of
// the incident returned), else a hash of its event, asset and plan, which is the same for every
// message of them. A key longer than PagerDuty allows is replaced by its hash.
func DedupKey(m notify.Message, ref string) string {
	key := m.DedupKey
	if key == "" {
		key = ref
	}
	if key == "" {
		sum := sha256.Sum256([]byte(m.Event + "\x00" + m.Asset + "\x00" + m.Plan))
		return "lifeboat-" + hex.EncodeToString(sum[:16])
	}
	if len(key) > pagerDutyDedupKeyMax {
		sum := sha256.Sum256([]byte(key))
		return "lifeboat-" + hex.EncodeToString(sum[:16])
	}
	return key
}

// NewEvent returns the event that delivers m, without its routing key; ref is what an
// earlier delivery of the incident to the same service returned, if any. Acknowledge and resolve
// events carry only their dedup key, as PagerDuty ignores the rest.
func NewEvent(m notify.Message, ref string) Event {
	ev := Event{EventAction: Action(m.Event), DedupKey: DedupKey(m, ref)}
	if ev.EventAction != Trigger {
		return ev
	}
	source := m.Asset
	if source == "" {
		source = m.Plan
	}
	if source == "" {
		source = "lifeboat"
	}
	details := map[string]string{}
	for k, v := range m.Fields {
		details[k] = v
	}
	setIfFree := func(k, v string) {
		if _, taken := details[k]; !taken && v != "" {
			details[k] = v
		}
	}
	setIfFree("text", m.Text)
	if m.Level > 0 {
		setIfFree("escalation_level", fmt.Sprint(m.Level))
	}
	if len(details) == 0 {
		details = nil
	}
	ev.Client = "Lifeboat"
	ev.Payload = &Payload{
		Summary:       notify.Cut(notify.OneLine(m.Title), pagerDutySummaryMax),
		Source:        notify.Cut(source, pagerDutySourceMax),
		Severity:      pagerDutySeverity(m.Severity),
		Component:     m.Asset,
		Group:         m.Plan,
		Class:         m.Event,
		CustomDetails: details,
	}
	if !m.Time.IsZero() {
		ev.Payload.Timestamp = m.Time.UTC().Format(time.RFC3339Nano)
	}
	if _, err := notify.ParseHTTPURL(m.Link); err == nil {
		ev.ClientURL = m.Link
		ev.Links = []Link{{Href: m.Link, Text: "Details in Lifeboat"}}
	}
	return ev
}

func pagerDutySeverity(s notify.Severity) string {
	switch s {
	case notify.Info:
		return "info"
	case notify.Warning:
		return "warning"
	default:
		return "critical"
	}
}

// pagerDutyResponse is the body of an Events API v2 response.
type pagerDutyResponse struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// post makes one try. It returns the dedup key PagerDuty answered with, and the wait a Retry-After
// header asks for, or -1.
func (p *Notifier) post(ctx context.Context, target string, body []byte) (string, time.Duration, error) {
	timeout := p.cfg.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tryCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tryCtx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return "", -1, notify.Permanent(errors.New("cannot make a request for the URL"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lifeboat")
	resp, err := p.client.Do(req)
	if err != nil {
		return "", -1, notify.RequestError(ctx, tryCtx, timeout, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var answer pagerDutyResponse
	_ = json.Unmarshal(raw, &answer)
	code := resp.StatusCode
	statusErr := &notify.StatusError{StatusCode: code, Status: resp.Status, Body: notify.Snippet(raw)}
	if answer.Message != "" {
		statusErr.Body = answer.Message
		if len(answer.Errors) > 0 {
			statusErr.Body += ": " + strings.Join(answer.Errors, "; ")
		}
	}
	switch {
	case code >= 200 && code <= 299:
		return answer.DedupKey, -1, nil
	case code == http.StatusTooManyRequests || code >= 500:
		if d, ok := notify.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return "", d, statusErr
		}
		return "", -1, statusErr
	case code == http.StatusBadRequest:
		return "", -1, notify.Permanent(fmt.Errorf("%w: PagerDuty rejected the event; when it names the routing key, check the secret", statusErr))
	default:
		return "", -1, notify.Permanent(statusErr)
	}
}
