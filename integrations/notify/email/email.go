package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// TLS is how an email channel protects its connection to the SMTP server.
type TLS string

// The TLS modes of an email channel.
const (
	// StartTLS connects in clear text and upgrades with STARTTLS before anything else, refusing
	// to go on when the server does not offer it. It is the default; the default port is 587.
	StartTLS TLS = "starttls"
	// ImplicitTLS speaks TLS from the first byte (SMTPS); the default port is 465.
	ImplicitTLS TLS = "tls"
	// NoTLS sends in clear text, and is allowed only for a relay on the worker's own host
	// (localhost or a loopback address); the default port is 25.
	NoTLS TLS = "none"
)

// DefaultTimeout bounds each try to deliver an email: connecting, the SMTP dialogue and the data.
const DefaultTimeout = 30 * time.Second

// Config configures an email channel of a route: an SMTP server that takes messages for their
// recipients (a submission server, or a relay).
type Config struct {
	// Host is the SMTP server's name, which its certificate must match.
	Host string `yaml:"host" json:"host"`
	// Port is the SMTP server's port (587 for starttls, 465 for tls, 25 for none).
	Port int `yaml:"port" json:"port,omitempty"`
	// TLS is starttls (the default), tls, or none (only for a relay on localhost).
	TLS TLS `yaml:"tls" json:"tls,omitempty"`
	// CAFile is a PEM file of the certificate authorities that sign the server's certificate, in
	// place of the system's: for a server with a private CA or a self-signed certificate.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// Username, with PasswordRef, logs in with AUTH PLAIN; without them, no login.
	Username string `yaml:"username" json:"username,omitempty"`
	// PasswordRef names the worker secret holding the password.
	PasswordRef string `yaml:"password" json:"password,omitempty"`
	// From is the sender: "dr@example.com" or "Lifeboat <dr@example.com>".
	From string `yaml:"from" json:"from"`
	// To are the recipients; every message goes to all of them, in one email.
	To []string `yaml:"to" json:"to"`
	// Timeout bounds each try (DefaultTimeout).
	Timeout units.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Attempts is the most tries per message, 1 to notify.MaxAttempts (default
	// notify.DefaultAttempts).
	Attempts      int `yaml:"attempts" json:"attempts,omitempty"`
	notify.Filter `yaml:",inline"`
}

// Validate returns every problem with the email channel, prefixed with path, joined, or nil. It
// does not read CAFile; RootCAs does.
func (c Config) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if c.Host == "" {
		bad("host", "required: the SMTP server's name")
	} else if strings.ContainsAny(c.Host, " /:@") && net.ParseIP(c.Host) == nil {
		bad("host", "%q is not a host name: leave out the scheme, port and user", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port", "%d is not a port", c.Port)
	}
	switch c.TLS {
	case "", StartTLS, ImplicitTLS:
	case NoTLS:
		if !isLoopbackHost(c.Host) {
			bad("tls", "none sends in clear text, which is allowed only for a relay on localhost; use starttls or tls for %s", c.Host)
		}
		if c.CAFile != "" {
			bad("ca_file", "unused with tls: none")
		}
	default:
		bad("tls", "%q is not one of %s, %s, %s", c.TLS, StartTLS, ImplicitTLS, NoTLS)
	}
	switch {
	case c.Username != "" && c.PasswordRef == "":
		bad("password", "required with username: the name of the secret holding the password")
	case c.Username == "" && c.PasswordRef != "":
		bad("username", "required with password")
	case strings.ContainsAny(c.Username, "\x00\r\n"):
		bad("username", "contains a line break or NUL")
	}
	if c.From == "" {
		bad("from", "required: the sender's address")
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		bad("from", "%q is not an email address: %v", c.From, err)
	}
	if len(c.To) == 0 {
		bad("to", "required: at least one recipient")
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			bad(fmt.Sprintf("to[%d]", i), "%q is not an email address: %v", to, err)
		}
	}
	if c.Timeout < 0 {
		bad("timeout", "negative")
	}
	if err := notify.ValidateAttempts(path, c.Attempts); err != nil {
		errs = append(errs, err)
	}
	if err := c.Filter.Validate(path); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RootCAs reads CAFile, a PEM file of certificate authorities, and returns them; nil, for the
// system's, when CAFile is empty. Its errors start with "ca_file".
func (c Config) RootCAs() (*x509.CertPool, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", c.CAFile)
	}
	return pool, nil
}

// Notifier sends messages over SMTP as multipart/alternative emails: a plain-text part rendered
// with notify.TemplateText and an HTML part rendered with notify.TemplateHTML, under the subject
// notify.TemplateSubject renders. It never sends in clear text to a server that is not on
// localhost, and never logs in without TLS. It retries after a network error, a timeout or a 4xx
// SMTP reply; a 5xx reply (a rejected login, sender or recipient), a certificate that does not
// verify and a server without STARTTLS are permanent.
type Notifier struct {
	cfg      Config
	password notify.SecretFunc
	retry    notify.RetryPolicy
}

