package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// Defaults of Webhook and Verify.
const (
	DefaultWebhookTimeout  = 10 * time.Second
	DefaultWebhookAttempts = 3
	MaxWebhookAttempts     = 10
	DefaultBackoff         = 500 * time.Millisecond
	DefaultMaxWait         = 30 * time.Second
	DefaultTolerance       = 5 * time.Minute
)

// ErrBadSignature is wrapped by every error of Verify.
var ErrBadSignature = errors.New("bad webhook signature")

// Payload is the JSON body of a webhook request, version 1. Every key is always present; optional
// values are empty ("", {} or 0) when not set.
type Payload struct {
	// Version is PayloadVersion.
	Version  int               `json:"version"`
	Event    string            `json:"event"`
	Severity Severity          `json:"severity"`
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
func NewPayload(m Message, id string) Payload {
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

// SecretFunc returns the key that signs webhook requests. It is called once per Notify, so a rotated
// secret is used from the next message on.
type SecretFunc func(ctx context.Context) ([]byte, error)

// StaticSecret returns a SecretFunc that always returns key.
func StaticSecret(key []byte) SecretFunc {
	return func(context.Context) ([]byte, error) { return key, nil }
}

// Webhook POSTs messages as JSON (see Payload) to a URL. It tries up to Attempts times within one
// Notify call: again after a network error, a timeout, 408, 429 or a 5xx status, waiting Backoff,
// then twice as long each time, or as long as a 429 or 503 response's Retry-After asks, up to MaxWait.
// Any other status outside 2xx is a permanent error; redirects are not followed. Fields other than URL
// may be left zero for their defaults.
type Webhook struct {
	// URL receives the requests; it must be http or https. Its user info and query are left out of
	// Name and of errors, which end up in workflow histories, but its path is not: carry credentials
	// in Secret or Headers, not in the path.
	URL string
	// Secret, when set, signs each request (HeaderSignature); an error it returns ends Notify, as a
	// permanent error if IsPermanent says so.
	Secret SecretFunc
	// Headers are added to every request. They cannot replace Content-Type, User-Agent or the
	// X-Lifeboat headers.
	Headers map[string]string
	// Timeout bounds each try (DefaultWebhookTimeout).
	Timeout time.Duration
	// Attempts is the most tries per Notify call (DefaultWebhookAttempts, at most MaxWebhookAttempts).
	Attempts int
	// Backoff is the wait after the first failed try, doubled after each further one (DefaultBackoff).
	Backoff time.Duration
	// MaxWait caps each wait between tries, including one asked for by Retry-After (DefaultMaxWait).
	MaxWait time.Duration
	// Client sends the requests; nil means a client that does not follow redirects.
	Client *http.Client
}

var _ Notifier = (*Webhook)(nil)

var noRedirectClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Name implements Notifier: "webhook " and the URL without user info and query.
func (w *Webhook) Name() string { return "webhook " + redactURL(w.URL) }

// Notify implements Notifier. It returns once a try got a 2xx response, tries are used up, the next
// wait would pass ctx's deadline, or ctx is done.
func (w *Webhook) Notify(ctx context.Context, m Message) error {
	name := w.Name()
	if err := m.Validate(); err != nil {
		return Permanent(fmt.Errorf("%s: invalid message: %w", name, err))
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	target, err := parseHTTPURL(w.URL)
	if err != nil {
		return Permanent(fmt.Errorf("%s: %w", name, err))
	}
	var secret []byte
	if w.Secret != nil {
		secret, err = w.Secret(ctx)
		if err != nil {
			return fmt.Errorf("%s: signing secret: %w", name, err)
		}
		if len(secret) == 0 {
			return Permanent(fmt.Errorf("%s: signing secret is empty", name))
		}
	}
	id := m.ID
	if id == "" {
		id = rand.Text()
	}
	body, err := json.Marshal(NewPayload(m, id))
	if err != nil {
		return Permanent(fmt.Errorf("%s: encode payload: %w", name, err))
	}
	policy := retryPolicy{Attempts: w.Attempts, Backoff: w.Backoff, MaxWait: w.MaxWait}
	return policy.do(ctx, name, func(ctx context.Context) (time.Duration, error) {
		return w.post(ctx, target, body, id, secret)
	})
}

// post makes one try. It returns the wait a Retry-After header asks for, or -1 when there is none.
func (w *Webhook) post(ctx context.Context, target string, body []byte, id string, secret []byte) (time.Duration, error) {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	tryCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tryCtx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return -1, Permanent(errors.New("cannot make a request for the URL"))
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
		client = noRedirectClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return -1, requestError(ctx, tryCtx, timeout, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so that the connection is reused
	code := resp.StatusCode
	statusErr := &StatusError{StatusCode: code, Status: resp.Status, Body: cleanSnippet(snippet)}
	switch {
	case code >= 200 && code <= 299:
		return -1, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		retryAfter := time.Duration(-1)
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				retryAfter = d
			}
		}
		return retryAfter, statusErr
	case code >= 300 && code <= 399:
		return -1, Permanent(fmt.Errorf("%w: redirects are not followed; configure the URL it redirects to (%s)",
			statusErr, redactURL(resp.Header.Get("Location"))))
	default:
		return -1, Permanent(statusErr)
	}
}

// requestError describes a failed request without quoting the URL, which may carry a token.
func requestError(ctx, tryCtx context.Context, timeout time.Duration, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if tryCtx.Err() != nil {
		return fmt.Errorf("no response within %s: %w", timeout, context.DeadlineExceeded)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if isCertificateError(err) {
		return Permanent(err)
	}
	return err
}

// StatusError is a response whose status is not 2xx.
type StatusError struct {
	StatusCode int
	// Status is the status line's text, such as "503 Service Unavailable".
	Status string
	// Body is the start of the response body, on one line.
	Body string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return e.Status
	}
	return e.Status + ": " + e.Body
}

func cleanSnippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 200 {
		s = string([]rune(s)[:200]) + "…"
	}
	return s
}

// parseRetryAfter reads a Retry-After value: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func parseHTTPURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", redactURL(raw))
	}
	return u.String(), nil
}

// redactURL returns raw without user info, query and fragment; "…" stands for a query left out.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	query := u.RawQuery != "" || u.ForceQuery
	u.RawQuery, u.ForceQuery = "", false
	s := u.String()
	if query {
		s += "?…"
	}
	return s
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
	digest, ok := strings.CutPrefix(strings.TrimSpace(signatureHeader), "sha256=")
	if !ok {
		return fmt.Errorf("%w: %s does not start with sha256=", ErrBadSignature, HeaderSignature)
	}
	got, err := hex.DecodeString(digest)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not sha256= and 64 hex digits", ErrBadSignature, HeaderSignature)
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not Unix seconds", ErrBadSignature, HeaderTimestamp, timestamp)
	}
	if !hmac.Equal(got, mac(secret, timestamp, []byte(body))) {
		return fmt.Errorf("%w: signature does not match", ErrBadSignature)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if skew := now.Sub(time.Unix(secs, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: timestamp is %s away from now, more than the tolerance of %s",
			ErrBadSignature, skew.Abs().Round(time.Second), tolerance)
	}
	return nil
}

// isCertificateError reports whether err is a TLS server certificate that does not verify: an error
// that trying again cannot fix.
func isCertificateError(err error) bool {
	var (
		certErr      *tls.CertificateVerificationError
		unknownCA    x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		certInvalErr x509.CertificateInvalidError
	)
	return errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostnameErr) || errors.As(err, &certInvalErr)
}
