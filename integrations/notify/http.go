package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// What the notifiers that speak HTTP share: how they check and show URLs, how they sort a failed
// request into retryable or permanent, and how they read a response that refused the message.

// NoRedirectClient returns an HTTP client that does not follow redirects: a notifier reports a
// redirect, so that the configuration can name the URL it redirects to, rather than sending a
// message (and its credentials) somewhere it was not configured to.
func NoRedirectClient() *http.Client {
	return &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
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

// Snippet returns the start of a response body for an error: valid UTF-8, on one line, at most 200
// characters.
func Snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 200 {
		s = string([]rune(s)[:200]) + "…"
	}
	return s
}

// RequestError describes a request that got no response, without quoting the URL, which may carry a
// token: ctx's own error when ctx is done, a timeout when tryCtx (the try's context, bounded by
// timeout) is, and a permanent error for a server certificate that does not verify.
func RequestError(ctx, tryCtx context.Context, timeout time.Duration, err error) error {
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
	if IsCertificateError(err) {
		return Permanent(err)
	}
	return err
}

// ParseRetryAfter reads a Retry-After value: seconds, or an HTTP date, as a wait from now of at most
// a day. It reports false for a missing or malformed value.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
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

// ParseHTTPURL returns raw when it is an absolute http or https URL, and an error that quotes it
// without credentials (see RedactURL) otherwise.
func ParseHTTPURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", RedactURL(raw))
	}
	return u.String(), nil
}

// RedactURL returns raw without user info, query and fragment; "…" stands for a query left out.
func RedactURL(raw string) string {
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

// IsCertificateError reports whether err is a TLS server certificate that does not verify: an error
// that trying again cannot fix.
func IsCertificateError(err error) bool {
	var (
		certErr      *tls.CertificateVerificationError
		unknownCA    x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		certInvalErr x509.CertificateInvalidError
	)
	return errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostnameErr) || errors.As(err, &certInvalErr)
}