var (
	_ notify.Notifier = (*Notifier)(nil)
	_ notify.Referrer = (*Notifier)(nil)
)

// New returns the email notifier of cfg, whose Filter it ignores; password returns the SMTP
// password and may be nil when cfg has no username.
func New(cfg Config, password notify.SecretFunc) *Notifier {
	cfg.To = slices.Clone(cfg.To)
	return &Notifier{cfg: cfg, password: password, retry: notify.RetryPolicy{Attempts: cfg.Attempts}}
}

// Name implements notify.Notifier: "email" and the recipients' addresses ("email ops@example.com").
func (e *Notifier) Name() string {
	addrs := make([]string, len(e.cfg.To))
	for i, to := range e.cfg.To {
		if a, err := mail.ParseAddress(to); err == nil {
			addrs[i] = a.Address
		} else {
			addrs[i] = to
		}
	}
	return "email " + strings.Join(addrs, ",")
}

// Notify implements notify.Notifier.
func (e *Notifier) Notify(ctx context.Context, m notify.Message) error {
	_, err := e.NotifyRef(ctx, m)
	return err
}

// NotifyRef implements notify.Referrer: the reference is the email's Message-ID. When m.Refs holds
// an earlier one of this notifier, the email answers it (In-Reply-To and References), so that mail
// clients show an incident's emails as one thread.
func (e *Notifier) NotifyRef(ctx context.Context, m notify.Message) (string, error) {
	name := e.Name()
	if err := m.Validate(); err != nil {
		return "", notify.Permanent(fmt.Errorf("%s: invalid message: %w", name, err))
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	if err := e.cfg.Validate("email"); err != nil {
		return "", notify.Permanent(fmt.Errorf("%s: %w", name, err))
	}
	var password string
	if e.cfg.Username != "" {
		if e.password == nil {
			return "", notify.Permanent(fmt.Errorf("%s: no password configured", name))
		}
		p, err := e.password(ctx)
		if err != nil {
			return "", fmt.Errorf("%s: password: %w", name, err)
		}
		if len(p) == 0 {
			return "", notify.Permanent(fmt.Errorf("%s: password is empty", name))
		}
		password = string(p)
	}
	tlsConfig := &tls.Config{ServerName: e.cfg.Host, MinVersion: tls.VersionTLS12}
	pool, err := e.cfg.RootCAs()
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("%s: %w", name, err))
	}
	tlsConfig.RootCAs = pool
	from, _ := mail.ParseAddress(e.cfg.From)
	var to []*mail.Address
	for _, addr := range e.cfg.To {
		a, _ := mail.ParseAddress(addr)
		to = append(to, a)
	}
	id := newMessageID(from.Address, m.ID)
	msg, err := composeEmail(m, from, to, id, m.Refs[name], time.Now())
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("%s: %w", name, err))
	}
	err = e.retry.Do(ctx, name, func(ctx context.Context) (time.Duration, error) {
		return -1, e.send(ctx, tlsConfig, password, from, to, msg)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

func (e *Notifier) mode() TLS {
	if e.cfg.TLS == "" {
		return StartTLS
	}
	return e.cfg.TLS
}

func (e *Notifier) addr() string {
	port := e.cfg.Port
	if port == 0 {
		port = map[TLS]int{StartTLS: 587, ImplicitTLS: 465, NoTLS: 25}[e.mode()]
	}
	return net.JoinHostPort(e.cfg.Host, strconv.Itoa(port))
}

// send makes one try: connect, protect the connection, log in, and hand the email over.
func (e *Notifier) send(ctx context.Context, tlsConfig *tls.Config, password string, from *mail.Address, to []*mail.Address, msg []byte) (err error) {
	timeout := e.cfg.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tryCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if err != nil && !notify.IsPermanent(err) {
			err = smtpError(ctx, tryCtx, timeout, err)
		}
	}()

	dialer := &net.Dialer{}
	var conn net.Conn
	if e.mode() == ImplicitTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(tryCtx, "tcp", e.addr())
	} else {
		conn, err = dialer.DialContext(tryCtx, "tcp", e.addr())
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := tryCtx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(tryCtx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, e.cfg.Host)
	if err != nil {
		return smtpReply(err)
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return smtpReply(err)
	}
	if e.mode() == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return notify.Permanent(errors.New("the server does not offer STARTTLS, and tls: starttls never sends in clear text: " +
				"enable STARTTLS on the server, or use tls: tls if it speaks TLS from the start (port 465)"))
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return smtpReply(err)
		}
	}
	if e.cfg.Username != "" {
		if ok, mechs := c.Extension("AUTH"); !ok || !slices.ContainsFunc(strings.Fields(mechs), func(m string) bool { return strings.EqualFold(m, "PLAIN") }) {
			return notify.Permanent(fmt.Errorf("the server does not offer AUTH PLAIN (it offers %q): remove username and password, or use a server that takes them", mechs))
		}
		if err := c.Auth(plainAuth{username: e.cfg.Username, password: password, host: e.cfg.Host}); err != nil {
			err = smtpReply(err)
			var reply *ReplyError
			if errors.As(err, &reply) && reply.Code >= 500 {
				return notify.Permanent(fmt.Errorf("login as %s: %w: check the username and the password secret", e.cfg.Username, err))
			}
			return fmt.Errorf("login as %s: %w", e.cfg.Username, err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("sender %s: %w", from.Address, smtpReply(err))
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("recipient %s: %w", a.Address, smtpReply(err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpReply(err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpReply(err)
	}
	if err := w.Close(); err != nil {
		return smtpReply(err)
	}
	// The server has taken the email; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// plainAuth is AUTH PLAIN (RFC 4616) that the connection's protection was already decided for: send
// refuses clear text before it gets here, so it does not check again as smtp.PlainAuth does (which
// would refuse a relay on 127.0.0.1).
type plainAuth struct{ username, password, host string }

func (a plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLoopbackHost(server.Name) {
		return "", nil, notify.Permanent(errors.New("refusing to log in over a connection without TLS"))
	}
	return "PLAIN", []byte("\x00" + a.username + "\x00" + a.password), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, notify.Permanent(errors.New("unexpected challenge after AUTH PLAIN"))
	}
	return nil, nil
}

// smtpError sorts a failed try: a 4xx reply, a network error or a timeout may go away; a 5xx reply
// and a certificate that does not verify will not.
func smtpError(ctx, tryCtx context.Context, timeout time.Duration, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if tryCtx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("no answer within %s: %w", timeout, context.DeadlineExceeded)
	}
	var reply *ReplyError
	if errors.As(err, &reply) {
		if reply.Code >= 500 {
			return notify.Permanent(err)
		}
		return err
	}
	if notify.IsCertificateError(err) {
		return notify.Permanent(fmt.Errorf("%w: the server's certificate does not verify; if a private CA signs it, set ca_file", err))
	}
	return err
}

// ReplyError is an SMTP server's answer that refuses a command: 4xx for a failure that may go
// away, 5xx for one that will not.
type ReplyError struct {
	Code int
	// Message is the reply's text, enhanced status code first when the server sends one: "5.7.8
	// Authentication failed".
	Message string
}

func (e *ReplyError) Error() string { return fmt.Sprintf("SMTP %d %s", e.Code, e.Message) }

// smtpReply turns a refusal of net/smtp's into a ReplyError; other errors stay as they are.
func smtpReply(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &ReplyError{Code: te.Code, Message: notify.OneLine(te.Msg)}
	}
	return err
}

func helloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// newMessageID returns the Message-ID, in angle brackets, on the sender's domain: made from the
// notification's ID when it has one, so that a repeat after a crash is the same email to a mail
// client, else random.
func newMessageID(sender, notificationID string) string {
	domain := "lifeboat.invalid"
	if _, d, ok := strings.Cut(sender, "@"); ok && d != "" {
		domain = d
	}
	local := notificationID
	if local == "" || strings.ContainsAny(local, "<>@ \r\n") {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		local = hex.EncodeToString(b)
	}
	return "<" + local + ".lifeboat@" + domain + ">"
}

// composeEmail returns the email that delivers m: headers, then a multipart/alternative body with a
// quoted-printable text part and HTML part, lines ending in CRLF. inReplyTo, when set, is the
// Message-ID the email answers.
func composeEmail(m notify.Message, from *mail.Address, to []*mail.Address, messageID, inReplyTo string, date time.Time) ([]byte, error) {
	subject, err := notify.Render(notify.TemplateSubject, m)
	if err != nil {
		return nil, err
	}
	text, err := notify.Render(notify.TemplateText, m)
	if err != nil {
		return nil, err
	}
	html, err := notify.Render(notify.TemplateHTML, m)
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", messageID)
	if inReplyTo != "" && !strings.ContainsAny(inReplyTo, "\r\n") {
		header("In-Reply-To", inReplyTo)
		header("References", inReplyTo)
	}
	header("From", from.String())
	recipients := make([]string, len(to))
	for i, a := range to {
		recipients[i] = a.String()
	}
	header("To", strings.Join(recipients, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Auto-Submitted", "auto-generated")
	header("X-Lifeboat-Event", mime.QEncoding.Encode("utf-8", notify.OneLine(m.Event)))
	header("X-Lifeboat-Severity", mime.QEncoding.Encode("utf-8", notify.OneLine(string(m.Severity))))
	header("MIME-Version", "1.0")

	body := multipart.NewWriter(&buf)
	header("Content-Type", "multipart/alternative; boundary="+body.Boundary())
	buf.WriteString("\r\n")
	for _, part := range []struct{ contentType, content string }{
		{"text/plain; charset=utf-8", text},
		{"text/html; charset=utf-8", html},
	} {
		w, err := body.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQuotedPrintable(w, part.content); err != nil {
			return nil, err
		}
	}
	if err := body.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeQuotedPrintable(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return err
	}
	return qp.Close()
}
