package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// testCertificate returns a self-signed certificate for 127.0.0.1 and localhost, and the path of a
// PEM file holding it, to trust as a CA.
func testCertificate(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lifeboat test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

// smtpServerOptions configures a test SMTP server.
type smtpServerOptions struct {
	// tls is "starttls" (offered, not required), "implicit" (TLS from the first byte) or "none".
	tls string
	// users, when set, are the logins AUTH PLAIN accepts, and logging in is required to send.
	users map[string]string
	// dataErr, when set, answers the nth DATA (from 1) instead of accepting it, unless it returns nil.
	dataErr func(n int) error
}

// receivedMail is an email the test SMTP server took.
type receivedMail struct {
	from, user string
	to         []string
	data       []byte
	tls        bool
}

// testSMTPServer is a real SMTP server (github.com/emersion/go-smtp) on 127.0.0.1.
type testSMTPServer struct {
	opts   smtpServerOptions
	port   int
	caFile string

	mu    sync.Mutex
	datas int
	mails []receivedMail
}

func newTestSMTPServer(t *testing.T, opts smtpServerOptions) *testSMTPServer {
	t.Helper()
	cert, caFile := testCertificate(t)
	ts := &testSMTPServer{opts: opts, caFile: caFile}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &testSMTPSession{srv: ts, tls: isTLS}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	switch opts.tls {
	case "starttls":
		s.TLSConfig = tlsConfig
	case "implicit":
		l = tls.NewListener(l, tlsConfig)
	}
	ts.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ts
}

func (ts *testSMTPServer) received() []receivedMail {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]receivedMail(nil), ts.mails...)
}

// testSMTPSession is one connection to the test server. STARTTLS makes a new session, which knows it
// is encrypted.
type testSMTPSession struct {
	srv  *testSMTPServer
	tls  bool
	user string
	mail receivedMail
}

var _ smtp.AuthSession = (*testSMTPSession)(nil)

