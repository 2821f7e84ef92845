package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// PayloadVersion is the version of the webhook body. It changes when a field changes its meaning or
// goes away; fields may be added without a new version, so receivers ignore fields they do not know.
const PayloadVersion = 1

// The headers of a webhook request, besides Content-Type (application/json) and User-Agent (lifeboat).
const (
	// HeaderTimestamp is the time of the request, in Unix seconds.
	HeaderTimestamp = "X-Lifeboat-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the webhook's secret, of the
	// timestamp header, a dot and the body. It is sent only when a secret is configured.
	HeaderSignature = "X-Lifeboat-Signature"
	// HeaderDelivery is the delivery's id, the same as the body's id and the same for every try.
	HeaderDelivery = "X-Lifeboat-Delivery"
)

// Defaults of Notifier and Verify.
const (
	// DefaultTimeout bounds each try.
	DefaultTimeout = 10 * time.Second
	// DefaultTolerance is how far a request's timestamp may be from the receiver's clock.
	DefaultTolerance = 5 * time.Minute
)

// ErrBadSignature is wrapped by every error of Verify.
var ErrBadSignature = errors.New("bad webhook signature")

// Payload is the JSON body of a webhook request, version 1. Every key is always present; optional
// values are empty ("", {} or 0) when not set.
type Payload struct {
	// Version is PayloadVersion.
	Version  int               `json:"version"`
	Event    string            `json:"event"`
	Severity notify.Severity   `json:"severity"`
	Asset    string            `json:"asset"`
	Title    string            `json:"title"`
	Text     string            `json:"text"`
	Fields   map[string]string `json:"fields"`
	Link     string            `json:"link"`
	DedupKey string            `json:"dedup_key"`
	Level    int               `json:"level"`
	// Time is when the event happened, in UTC, as RFC 3339 with fractional seconds.
	Time time.Time `json:"time"`
	// ID identifies the delivery: it is the same for every try of one Notify call, so a receiver that
	// has seen it can drop the repeat.
	ID string `json:"id"`
}

// NewPayload returns the body that delivers m with the delivery id id.
func NewPayload(m notify.Message, id string) Payload {
	fields := m.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	return Payload{
		Version: PayloadVersion, Event: m.Event, Severity: m.Severity, Asset: m.Asset, Title: m.Title,
		Text: m.Text, Fields: fields, Link: m.Link, DedupKey: m.DedupKey, Level: m.Level,
		Time: m.Time.UTC(), ID: id,
	}
}

// Config configures a webhook channel of a route.
type Config struct {
	// URL receives the POST requests: http or https. Leave credentials out of its path; its user info
	// and query are hidden in logs and workflow histories, its path is not.
	URL string `yaml:"url" json:"url"`
	// SecretRef names the worker secret holding the key that signs requests (X-Lifeboat-Signature).
	// Without it, requests are not signed.
	SecretRef string `yaml:"secret" json:"secret,omitempty"`
	// Headers are added to every request, such as an Authorization header written as ${ENV_VAR}.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// Timeout bounds each try (default 10s).
	Timeout units.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Attempts is the most tries per message, 1 to 10 (default 3).
	Attempts      int `yaml:"attempts" json:"attempts,omitempty"`
	notify.Filter `yaml:",inline"`
}

