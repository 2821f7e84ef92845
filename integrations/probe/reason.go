package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"
)

// The reasons a failed attempt reports come from a fixed vocabulary: what an upstream said — an
// address, a connection string, SQL error text, a response body — never reaches a report, which is
// stored in workflow history and shown to whoever can start a probe. The full error goes to the
// worker's log (Outcome.Cause). A reason starts with one of these, sometimes followed by a fixed
// qualifier or figures of Lifeboat's own ("timeout: no answer within 5s", "HTTP 503, want 2xx or 3xx").
const (
	ReasonRefused     = "connection refused"
	ReasonReset       = "connection reset"
	ReasonClosed      = "connection closed by the server"
	ReasonUnreachable = "host unreachable"
	ReasonDNS         = "DNS failure"
	ReasonTLS         = "TLS failure"
	ReasonTimeout     = "timeout"
	ReasonCancelled   = "cancelled"
	ReasonConnect     = "connection failed"
	ReasonAuth        = "authentication failed"
	ReasonQuery       = "query failed"
	ReasonReadOnly    = "query failed: it tried to write, and checks run read-only"
	ReasonBody        = "unexpected body"
	ReasonUnknown     = "attempt failed (the worker's log has the error)"
)

// Failure is the error of a failed attempt: a reason safe to report, in the vocabulary above, and
// the full error behind it. Checks that know their errors better than Classify (such as pgprobe's)
// return one.
type Failure struct {
	// Reason is what the report says.
	Reason string
	// Err is the full error, for the worker's log only.
	Err error
}

// Fail returns a Failure reporting reason, caused by err (which may be nil).
func Fail(reason string, err error) error { return &Failure{Reason: reason, Err: err} }

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Reason
	}
	return f.Reason + ": " + f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// Classify names the network-level cause of err in the vocabulary above, or returns ReasonUnknown.
func Classify(err error) string {
	var (
		dnsErr    *net.DNSError
		verifyErr *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		netErr    net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return ReasonDNS + ": no such host"
		}
		if dnsErr.IsTimeout {
			return ReasonDNS + ": timeout"
		}
		return ReasonDNS
	case errors.As(err, &authority):
		return ReasonTLS + ": certificate not trusted"
	case errors.As(err, &hostname):
		return ReasonTLS + ": certificate does not match the host"
	case errors.As(err, &invalid):
		return ReasonTLS + ": certificate invalid or expired"
	case errors.As(err, &verifyErr), errors.As(err, &record), errors.As(err, &alert):
		return ReasonTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	case errors.Is(err, context.Canceled):
		return ReasonCancelled
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ReasonReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ReasonUnreachable
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonClosed
	}
	return ReasonUnknown
}
