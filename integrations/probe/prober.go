package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// ErrMisconfigured marks errors that retrying cannot fix: an invalid check or a missing secret.
var ErrMisconfigured = errors.New("check misconfigured")

// Outcome is the result of one attempt. A target that is down is an outcome with OK false, not an error.
type Outcome struct {
	OK bool `json:"ok"`
	// Latency is how long the attempt took.
	Latency units.Duration `json:"latency"`
	// Detail says what was observed on success ("HTTP 200", "primary, lag 0s").
	Detail string `json:"detail,omitempty"`
	// Reason says why the attempt failed, in a fixed vocabulary (ReasonRefused and the others): it
	// never quotes what the target said.
	Reason string `json:"reason,omitempty"`
	// Status is an HTTP check's status code, 0 when no answer came.
	Status int `json:"status,omitempty"`
	// Cause is the full error behind Reason, for the worker's log only: it may hold addresses, SQL
	// error text or what a server answered, so it is never serialized.
	Cause error `json:"-"`
}

// Prober runs check attempts. The zero value is usable; it resolves no secrets.
type Prober struct {
	// Secrets resolves postgres DSNs by name.
	Secrets secrets.Resolver
	// Postgres makes a postgres check's attempt on the server dsn names (pgprobe.Check); without
	// it, postgres checks are misconfigured. It keeps this package free of a database driver.
	Postgres func(ctx context.Context, dsn string, c Check) (string, error)
	// Now is the clock, for tests; defaults to time.Now.
	Now func() time.Time
}

const maxBodyRead = 64 << 10

// Run makes one attempt at c. It returns an error wrapping ErrMisconfigured when the check cannot be
// attempted at all; every failure of the target itself is reported in the Outcome.
func (p *Prober) Run(ctx context.Context, c Check) (Outcome, error) {
	if err := c.Validate("check"); err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrMisconfigured, err)
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout.Or(DefaultTimeout))
	defer cancel()

	start := now()
	var detail string
	var status int
	var err error
	switch c.Kind {
	case HTTP:
		status, detail, err = p.http(ctx, c)
	case TCP:
		detail, err = p.tcp(ctx, c)
	case Postgres:
		detail, err = p.postgres(ctx, c)
	}
	latency := now().Sub(start)
	out := Outcome{Latency: units.Duration(latency), Status: status}
	if errors.Is(err, ErrMisconfigured) {
		return Outcome{}, err
	}
	if err != nil {
		out.Reason, out.Cause = reason(ctx, err, c.Timeout.Or(DefaultTimeout)), err
		return out, nil
	}
	if c.MaxLatency != 0 && latency > c.MaxLatency.D() {
		out.Reason = fmt.Sprintf("answered in %s, slower than max_latency %s (%s)", latency.Round(time.Millisecond), c.MaxLatency, detail)
		return out, nil
	}
	out.OK, out.Detail = true, detail
	return out, nil
}

// reason is what a report says about err: a timeout when the attempt ran out of time, the reason a
// Failure gives, or what Classify makes of it.
func reason(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("%s: no answer within %s", ReasonTimeout, timeout)
	}
	if ctx.Err() != nil {
		return ReasonCancelled
	}
	var f *Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	return Classify(err)
}

func (p *Prober) http(ctx context.Context, c Check) (int, string, error) {
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL, nil)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrMisconfigured, err)
	}
	req.Header.Set("User-Agent", "lifeboat-probe")
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true // each attempt measures a fresh connection
	if c.InsecureSkipVerify {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opted into per check
	}
	client := &http.Client{
		Transport: transport,
		// Report redirects as they are: a health endpoint that redirects is worth seeing.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	if err != nil {
		return resp.StatusCode, "", Fail(fmt.Sprintf("HTTP %d, reading the body: %s", resp.StatusCode, Classify(err)), err)
	}
	okStatus := resp.StatusCode >= 200 && resp.StatusCode < 400
	if len(c.ExpectStatus) > 0 {
		okStatus = slices.Contains(c.ExpectStatus, resp.StatusCode)
	}
	if !okStatus {
		return resp.StatusCode, "", Fail(fmt.Sprintf("HTTP %d, want %s", resp.StatusCode, wantStatus(c.ExpectStatus)), nil)
	}
	if c.BodyContains != "" && !bytes.Contains(body, []byte(c.BodyContains)) {
		return resp.StatusCode, "", Fail(fmt.Sprintf("HTTP %d, %s: it does not contain body_contains", resp.StatusCode, ReasonBody), nil)
	}
	return resp.StatusCode, fmt.Sprintf("HTTP %d", resp.StatusCode), nil
}

func wantStatus(codes []int) string {
	if len(codes) == 0 {
		return "2xx or 3xx"
	}
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, " or ")
}

func (p *Prober) tcp(ctx context.Context, c Check) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.Address)
	if err != nil {
		return "", err
	}
	_ = conn.Close()
	return "connected", nil
}

func (p *Prober) postgres(ctx context.Context, c Check) (string, error) {
	if p.Secrets == nil {
		return "", fmt.Errorf("%w: secret %q: the worker has no secrets configured", ErrMisconfigured, c.DSNSecret)
	}
	dsn, err := p.Secrets.Secret(ctx, c.DSNSecret)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMisconfigured, err)
	}
	if p.Postgres == nil {
		return "", fmt.Errorf("%w: this prober runs no PostgreSQL checks", ErrMisconfigured)
	}
	return p.Postgres(ctx, dsn, c)
}