// Validate returns every problem with the webhook, prefixed with path, joined, or nil.
func (w Config) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if w.URL == "" {
		bad("url", "required")
	} else if _, err := notify.ParseHTTPURL(w.URL); err != nil {
		bad("url", "%v", err)
	}
	if err := notify.ValidateAttempts(path, w.Attempts); err != nil {
		errs = append(errs, err)
	}
	if w.Timeout < 0 {
		bad("timeout", "negative")
	}
	for _, name := range slices.Sorted(maps.Keys(w.Headers)) {
		switch {
		case !isToken(name):
			bad("headers", "%q is not a header name", name)
		case isReservedHeader(name):
			bad("headers."+name, "set by Lifeboat; it cannot be replaced")
		case strings.ContainsAny(w.Headers[name], "\r\n\x00"):
			bad("headers."+name, "the value contains a line break or NUL")
		}
	}
	if err := w.Filter.Validate(path); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func isReservedHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Type", "Content-Length", "Host", "User-Agent", "Transfer-Encoding":
		return true
	}
	return strings.HasPrefix(http.CanonicalHeaderKey(name), "X-Lifeboat-")
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2), as header names are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// Notifier POSTs messages as JSON (see Payload) to a URL. It tries up to Attempts times within one
// Notify call: again after a network error, a timeout, 408, 429 or a 5xx status, waiting Backoff,
// then twice as long each time, or as long as a 429 or 503 response's Retry-After asks, up to MaxWait.
// Any other status outside 2xx is a permanent error; redirects are not followed. Fields other than URL
// may be left zero for their defaults.
type Notifier struct {
	// URL receives the requests; it must be http or https. Its user info and query are left out of
	// Name and of errors, which end up in workflow histories, but its path is not: carry credentials
	// in Secret or Headers, not in the path.
	URL string
	// Secret, when set, signs each request (HeaderSignature); an error it returns ends Notify, as a
	// permanent error if notify.IsPermanent says so.
	Secret notify.SecretFunc
	// Headers are added to every request. They cannot replace Content-Type, User-Agent or the
	// X-Lifeboat headers.
	Headers map[string]string
	// Timeout bounds each try (DefaultTimeout).
	Timeout time.Duration
	// Attempts is the most tries per Notify call (notify.DefaultAttempts, at most notify.MaxAttempts).
	Attempts int
	// Backoff is the wait after the first failed try, doubled after each further one
	// (notify.DefaultBackoff).
	Backoff time.Duration
	// MaxWait caps each wait between tries, including one asked for by Retry-After
	// (notify.DefaultMaxWait).
	MaxWait time.Duration
	// Client sends the requests; nil means a client that does not follow redirects.
	Client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns the webhook notifier of cfg, whose Filter it ignores; secret, when set, returns the
// key that signs the requests.
func New(cfg Config, secret notify.SecretFunc) *Notifier {
	return &Notifier{URL: cfg.URL, Secret: secret, Headers: maps.Clone(cfg.Headers), Timeout: cfg.Timeout.D(), Attempts: cfg.Attempts}
}

// Name implements notify.Notifier: "webhook " and the URL without user info and query.
func (w *Notifier) Name() string { return "webhook " + notify.RedactURL(w.URL) }

// Notify implements notify.Notifier. It returns once a try got a 2xx response, tries are used up,
// the next wait would pass ctx's deadline, or ctx is done.
func (w *Notifier) Notify(ctx context.Context, m notify.Message) error {
	name := w.Name()
	if err := m.Validate(); err != nil {
		return notify.Permanent(fmt.Errorf("%s: invalid message: %w", name, err))
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	target, err := notify.ParseHTTPURL(w.URL)
	if err != nil {
		return notify.Permanent(fmt.Errorf("%s: %w", name, err))
	}
	var secret []byte
	if w.Secret != nil {
		secret, err = w.Secret(ctx)
		if err != nil {
			return fmt.Errorf("%s: signing secret: %w", name, err)
		}
		if len(secret) == 0 {
			return notify.Permanent(fmt.Errorf("%s: signing secret is empty", name))
		}
	}
	id := m.ID
	if id == "" {
		id = rand.Text()
	}
	body, err := json.Marshal(NewPayload(m, id))
	if err != nil {
		return notify.Permanent(fmt.Errorf("%s: encode payload: %w", name, err))
	}
	policy := notify.RetryPolicy{Attempts: w.Attempts, Backoff: w.Backoff, MaxWait: w.MaxWait}
	return policy.Do(ctx, name, func(ctx context.Context) (time.Duration, error) {
		return w.post(ctx, target, body, id, secret)
	})
}

// post makes one try. It returns the wait a Retry-After header asks for, or -1 when there is none.
func (w *Notifier) post(ctx context.Context, target string, body []byte, id string, secret []byte) (time.Duration, error) {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tryCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tryCtx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return -1, notify.Permanent(errors.New("cannot make a request for the URL"))
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lifeboat")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderDelivery, id)
	if secret != nil {
		req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	}
	client := w.Client
	if client == nil {
		client = notify.NoRedirectClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		return -1, notify.RequestError(ctx, tryCtx, timeout, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so that the connection is reused
	code := resp.StatusCode
	statusErr := &notify.StatusError{StatusCode: code, Status: resp.Status, Body: notify.Snippet(snippet)}
	switch {
	case code >= 200 && code <= 299:
		return -1, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		retryAfter := time.Duration(-1)
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			if d, ok := notify.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				retryAfter = d
			}
		}
		return retryAfter, statusErr
	case code >= 300 && code <= 399:
		return -1, notify.Permanent(fmt.Errorf("%w: redirects are not followed; configure the URL it redirects to (%s)",
			statusErr, notify.RedactURL(resp.Header.Get("Location"))))
	default:
		return -1, notify.Permanent(statusErr)
	}
}

// Sign returns the HeaderSignature value for a request with the given timestamp header and body.
func Sign(secret []byte, timestamp string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a webhook request as its receiver: signatureHeader must be the HMAC that Sign makes
// from secret, timestamp and body, and timestamp (Unix seconds) must be within tolerance of now, in
// either direction, so that a captured request cannot be replayed later (tolerance <= 0 means
// DefaultTolerance). Pass the body exactly as received. Every error wraps ErrBadSignature.
func Verify(secret []byte, timestamp, body, signatureHeader string, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no secret to verify with", ErrBadSignature)
	}
	got, err := CheckHeaders(timestamp, signatureHeader, now, tolerance)
	if err != nil {
		return err
	}
	if !hmac.Equal(got, mac(secret, timestamp, []byte(body))) {
		return fmt.Errorf("%w: signature does not match", ErrBadSignature)
	}
	return nil
}

// CheckHeaders checks what can be checked of a signed request before its body is read: the
// signature header's form and the timestamp's distance from now. It returns the signature.
func CheckHeaders(timestamp, signatureHeader string, now time.Time, tolerance time.Duration) ([]byte, error) {
	digest, ok := strings.CutPrefix(strings.TrimSpace(signatureHeader), "sha256=")
	if !ok {
		return nil, fmt.Errorf("%w: %s does not start with sha256=", ErrBadSignature, HeaderSignature)
	}
	got, err := hex.DecodeString(digest)
	if err != nil || len(got) != sha256.Size {
		return nil, fmt.Errorf("%w: %s is not sha256= and 64 hex digits", ErrBadSignature, HeaderSignature)
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q is not Unix seconds", ErrBadSignature, HeaderTimestamp, timestamp)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if skew := now.Sub(time.Unix(secs, 0)); skew > tolerance || skew < -tolerance {
		return nil, fmt.Errorf("%w: timestamp is %s away from now, more than the tolerance of %s",
			ErrBadSignature, skew.Abs().Round(time.Second), tolerance)
	}
	return got, nil
}