func (s *testSMTPSession) AuthMechanisms() []string {
	if s.srv.opts.users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *testSMTPSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if want, ok := s.srv.opts.users[username]; !ok || password != want {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *testSMTPSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.users != nil && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.mail = receivedMail{from: from, user: s.user, tls: s.tls}
	return nil
}

func (s *testSMTPSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.mail.to = append(s.mail.to, to)
	return nil
}

func (s *testSMTPSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.datas++
	if s.srv.opts.dataErr != nil {
		if err := s.srv.opts.dataErr(s.srv.datas); err != nil {
			return err
		}
	}
	s.mail.data = data
	s.srv.mails = append(s.srv.mails, s.mail)
	return nil
}

func (s *testSMTPSession) Reset()        { s.mail = receivedMail{} }
func (s *testSMTPSession) Logout() error { return nil }

func testEmailConfig(ts *testSMTPServer, mode EmailTLS) EmailConfig {
	return EmailConfig{
		Host: "127.0.0.1", Port: ts.port, TLS: mode, CAFile: ts.caFile,
		Username: "lifeboat", PasswordRef: "smtp-password",
		From: "Lifeboat <dr@example.com>", To: []string{"ops@example.com", "Équipe DBA <dba@example.com>"},
		Timeout: units.Duration(5 * time.Second),
	}
}

// parsedMail is a received email, read back with net/mail and mime/multipart.
type parsedMail struct {
	header     mail.Header
	subject    string
	text, html string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	p := parsedMail{header: msg.Header}
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q: want multipart/alternative (%v)", msg.Header.Get("Content-Type"), err)
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := parts.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		content := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.text = content
		case "text/html; charset=utf-8":
			p.html = content
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

func TestEmail(t *testing.T) {
	ts := newTestSMTPServer(t, smtpServerOptions{tls: "starttls", users: map[string]string{"lifeboat": "s3cret pass"}})
	e := NewEmail(testEmailConfig(ts, ""), StaticSecret([]byte("s3cret pass")))
	m := testMessage()
	m.Title = "Sauvegarde de « orders-db » échouée"
	m.Text = "pg_dump: <error> & more\n.\nA line with only a dot, above."

	ref, err := e.NotifyRef(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	mails := ts.received()
	if len(mails) != 1 {
		t.Fatalf("%d emails received, want 1", len(mails))
	}
	got := mails[0]
	if !got.tls || got.user != "lifeboat" || got.from != "dr@example.com" || strings.Join(got.to, ",") != "ops@example.com,dba@example.com" {
		t.Errorf("received %+v: want it over TLS, logged in, from dr@ to both recipients", got)
	}
	raw := string(got.data)
	if !strings.Contains(raw, "Subject: =?utf-8?q?") {
		t.Errorf("the non-ASCII subject is not encoded per RFC 2047:\n%s", raw)
	}
	p := parseMail(t, got.data)
	wantSubject, _ := Render(TemplateSubject, m)
	wantText, _ := Render(TemplateText, m)
	wantHTML, _ := Render(TemplateHTML, m)
	if p.subject != wantSubject {
		t.Errorf("subject = %q, want %q", p.subject, wantSubject)
	}
	if p.text != wantText {
		t.Errorf("text part = %q, want %q", p.text, wantText)
	}
	if p.html != wantHTML {
		t.Errorf("html part = %q, want %q", p.html, wantHTML)
	}
	if !strings.Contains(p.html, "pg_dump: &lt;error&gt; &amp; more") {
		t.Errorf("html part does not escape the text")
	}
	if date, err := p.header.Date(); err != nil || time.Since(date) > time.Minute {
		t.Errorf("Date %q: %v", p.header.Get("Date"), err)
	}
	if id := p.header.Get("Message-ID"); id != ref || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q, ref %q: want the same, on the sender's domain", id, ref)
	}
	if from, err := p.header.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Lifeboat" {
		t.Errorf("From %q: %v", p.header.Get("From"), err)
	}
	if to, err := p.header.AddressList("To"); err != nil || len(to) != 2 || to[1].Name != "Équipe DBA" {
		t.Errorf("To %q: %v", p.header.Get("To"), err)
	}
	if p.header.Get("Auto-Submitted") != "auto-generated" || p.header.Get("X-Lifeboat-Event") != "backup.failed" {
		t.Errorf("headers %v", p.header)
	}

	// The next email of the incident answers the first.
	m.Refs = map[string]string{e.Name(): ref}
	if _, err := e.NotifyRef(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	next := parseMail(t, ts.received()[1].data)
	if next.header.Get("In-Reply-To") != ref || next.header.Get("References") != ref || next.header.Get("Message-ID") == ref {
		t.Errorf("reply headers: In-Reply-To %q, References %q, Message-ID %q; want the first's id %q",
			next.header.Get("In-Reply-To"), next.header.Get("References"), next.header.Get("Message-ID"), ref)
	}
	if e.Name() != "email ops@example.com,dba@example.com" {
		t.Errorf("name = %q", e.Name())
	}
}

func TestEmailTLSModes(t *testing.T) {
	tests := []struct {
		name      string
		serverTLS string
		mode      EmailTLS
		noAuth    bool
		wantTLS   bool
	}{
		{name: "starttls", serverTLS: "starttls", mode: EmailStartTLS, wantTLS: true},
		{name: "implicit tls", serverTLS: "implicit", mode: EmailImplicitTLS, wantTLS: true},
		{name: "none, to a relay on localhost", serverTLS: "none", mode: EmailNoTLS, noAuth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := smtpServerOptions{tls: tt.serverTLS, users: map[string]string{"lifeboat": "pw"}}
			if tt.noAuth {
				opts.users = nil
			}
			ts := newTestSMTPServer(t, opts)
			cfg := testEmailConfig(ts, tt.mode)
			if tt.noAuth {
				cfg.Username, cfg.PasswordRef, cfg.CAFile = "", "", ""
			}
			if err := cfg.Validate("email"); err != nil {
				t.Fatal(err)
			}
			if err := NewEmail(cfg, StaticSecret([]byte("pw"))).Notify(context.Background(), testMessage()); err != nil {
				t.Fatal(err)
			}
			mails := ts.received()
			if len(mails) != 1 || mails[0].tls != tt.wantTLS {
				t.Fatalf("received %+v, want one email, over TLS: %v", mails, tt.wantTLS)
			}
			if p := parseMail(t, mails[0].data); p.text == "" || p.html == "" {
				t.Errorf("a part is empty: %+v", p)
			}
		})
	}
}

func TestEmailFailures(t *testing.T) {
	tests := []struct {
		name          string
		server        smtpServerOptions
		config        func(*EmailConfig)
		wantErr       []string
		wantPermanent bool
		wantAttempts  int
		wantReceived  int
	}{
		{
			name:          "starttls refuses a server without STARTTLS",
			server:        smtpServerOptions{tls: "none"},
			config:        func(c *EmailConfig) { c.Username, c.PasswordRef = "", "" },
			wantErr:       []string{"the server does not offer STARTTLS, and tls: starttls never sends in clear text"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "a certificate from an unknown CA is refused",
			server:        smtpServerOptions{tls: "starttls", users: map[string]string{"lifeboat": "pw"}},
			config:        func(c *EmailConfig) { c.CAFile = "" },
			wantErr:       []string{"certificate signed by unknown authority", "set ca_file"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "implicit tls: a certificate from an unknown CA is refused",
			server:        smtpServerOptions{tls: "implicit", users: map[string]string{"lifeboat": "pw"}},
			config:        func(c *EmailConfig) { c.CAFile, c.TLS = "", EmailImplicitTLS },
			wantErr:       []string{"certificate signed by unknown authority"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "a wrong password is permanent",
			server:        smtpServerOptions{tls: "starttls", users: map[string]string{"lifeboat": "other"}},
			wantErr:       []string{"login as lifeboat: SMTP 535 5.7.8 Authentication failed", "check the username and the password secret"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "a server that takes no login",
			server:        smtpServerOptions{tls: "starttls"},
			wantErr:       []string{"the server does not offer AUTH PLAIN"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name:          "a rejected recipient is permanent",
			server:        smtpServerOptions{tls: "starttls", users: map[string]string{"lifeboat": "pw"}},
			config:        func(c *EmailConfig) { c.To = append(c.To, "nobody@example.com") },
			wantErr:       []string{"recipient nobody@example.com: SMTP 550 5.1.1 no such user"},
			wantPermanent: true, wantAttempts: 1,
		},
		{
			name: "a 4xx reply is retried",
			server: smtpServerOptions{tls: "starttls", users: map[string]string{"lifeboat": "pw"}, dataErr: func(n int) error {
				if n == 1 {
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "queue full, try later"}
				}
				return nil
			}},
			wantAttempts: 2, wantReceived: 1,
		},
		{
			name: "4xx every time fails after the last try",
			server: smtpServerOptions{tls: "starttls", users: map[string]string{"lifeboat": "pw"}, dataErr: func(int) error {
				return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "closing"}
			}},
			wantErr:      []string{"attempt 3 of 3", "SMTP 421 4.3.0 closing"},
			wantAttempts: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestSMTPServer(t, tt.server)
			cfg := testEmailConfig(ts, "")
			if tt.config != nil {
				tt.config(&cfg)
			}
			e := NewEmail(cfg, StaticSecret([]byte("pw")))
			e.retry.Backoff = time.Millisecond
			attempts, err := countAttempts(context.Background(), func(ctx context.Context) error { return e.Notify(ctx, testMessage()) })
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("error: %v", err)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error = %v, want it to contain %q", err, want)
				}
			}
			if err != nil && IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v", IsPermanent(err), tt.wantPermanent)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error quotes the password: %v", err)
			}
			if attempts != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", attempts, tt.wantAttempts)
			}
			if n := len(ts.received()); n != tt.wantReceived {
				t.Errorf("%d emails received, want %d", n, tt.wantReceived)
			}
		})
	}
}

func TestEmailStopsWithItsContext(t *testing.T) {
	// A server that accepts connections and never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := EmailConfig{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, From: "dr@example.com", To: []string{"ops@example.com"}}
	e := NewEmail(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = e.Notify(ctx, testMessage())
	if !errors.Is(err, context.Canceled) || IsPermanent(err) {
		t.Fatalf("error = %v, want it cancelled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("took %s", elapsed)
	}
}

func TestEmailConfigValidate(t *testing.T) {
	err := EmailConfig{
		Host: "smtp://mail.example.com:587", Port: 70000, TLS: "none", CAFile: "/etc/ca.pem",
		Username: "u", From: "not an address", To: []string{"ok@example.com", "bad@"}, Attempts: 11,
		Filter: Filter{Events: []string{""}},
	}.Validate("email[0]")
	for _, want := range []string{
		`email[0].host: "smtp://mail.example.com:587" is not a host name`,
		"email[0].port: 70000 is not a port",
		"email[0].tls: none sends in clear text, which is allowed only for a relay on localhost",
		"email[0].ca_file: unused with tls: none",
		"email[0].password: required with username",
		`email[0].from: "not an address" is not an email address`,
		`email[0].to[1]: "bad@" is not an email address`,
		"email[0].attempts: 11",
		"email[0].events[0]: empty",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	for _, c := range []EmailConfig{
		{Host: "localhost", TLS: EmailNoTLS, From: "dr@example.com", To: []string{"ops@example.com"}},
		{Host: "::1", TLS: EmailNoTLS, From: "dr@example.com", To: []string{"ops@example.com"}},
		{Host: "smtp.example.com", Port: 465, TLS: EmailImplicitTLS, Username: "u", PasswordRef: "p", From: "Lifeboat <dr@example.com>", To: []string{"a@example.com"}},
	} {
		if err := c.Validate("email"); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := (EmailConfig{Host: "127.0.0.2", TLS: EmailNoTLS, From: "a@b.c", To: []string{"a@b.c"}}).Validate("e"); err != nil {
		t.Errorf("a loopback address is local: %v", err)
	}
	if got := (&Email{cfg: EmailConfig{Host: "h"}}).addr(); got != "h:587" {
		t.Errorf("default address %q", got)
	}
	if got := (&Email{cfg: EmailConfig{Host: "h", TLS: EmailImplicitTLS}}).addr(); got != "h:"+strconv.Itoa(465) {
		t.Errorf("default tls address %q", got)
	}
}
